//! What the four Lambda functions share at run time.

pub mod delivery;
