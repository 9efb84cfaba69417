//! Test doubles of the product's ports, one in-memory double per port, with the rules of the
//! service they stand for, and a recorder of CloudFormation answers. Used only as a
//! dev-dependency: nothing here reaches a release binary.

pub mod log_archive;
pub mod organizations;
pub mod queues;
pub mod response_url;
pub mod secrets;
pub mod stack_sets;
