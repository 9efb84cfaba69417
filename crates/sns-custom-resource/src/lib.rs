//! The function `sns-custom-resource` as a library: its handler, the drain and the reconcile,
//! so that a benchmark can drive them in-process. `main.rs` wires them to AWS and Lambda.

pub mod budget;
pub mod drain;
#[cfg(test)]
mod fakes;
pub mod function;
pub mod handler;
pub mod reconcile;
pub mod sns;
#[cfg(test)]
mod tests;
