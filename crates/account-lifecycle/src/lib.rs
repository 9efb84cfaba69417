//! The function `account-lifecycle` as a library: its handler, so that a benchmark can drive
//! it in-process. `main.rs` wires it to AWS and Lambda.

#[cfg(test)]
mod fakes;
pub mod handler;
#[cfg(test)]
mod tests;
