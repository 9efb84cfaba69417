//! The Lambda handler: reads the CloudFormation custom resource request, runs the setup flow
//! within the time it has, and answers exactly once - SUCCESS, or FAILED with a reason a
//! person can act on - whatever happens (a bad request, a bad configuration, a failure, a
//! timeout, a panic).
//!
//! Time: an invocation gives the work its remaining time less [`Timing::answer_margin`]. A
//! transient failure is tried again after a pause while that time lasts. Work still
//! unfinished when it ends - a StackSet operation still running, a service still failing -
//! is handed to a fresh invocation of this function with the same request
//! ([`continuation`]), which converges again from where the work is (every step converges)
//! and answers when it is done. Only when the stack itself would stop waiting (its
//! `ServiceTimeout`, counted from the first invocation) is the answer FAILED, naming the step
//! that was running and asking for a retry.
//!
//! [`Timing::answer_margin`]: crate::flow::Timing
//! [`continuation`]: lwct_domain::custom_resource::continuation

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::LambdaEvent;
use lwct_domain::Error;
use lwct_domain::custom_resource::continuation::{Continuation, service_timeout};
use lwct_domain::custom_resource::{Request, RequestType, Response, Status, parse_request};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::continuation::Invocations;
use crate::flow::{Outputs, Ports, Progress, Run, Setup};
use lwct_domain::setup_plan as plan;
use lwct_runtime::Failure;
use lwct_runtime::answer::{AnswerSlot, Reply, answer_once};

/// The reason CloudFormation gets when setup panics (answered by the panic hook) or its work
/// stops abnormally.
pub const PANIC_REASON: &str = "setup stopped on an internal error (a bug; its log has the details); nothing was left half-done that a retry cannot finish: retry the stack operation";

/// Whether the function can work, or can only say why not: with an invalid configuration,
/// every request but a harmless Delete is answered FAILED with the problems.
pub type Mode<P> = lwct_runtime::Mode<Setup<P>>;

/// The handler of `setup`.
pub struct Handler<P: Ports> {
    mode: Mode<P>,
    slot: Arc<AnswerSlot>,
}

/// The Lambda invocation serving a request.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// When Lambda stops it.
    pub deadline: Instant,
    /// When it started.
    pub started: SystemTime,
    /// The function's ARN as invoked: where unfinished work is handed on to.
    pub function_arn: String,
}

/// How one attempt at the work ended.
enum Attempt {
    /// With the answer to send.
    Finished(Response),
    /// Unfinished for now; `reason` says what was left and why. `transient` when it stopped
    /// on a failure worth trying again (rather than on running out of time).
    Unfinished { reason: String, transient: bool },
}

impl<P: Ports> Handler<P> {
    /// A handler that keeps the request in progress in `slot` (shared with the panic hook).
    pub fn new(mode: Mode<P>, slot: Arc<AnswerSlot>) -> Self {
        Self { mode, slot }
    }

    /// One Lambda invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Failure> {
        let invocation = Invocation {
            deadline: lwct_runtime::deadline(&event.context),
            started: SystemTime::now(),
            function_arn: event.context.invoked_function_arn.clone(),
        };
        self.handle_request(event.payload, &invocation)
            .await
            .map_err(Into::into)
    }

    /// Serves a request in `invocation`: answers it, or hands it on to a fresh invocation.
    /// `Err` only when there is no one to answer (no reply address, or a `ResponseURL` the
    /// policy refuses) or the answer could not be delivered.
    pub async fn handle_request(
        &self,
        payload: Value,
        invocation: &Invocation,
    ) -> Result<Value, Error> {
        let policy = match &self.mode {
            Mode::Ready(setup) => &setup.config.response_urls,
            Mode::Misconfigured { response_urls, .. } => response_urls,
        };
        let reply = Reply::of(&payload, policy).inspect_err(|err| {
            tracing::error!(error = %err, "this request cannot be answered");
        })?;
        let reply_to = reply.reply_to.clone();
        self.slot.hold(reply);
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
                    Mode::Misconfigured { problems, .. } => {
                        misconfigured(&request, &Error::Config(problems.clone()))
                    }
                    Mode::Ready(setup) => {
                        match serve_in_time(setup.clone(), &request, &payload, invocation).await {
                            Served::Answer(response) => response,
                            Served::HandedOn(to) => {
                                // The next invocation answers; this one must not, even
                                // from the panic hook.
                                self.slot.take();
                                return Ok(
                                    json!({"status": "CONTINUED", "answered": false, "handedTo": to}),
                                );
                            }
                        }
                    }
                }
            }
        };
        let status = response.status.as_str();
        let answered = answer_once(&self.slot, &response).await?;
        lwct_runtime::count(
            lwct_runtime::metrics::CUSTOM_RESOURCES_ANSWERED,
            usize::from(answered),
        );
        Ok(json!({"status": status, "answered": answered}))
    }
}

/// What an invocation did with its request.
enum Served {
    Answer(Response),
    /// Handed on to invocation number `.0`, which answers.
    HandedOn(u32),
}

/// Serves `request` within the time the invocation and the stack allow: tries again after a
/// transient failure while this invocation has time, then hands unfinished work on to a
/// fresh invocation while the stack still waits.
async fn serve_in_time<P: Ports>(
    setup: Arc<Setup<P>>,
    request: &Request,
    payload: &Value,
    invocation: &Invocation,
) -> Served {
    let read = Continuation::of_request(payload, invocation.started)
        .and_then(|continuation| Ok((continuation, service_timeout(request)?)));
    let (continuation, stack_waits) = match read {
        Ok(read) => read,
        Err(err) => return Served::Answer(Response::failure(request, None, err.to_string())),
    };
    let timing = setup.timing;
    let stack_deadline = instant_of(continuation.answer_due(stack_waits));
    let work_deadline = invocation
        .deadline
        .min(stack_deadline)
        .checked_sub(timing.answer_margin)
        .unwrap_or_else(Instant::now);
    if continuation.invocation > 1 {
        tracing::info!(
            invocation = continuation.invocation,
            request_id = %request.request_id(),
            "continuing the work of earlier invocations"
        );
    }
    let mut failures = 0;
    let reason = loop {
        let pause = timing.retry.delay(failures + 1);
        match attempt(setup.clone(), request, work_deadline).await {
            Attempt::Finished(mut response) => {
                if continuation.invocation > 1 && response.status == Status::Success {
                    response.reason = format!(
                        "{} (finished by invocation {} of this request)",
                        response.reason, continuation.invocation
                    );
                }
                return Served::Answer(response);
            }
            Attempt::Unfinished { reason, transient }
                if transient && Instant::now() + pause + timing.least_work < work_deadline =>
            {
                tracing::warn!(reason = %reason, pause_ms = pause.as_millis() as u64, "trying again after a pause");
                tokio::time::sleep(pause).await;
                failures += 1;
            }
            Attempt::Unfinished { reason, .. } => break reason,
        }
    };
    let failed_physical_id = physical_id_after_changes(&setup, request);
    // A fresh invocation is worth starting only if the stack waits long enough for it to
    // do some work and answer.
    if Instant::now() + timing.answer_margin + timing.least_work >= stack_deadline {
        tracing::error!(reason = %reason, "unfinished, and the stack stops waiting soon: answering FAILED");
        return Served::Answer(Response::failure(
            request,
            failed_physical_id.as_deref(),
            reason,
        ));
    }
    match hand_on(&setup, payload, &continuation, &invocation.function_arn).await {
        Ok(next) => {
            tracing::info!(
                operation = "lambda:Invoke",
                reason = %reason,
                function = %invocation.function_arn,
                next_invocation = next,
                "work unfinished in this invocation: handed on to a fresh one, which answers"
            );
            Served::HandedOn(next)
        }
        Err(err) => {
            tracing::error!(error = %err, reason = %reason, "could not hand the work on");
            Served::Answer(Response::failure(
                request,
                failed_physical_id.as_deref(),
                format!("{reason} (handing the rest to a fresh invocation failed: {err})"),
            ))
        }
    }
}

/// Starts the next invocation of `function` with the request and the next continuation
/// record, within [`Timing::hand_on`]; returns the next invocation's number.
///
/// [`Timing::hand_on`]: crate::flow::Timing
async fn hand_on<P: Ports>(
    setup: &Setup<P>,
    payload: &Value,
    continuation: &Continuation,
    function: &str,
) -> Result<u32, Error> {
    let next = continuation.next();
    let handed = next.attach_to(payload)?;
    let limit = setup.timing.hand_on;
    tokio::time::timeout(limit, setup.invocations.invoke_async(function, &handed))
        .await
        .map_err(|_| Error::Aws {
            operation: "lambda:Invoke".to_owned(),
            code: None,
            message: format!("no answer from Lambda within {} ms", limit.as_millis()),
            retryable: true,
        })??;
    Ok(next.invocation)
}

/// The [`Instant`] of a wall-clock time (now, if it has passed).
fn instant_of(time: SystemTime) -> Instant {
    Instant::now()
        + time
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
}

/// One attempt at the work, in a task of its own (so that a panic there is seen here, in
/// builds that unwind), stopped at `work_deadline` if still running.
async fn attempt<P: Ports>(
    setup: Arc<Setup<P>>,
    request: &Request,
    work_deadline: Instant,
) -> Attempt {
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
    match tokio::time::timeout_at(work_deadline, task).await {
        Ok(Ok(attempt)) => attempt,
        Ok(Err(stopped)) => {
            tracing::error!(error = %stopped, "the setup flow stopped abnormally");
            let id = physical_id_after_changes(&setup, request);
            Attempt::Finished(Response::failure(request, id.as_deref(), PANIC_REASON))
        }
        Err(_) => {
            abort.abort();
            let reason = timeout_reason(request, &run.progress);
            tracing::warn!(reason = %reason, "out of time in this invocation");
            Attempt::Unfinished {
                reason,
                transient: false,
            }
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
    let retry = retry_advice(request);
    format!(
        "setup ran out of time in this invocation while {running}.{done} What was started goes on in AWS and nothing is lost: {retry} once it has finished, and setup picks up where it stopped."
    )
}

fn misconfigured(request: &Request, problems: &Error) -> Response {
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
    /// Does what the request asks and says how it went: finished (with the answer), or
    /// unfinished on a transient failure.
    async fn serve(&self, request: &Request, run: &Run) -> Attempt {
        let (physical_id, done) = match request.request_type {
            RequestType::Create | RequestType::Update => {
                let physical_id = plan::physical_id(&self.config.installation.prefix);
                (physical_id, self.converge(run).await)
            }
            RequestType::Delete => {
                let physical_id = request.physical_resource_id().unwrap_or_default();
                let Some(prefix) = plan::prefix_of_physical_id(physical_id) else {
                    return Attempt::Finished(nothing_to_delete(request, physical_id));
                };
                (physical_id.to_owned(), self.delete(run, &prefix).await)
            }
        };
        match done {
            Ok(outputs) => {
                Attempt::Finished(succeeded(request, &physical_id, outputs, &run.progress))
            }
            Err(err @ Error::Preflight(_)) => {
                tracing::error!(error = %err, "preflight failed");
                Attempt::Finished(Response::failure(request, None, err.to_string()))
            }
            Err(err) => {
                // A Create's failure names the installation (its rollback's Delete removes what
                // was made), a Delete's the one it removes; an Update's keeps the request's own.
                let id = (request.request_type != RequestType::Update).then_some(physical_id);
                unfinished_or_failed(request, id.as_deref(), &err, &run.progress)
            }
        }
    }
}

/// A failure worth trying again leaves the work unfinished; any other is the answer.
fn unfinished_or_failed(
    request: &Request,
    physical_id: Option<&str>,
    err: &Error,
    progress: &Progress,
) -> Attempt {
    let reason = failure_reason(request, err, progress);
    if err.is_retryable() {
        tracing::warn!(error = %err, "setup stopped on a transient failure");
        Attempt::Unfinished {
            reason,
            transient: true,
        }
    } else {
        tracing::error!(error = %err, "setup failed");
        Attempt::Finished(Response::failure(request, physical_id, reason))
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

/// What finishes the work the request left unfinished.
fn retry_advice(request: &Request) -> &'static str {
    match request.request_type {
        RequestType::Delete => "retry the delete",
        RequestType::Create | RequestType::Update => "update the stack again",
    }
}

fn failure_reason(request: &Request, err: &Error, progress: &Progress) -> String {
    let retry = retry_advice(request);
    match progress.current() {
        Some(step) => {
            format!("{err} (while {step}; re-running converges: {retry} to finish)")
        }
        None => err.to_string(),
    }
}
