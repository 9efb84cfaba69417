//! The function `setup` as a library: the flow, its handler and the hand-off to a fresh
//! invocation, so that a benchmark can drive it in-process; and the flow over AWS. `main.rs`
//! wires it to Lambda.

pub mod aws;
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
