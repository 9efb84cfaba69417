//! The Lambda handler: tells the three triggers apart and hands each to its flow.
//!
//! * A Lambda SNS event (`Records[].Sns.Message`): CloudFormation requests of the member
//!   stacks' custom resource, answered exactly once each ([`crate::sns`]).
//! * An EventBridge scheduled event (`"detail-type": "Scheduled Event"`): "drain now" - one run
//!   of the paced registration drain ([`crate::drain`]).
//! * The reconcile's schedule (`{"action": "reconcile"}`): one reconcile ([`crate::reconcile`]).

use lambda_runtime::LambdaEvent;
use lwct_domain::{Error, Problem};
use lwct_runtime::Failure;
use serde_json::Value;
use tokio::time::Instant;

use crate::function::{Function, Ports};
use crate::sns;

/// `detail-type` of an EventBridge schedule's events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// The input of the reconcile's schedule (`{"action": "reconcile"}`).
pub const RECONCILE_ACTION: &str = "reconcile";

/// Whether the function can work, or can only say why not: with an invalid configuration,
/// every request is answered FAILED with the problems, and a drain run fails with them.
pub type Mode<P> = lwct_runtime::Mode<Function<P>>;

/// What started the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Sns,
    Schedule,
    /// The reconcile's schedule: find what events missed, queue the work that repairs it.
    Reconcile,
}

/// Tells the triggers apart; anything else is an error naming what was expected.
pub fn trigger(event: &Value) -> Result<Trigger, Error> {
    if event.get("Records").is_some() {
        return Ok(Trigger::Sns);
    }
    if event.get("action").and_then(Value::as_str) == Some(RECONCILE_ACTION) {
        return Ok(Trigger::Reconcile);
    }
    match event.get("detail-type").and_then(Value::as_str) {
        Some(SCHEDULED_EVENT) => Ok(Trigger::Schedule),
        other => Err(Error::Event(Problem::new(
            if other.is_some() {
                "$.detail-type"
            } else {
                "$"
            },
            format!(
                "is neither an SNS event (Records[].Sns.Message) nor an EventBridge scheduled event (\"detail-type\": {SCHEDULED_EVENT:?}){}",
                other.map_or_else(String::new, |kind| format!(
                    "; got detail-type {:?}",
                    kind.chars().take(60).collect::<String>()
                ))
            ),
        ))),
    }
}

/// The handler of `sns-custom-resource`.
pub struct Handler<P: Ports> {
    mode: Mode<P>,
}

impl<P: Ports> Handler<P> {
    pub fn new(mode: Mode<P>) -> Self {
        Self { mode }
    }

    /// One Lambda invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Failure> {
        let deadline = lwct_runtime::deadline(&event.context);
        // Boxed: the SDK and Lacework calls below nest so deep that, inlined into the
        // runtime's future, they pass the compiler's limit for computing its layout.
        Box::pin(self.handle_payload(&event.payload, deadline))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "invocation failed");
                err.into()
            })
    }

    /// Handles an event that must be done with before `deadline`.
    pub async fn handle_payload(&self, payload: &Value, deadline: Instant) -> Result<Value, Error> {
        match trigger(payload)? {
            Trigger::Sns => sns::handle_event(&self.mode, payload, deadline).await,
            Trigger::Reconcile => match &self.mode {
                Mode::Ready(function) => Ok(function.reconcile().await?.to_json()),
                Mode::Misconfigured { problems, .. } => Err(Error::Config(problems.clone())),
            },
            Trigger::Schedule => match &self.mode {
                Mode::Ready(function) => Ok(function.drain(deadline).await?.to_json()),
                Mode::Misconfigured { problems, .. } => Err(Error::Config(problems.clone())),
            },
        }
    }
}
