//! `lwct-domain`: the decisions every function of the Control Tower integration shares.
//!
//! Pure modules (no I/O): [`account`], [`event`], [`notification`], [`object_key`], [`mapping`],
//! [`naming`], [`external_id`], [`config`], [`custom_resource`] (but for its `delivery`, the
//! answer's PUT), [`registration`], [`lifecycle`], [`drain`], [`api_secret`]. The Lacework API
//! client ([`lacework`]) and, with the `aws` feature, the AWS adapters ([`aws`]) talk to the
//! network.

pub mod account;
pub mod api_secret;
pub mod backoff;
pub mod bucket_notifications;
pub mod config;
pub mod custom_resource;
pub mod drain;
pub mod error;
pub mod event;
pub mod external_id;
pub mod fate;
mod json;
pub mod lacework;
pub mod lifecycle;
pub mod mapping;
pub mod member_request;
pub mod naming;
pub mod notification;
pub mod object_key;
pub mod reconcile;
pub mod registration;
pub mod setup_plan;
pub mod stack_set;
pub mod status;
pub mod templates;
pub mod trail;

pub use account::AccountId;
pub use error::{Error, Problem, Result};
