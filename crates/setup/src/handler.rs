//! The Lambda handler: reads the CloudFormation custom resource request, runs the setup flow
//! within the invocation's time, and answers exactly once - SUCCESS, or FAILED with a reason a
//! person can act on - whatever happens (a bad request, a bad configuration, a failure, a
//! timeout, a panic).
//!
//! Time: the work gets the invocation's remaining time minus [`Timing::answer_margin`]; what
//! is still running then is abandoned (StackSet operations go on in AWS) and the answer is
//! FAILED, naming the step that was running and asking for a retry. Every step converges, so
//! the retry - an Update of the stack, or retrying the delete - finishes the work.
//!
//! [`Timing::answer_margin`]: crate::flow::Timing

use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use tokio::time::Instant;
use tower_core::Error;
use tower_core::custom_resource::{
    ReplyTo, Request, RequestType, Response, ResponseUrlPolicy, parse_request,
};

use crate::answer::{AnswerSlot, PANIC_REASON, Pending, answer_once};
use crate::flow::{Outputs, Ports, Progress, Run, Setup};
use crate::plan;

/// Whether the function can work, or can only say why not.
pub enum Mode<P: Ports> {
    Ready(Arc<Setup<P>>),
    /// The configuration is invalid: every request but a harmless Delete is answered FAILED
    /// with the problems.
    Misconfigured {
        problems: String,
        response_urls: ResponseUrlPolicy,
    },
}

/// The handler of `setup`.
pub struct Handler<P: Ports> {
    mode: Mode<P>,
    slot: Arc<AnswerSlot>,
}

impl<P: Ports> Handler<P> {
    /// A handler that keeps the request in progress in `slot` (shared with the panic hook).
    pub fn new(mode: Mode<P>, slot: Arc<AnswerSlot>) -> Self {
        Self { mode, slot }
    }

    /// One Lambda invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let remaining = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        self.handle_request(event.payload, Instant::now() + remaining)
            .await
            .map_err(Into::into)
    }

    /// Handles a request that must be answered before `deadline`. `Err` only when there is no
    /// one to answer (no reply address, or a `ResponseURL` the policy refuses) or the answer
    /// could not be delivered.
    pub async fn handle_request(&self, payload: Value, deadline: Instant) -> Result<Value, Error> {
        let policy = match &self.mode {
            Mode::Ready(setup) => &setup.config.response_urls,
            Mode::Misconfigured { response_urls, .. } => response_urls,
        };
        let reply_to = ReplyTo::from_value(&payload).inspect_err(|err| {
            tracing::error!(error = %err, "a request without a reply address cannot be answered");
        })?;
        let url = policy.check(&reply_to.response_url).inspect_err(|err| {
            tracing::error!(
                error = %err,
                request_id = %reply_to.request_id,
                stack_id = %reply_to.stack_id,
                "refusing to answer this request"
            );
        })?;
        self.slot.hold(Pending {
            url,
            reply_to: reply_to.clone(),
        });
        let response = match parse_request(&payload) {
            Err(err) => Response::failure_to(&reply_to, err.to_string()),
            Ok(request) => {
                tracing::info!(
                    operation = "custom-resource",
                    request_type = %request.request_type,
                    stack_id = %request.stack_id(),
                    logical_resource_id = %request.logical_resource_id(),
                    request_id = %request.request_id(),
                    physical_resource_id = ?request.physical_resource_id(),
                    "request received"
                );
                match &self.mode {
                    Mode::Misconfigured { problems, .. } => misconfigured(&request, problems),
                    Mode::Ready(setup) => run_in_time(setup.clone(), request, deadline).await,
                }
            }
        };
        let status = response.status.as_str();
        let answered = answer_once(&self.slot, &response).await?;
        Ok(json!({"status": status, "answered": answered}))
    }
}

/// Runs the flow in a task of its own (so that a panic there is seen here, in builds that
/// unwind) and gives it until `deadline` less the answer margin.
async fn run_in_time<P: Ports>(
    setup: Arc<Setup<P>>,
    request: Request,
    deadline: Instant,
) -> Response {
    let work_deadline = deadline
        .checked_sub(setup.timing.answer_margin)
        .unwrap_or_else(Instant::now);
    let run = Run {
        request_tag: request.request_id().to_owned(),
        deadline: work_deadline
            .checked_sub(setup.timing.wrap_up)
            .unwrap_or(work_deadline),
        progress: Progress::default(),
    };
    let task = tokio::spawn({
        let setup = setup.clone();
        let request = request.clone();
        let run = run.clone();
        async move { setup.serve(&request, &run).await }
    });
    let abort = task.abort_handle();
    let failed_physical_id = physical_id_after_changes(&setup, &request);
    match tokio::time::timeout_at(work_deadline, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(stopped)) => {
            tracing::error!(error = %stopped, "the setup flow stopped abnormally");
            Response::failure(&request, failed_physical_id.as_deref(), PANIC_REASON)
        }
        Err(_) => {
            abort.abort();
            let reason = timeout_reason(&request, &run.progress);
            tracing::error!(reason = %reason, "out of time");
            Response::failure(&request, failed_physical_id.as_deref(), reason)
        }
    }
}

/// The physical id to answer a failure with once changes may have been made: for a Create,
/// the installation's (so that the rollback's Delete removes what was made); otherwise the
/// request's own.
fn physical_id_after_changes<P: Ports>(setup: &Setup<P>, request: &Request) -> Option<String> {
    match request.request_type {
        RequestType::Create => Some(plan::physical_id(&setup.config.installation.prefix)),
        RequestType::Update | RequestType::Delete => None,
    }
}

fn timeout_reason(request: &Request, progress: &Progress) -> String {
    let running = progress.current().unwrap_or_else(|| "starting".to_owned());
    let done = progress.done();
    let done = if done.is_empty() {
        String::new()
    } else {
        format!(" Done before that: {}.", done.join("; "))
    };
    let retry = match request.request_type {
        RequestType::Delete => "retry the delete",
        RequestType::Create | RequestType::Update => "update the stack again",
    };
    format!(
        "setup ran out of time in this invocation while {running}.{done} What was started goes on in AWS and nothing is lost: {retry} once it has finished, and setup picks up where it stopped."
    )
}

fn misconfigured(request: &Request, problems: &str) -> Response {
    if request.request_type == RequestType::Delete {
        if let Some(id) = request.physical_resource_id() {
            if plan::prefix_of_physical_id(id).is_none() {
                return nothing_to_delete(request, id);
            }
        }
    }
    Response::failure(
        request,
        None,
        format!(
            "setup cannot run: its configuration (the function's environment, set from the stack's parameters) is wrong; nothing was changed. {problems}"
        ),
    )
}

fn nothing_to_delete(request: &Request, physical_id: &str) -> Response {
    let mut response = Response::success(request, physical_id, Outputs::new());
    response.reason = format!("nothing to delete: {physical_id} made nothing");
    response
}

impl<P: Ports> Setup<P> {
    /// Does what the request asks and says how it went.
    pub async fn serve(&self, request: &Request, run: &Run) -> Response {
        match request.request_type {
            RequestType::Create | RequestType::Update => {
                let physical_id = plan::physical_id(&self.config.installation.prefix);
                match self.converge(run).await {
                    Ok(outputs) => succeeded(request, &physical_id, outputs, &run.progress),
                    Err(err @ Error::Preflight(_)) => {
                        tracing::error!(error = %err, "preflight failed");
                        Response::failure(request, None, err.to_string())
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "setup failed");
                        let id =
                            (request.request_type == RequestType::Create).then_some(physical_id);
                        Response::failure(
                            request,
                            id.as_deref(),
                            failure_reason(&err, &run.progress),
                        )
                    }
                }
            }
            RequestType::Delete => {
                let physical_id = request.physical_resource_id().unwrap_or_default();
                let Some(prefix) = plan::prefix_of_physical_id(physical_id) else {
                    return nothing_to_delete(request, physical_id);
                };
                match self.delete(run, &prefix).await {
                    Ok(outputs) => succeeded(request, physical_id, outputs, &run.progress),
                    Err(err) => {
                        tracing::error!(error = %err, "delete failed");
                        Response::failure(request, Some(physical_id), err.to_string())
                    }
                }
            }
        }
    }
}

fn succeeded(
    request: &Request,
    physical_id: &str,
    outputs: Outputs,
    progress: &Progress,
) -> Response {
    let mut response = Response::success(request, physical_id, outputs);
    response.reason = format!(
        "{} succeeded: {}",
        request.request_type,
        progress.done().join("; ")
    );
    response
}

fn failure_reason(err: &Error, progress: &Progress) -> String {
    match progress.current() {
        Some(step) => {
            format!("{err} (while {step}; re-running converges: update the stack again to finish)")
        }
        None => err.to_string(),
    }
}
