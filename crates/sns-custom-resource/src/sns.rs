//! CloudFormation requests arriving through SNS: each `Records[].Sns.Message` is a custom
//! resource request of a member stack. Each is checked, its work queued, and answered exactly
//! once - or, when its `ResponseURL` fails the policy, not answered at all: an answer is never
//! sent to a URL the policy refuses (it could be a host of the publisher's choosing), so such a
//! request is logged and dropped, and nothing is queued for it.
//!
//! A valid request is answered SUCCESS as soon as its [`RegistrationWork`] is on the
//! registration queue; the Lacework registration happens later, when the drain gets to it
//! within its request budget. A request that fails a check is answered FAILED with the reason,
//! and nothing is queued.
//!
//! The checks here cost no AWS call: the request must be consistent (the stack, the account
//! and the role all in one account, ours to answer). Whether the account is an ACTIVE member
//! of the organization is the drain's check, against the organization tree it holds anyway:
//! work for an account that is not is dead-lettered with that reason (shown by `lwct
//! status`). Asking Organizations here too cost a `DescribeAccount` per member stack - one
//! AWS call per onboarded account - to say what the drain says a few minutes later, and the
//! topic policy already keeps publishers to this organization's accounts.

use lwct_aws::queue::send_all;
use lwct_domain::custom_resource::{ReplyTo, Request, Response, Status, parse_request};
use lwct_domain::member_request::{Asked, check, physical_resource_id};
use lwct_domain::registration::RegistrationWork;
use lwct_domain::{Error, Problem};
use lwct_runtime::answer::Reply;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::function::{Function, Ports};
use crate::handler::Mode;

/// The text of one SNS message and where it was in the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// For example `$.Records[0].Sns.Message`.
    pub path: String,
    pub text: &'a str,
}

/// Reads the SNS messages of a Lambda SNS event. A record that is not an SNS notification with
/// a text message is an error naming where.
///
/// The JSON is walked by hand rather than read into `aws_lambda_events`' `SnsEvent`: only the
/// message text matters here, and a problem must be reported with its place in the event.
pub fn messages(event: &Value) -> Result<Vec<Message<'_>>, Error> {
    let problem = |path: String, message: String| Error::Event(Problem::new(path, message));
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Err(problem(
            "$.Records".into(),
            "must be the array of SNS records".into(),
        ));
    };
    let mut found = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let at = format!("$.Records[{index}]");
        let source = record
            .get("EventSource")
            .or_else(|| record.get("eventSource"))
            .and_then(Value::as_str);
        if source != Some("aws:sns") {
            let hint = if source == Some("aws:sqs") {
                "; the registration queue is drained on a schedule, not by an SQS event source mapping (remove the mapping)"
            } else {
                ""
            };
            return Err(problem(
                format!("{at}.EventSource"),
                format!("must be \"aws:sns\", not {}{hint}", shown(source)),
            ));
        }
        match record.pointer("/Sns/Message").and_then(Value::as_str) {
            Some(text) => found.push(Message {
                path: format!("{at}.Sns.Message"),
                text,
            }),
            None => {
                return Err(problem(
                    format!("{at}.Sns.Message"),
                    "is missing or not a string; it carries the CloudFormation request".into(),
                ));
            }
        }
    }
    Ok(found)
}

fn shown(text: Option<&str>) -> String {
    match text {
        Some(text) => format!("{:?}", text.chars().take(40).collect::<String>()),
        None => "missing".to_owned(),
    }
}

/// What became of one request.
#[derive(Debug)]
pub enum Handled {
    /// The answer was delivered.
    Answered(Status),
    /// The request cannot be answered (unreadable, or its `ResponseURL` refused); why.
    NotAnswered(String),
    /// The answer could not be delivered.
    DeliveryFailed(Error),
}

/// Handles every request of an SNS event; an error only if an answer could not be delivered
/// (so that Lambda invokes again and the answer gets another chance).
pub async fn handle_event<P: Ports>(
    mode: &Mode<P>,
    event: &Value,
    deadline: Instant,
) -> Result<Value, Error> {
    let mut answered = Vec::new();
    let mut not_answered = 0;
    let mut undelivered = None;
    for message in messages(event)? {
        match handle_message(mode, &message, deadline).await {
            Handled::Answered(status) => answered.push(status.as_str()),
            Handled::NotAnswered(reason) => {
                tracing::warn!(
                    operation = "cloudformation:answer",
                    message = %message.path,
                    reason = %reason,
                    "request not answered"
                );
                not_answered += 1;
            }
            Handled::DeliveryFailed(error) => {
                tracing::error!(
                    operation = "cloudformation:answer",
                    message = %message.path,
                    error = %error,
                    "could not deliver the answer"
                );
                undelivered = Some(error);
            }
        }
    }
    if let Some(error) = undelivered {
        return Err(error);
    }
    lwct_runtime::count(
        lwct_runtime::metrics::CUSTOM_RESOURCES_ANSWERED,
        answered.len(),
    );
    Ok(json!({"answered": answered, "notAnswered": not_answered}))
}

/// Handles one request: reads its reply address, checks the `ResponseURL`, acts, answers.
pub async fn handle_message<P: Ports>(
    mode: &Mode<P>,
    message: &Message<'_>,
    deadline: Instant,
) -> Handled {
    let value: Value = match serde_json::from_str(message.text) {
        Ok(value) => value,
        Err(err) => {
            // serde's error gives a line and column, never the text itself.
            return Handled::NotAnswered(format!(
                "{}: is not a CloudFormation request: not JSON ({err})",
                message.path
            ));
        }
    };
    let policy = match mode {
        Mode::Ready(function) => &function.config.response_urls,
        Mode::Misconfigured { response_urls, .. } => response_urls,
    };
    let reply = match Reply::of(&value, policy) {
        Ok(reply) => reply,
        Err(err @ Error::ResponseUrl(_)) => {
            return Handled::NotAnswered(format!(
                "{err}; no answer is sent to a URL the policy refuses, and nothing was queued"
            ));
        }
        Err(err) => return Handled::NotAnswered(format!("{}: {err}", message.path)),
    };
    let reply_to = &reply.reply_to;
    let response = match mode {
        Mode::Misconfigured { problems, .. } => Response::failure_to(
            reply_to,
            format!(
                "sns-custom-resource cannot work: {}",
                Error::Config(problems.clone())
            ),
        ),
        Mode::Ready(function) => {
            let work_deadline = deadline
                .checked_sub(function.timing.answer_margin)
                .unwrap_or(deadline);
            match tokio::time::timeout_at(work_deadline, function.respond(&value, reply_to)).await {
                Ok(response) => response,
                Err(_) => Response::failure_to(
                    reply_to,
                    "timed out checking and queueing the registration; retry the stack operation",
                ),
            }
        }
    };
    match reply.answer(&response).await {
        Ok(()) => Handled::Answered(response.status),
        Err(err) => Handled::DeliveryFailed(err),
    }
}

impl<P: Ports> Function<P> {
    /// The answer to one request whose reply address is readable and allowed.
    pub async fn respond(&self, value: &Value, reply_to: &ReplyTo) -> Response {
        let request = match parse_request(value) {
            Ok(request) => request,
            Err(err) => return Response::failure_to(reply_to, err.to_string()),
        };
        let asked = match check(
            &request,
            &self.config.installation,
            &self.config.lacework.account,
        ) {
            Ok(asked) => asked,
            Err(problem) => return self.refuse(&request, problem.to_string()),
        };
        let work = match asked {
            Asked::Nothing => {
                tracing::info!(
                    operation = "cloudformation:Delete",
                    stack = %request.stack_id(),
                    "the Create of this resource failed; nothing to deregister"
                );
                let physical_id = request.reply_to.fallback_physical_id();
                return Response::success(&request, physical_id, Default::default());
            }
            Asked::Register { account, role_arn } => RegistrationWork::Register {
                account,
                role_arn,
                cause: cause(&request),
            },
            // A Delete is not refused for an account that left the organization or is being
            // closed: that is when deregistering matters most, and refusing would leave the
            // stack instance undeletable.
            Asked::Deregister { account } => RegistrationWork::Deregister {
                account,
                cause: cause(&request),
            },
        };
        let account = work.account();
        if let Err(err) = self.queue(&work).await {
            return self.refuse(
                &request,
                format!(
                    "could not queue the work for account {account} (nothing will be done): {err}; retry the stack operation"
                ),
            );
        }
        tracing::info!(
            operation = "sqs:SendMessageBatch",
            account = %account,
            request_type = %request.request_type,
            stack = %request.stack_id(),
            region = %self.config.installation.region,
            "registration work queued"
        );
        Response::success(&request, physical_resource_id(account), Default::default())
    }

    fn refuse(&self, request: &Request, reason: String) -> Response {
        tracing::warn!(
            operation = "cloudformation:answer",
            request_type = %request.request_type,
            stack = %request.stack_id(),
            reason = %reason,
            "request refused"
        );
        Response::failure(request, None, reason)
    }

    async fn queue(&self, work: &RegistrationWork) -> Result<(), Error> {
        let urls = self.queue_urls().await?;
        send_all(
            &self.queues,
            &urls.registration,
            &[work.to_message()],
            self.timing.queue_retry,
        )
        .await?;
        Ok(())
    }
}

/// Why the work was queued, for the drain's logs.
fn cause(request: &Request) -> String {
    let kind = request.request_type.as_str().to_ascii_lowercase();
    format!("custom-resource-{kind}:{}", request.stack_id())
}
