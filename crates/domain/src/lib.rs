//! `lwct-domain`: the decisions every function of the Control Tower integration shares, with no
//! I/O: no tokio, HTTP client or AWS SDK in its dependency tree.
//!
//! Inputs read and checked: [`event`], [`notification`], [`object_key`], [`config`],
//! [`custom_resource`], [`api_secret`], [`mapping`]. Names and ids: [`account`], [`naming`],
//! [`external_id`]. Each flow's plan: [`setup_plan`], [`lifecycle`], [`registration`],
//! [`drain`], [`reconcile`], [`status`], with [`stack_set`], [`bucket_notifications`],
//! [`member_request`], [`trail`] and [`templates`]; what becomes of a queue message: [`fate`],
//! [`backoff`]; every problem: [`error`]. Lacework API v2 as data: [`lacework`]. The adapters that
//! talk to the network are the `lwct-aws` and `lwct-lacework` crates.

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
