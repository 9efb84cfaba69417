//! The function `setup` as a library: the flow, its handler and the hand-off to a fresh
//! invocation, so that a benchmark can drive it in-process. `main.rs` wires it to AWS and
//! Lambda.

pub mod continuation;
mod converge;
#[cfg(test)]
mod fakes;
pub mod flow;
pub mod handler;
pub mod onboarding;
mod preflight;
mod teardown;
#[cfg(test)]
mod tests;
