//! The onboarding benchmark (`make bench`): what onboarding N existing accounts costs.
//!
//! The real handlers run in-process - `account-lifecycle` on the batches `setup` queues,
//! `sns-custom-resource` on each member stack's registration request and, on its five-minute
//! schedule, the registration drain - over the test kit's in-memory AWS ports, counted as the
//! real adapters would call AWS ([`counted`]), and the Lacework emulator with Lacework's rate
//! limit, whose clock jumps five minutes between drain runs ([`onboarding`]).
//!
//! The setup benchmark: `setup`'s own run - the custom resource's `Create` that queues those
//! N accounts - through its real handler with Lambda's deadline ([`setup`]).

pub mod counted;
pub mod onboarding;
pub mod setup;
pub mod sizes;
