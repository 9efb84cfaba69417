//! A small AWS Lambda Runtime API server, and invocation of a function binary under it, so that
//! the functions run locally exactly as they are built for AWS (their `lambda_runtime` loop
//! polls this server instead of Lambda's).
//!
//! Endpoints (under `/2018-06-01/runtime`): `GET invocation/next` (long poll; the event as the
//! body, with the `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` and
//! `Lambda-Runtime-Invoked-Function-Arn` headers), `POST invocation/{id}/response`,
//! `POST invocation/{id}/error` and `POST init/error`.
//!
//! Each invocation starts the binary afresh (a cold start), with a clean environment: the
//! variables Lambda sets, plus the function's own. Its stdout and stderr are appended to a log
//! file. A process that exits without answering, or does not answer before its deadline, gets
//! the error Lambda itself would report (`Runtime.ExitError`, `Sandbox.Timedout`).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use crate::error::{Error, Result};
use crate::loopback::{LoopbackServer, json_or_text};
use crate::process::{log_tail, open_log};

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Answer {
    /// The handler returned; its JSON (or, if not JSON, its text as a string).
    Response { payload: Value },
    /// The handler, the runtime or Lambda reported an error.
    Error {
        error_type: String,
        error_message: String,
    },
}

impl Answer {
    /// Whether the function answered without error.
    pub fn is_response(&self) -> bool {
        matches!(self, Answer::Response { .. })
    }
}

/// One event waiting for the function to ask for it.
#[derive(Debug, Clone)]
struct Invocation {
    request_id: String,
    event: Value,
    deadline_ms: u128,
    function_arn: String,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Invocation>>,
    arrived: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

impl Shared {
    fn answer(&self, request_id: &str, answer: Answer) -> bool {
        let sender = self
            .waiting
            .lock()
            .ok()
            .and_then(|mut waiting| waiting.remove(request_id));
        match sender {
            Some(sender) => sender.send(answer).is_ok(),
            None => false,
        }
    }

    /// An init error fails every invocation (the function never got to them).
    fn fail_all(&self, answer: &Answer) {
        let senders: Vec<_> = match self.waiting.lock() {
            Ok(mut waiting) => waiting.drain().map(|(_, sender)| sender).collect(),
            Err(_) => Vec::new(),
        };
        for sender in senders {
            let _ = sender.send(answer.clone());
        }
    }
}

/// A Runtime API server on a free loopback port; stops when dropped.
pub struct RuntimeApi {
    /// Its address is the value of `AWS_LAMBDA_RUNTIME_API`.
    pub server: LoopbackServer,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Starts the server on 127.0.0.1 and a free port.
    pub async fn start() -> Result<RuntimeApi> {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/{kind}",
                post(invocation_answer),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = LoopbackServer::start("runtime-api", app).await?;
        Ok(RuntimeApi { server, shared })
    }

    /// Queues `event` for the function; the receiver gets its answer.
    pub fn submit(
        &self,
        event: Value,
        function_arn: &str,
        timeout: Duration,
    ) -> (String, oneshot::Receiver<Answer>) {
        let request_id = random_request_id();
        let deadline = SystemTime::now() + timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_millis())
            .unwrap_or_default();
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut waiting) = self.shared.waiting.lock() {
            waiting.insert(request_id.clone(), sender);
        }
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.push_back(Invocation {
                request_id: request_id.clone(),
                event,
                deadline_ms,
                function_arn: function_arn.to_owned(),
            });
        }
        self.shared.arrived.notify_one();
        (request_id, receiver)
    }
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    loop {
        let next = shared
            .queue
            .lock()
            .ok()
            .and_then(|mut queue| queue.pop_front());
        if let Some(invocation) = next {
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", invocation.request_id);
            set(
                "lambda-runtime-deadline-ms",
                invocation.deadline_ms.to_string(),
            );
            set(
                "lambda-runtime-invoked-function-arn",
                invocation.function_arn,
            );
            set("content-type", "application/json".to_owned());
            return (StatusCode::OK, headers, invocation.event.to_string()).into_response();
        }
        // notify_one keeps a permit when nobody waits, so an event queued between the check
        // above and this wait is not missed.
        shared.arrived.notified().await;
    }
}

/// `POST invocation/{id}/response` or `POST invocation/{id}/error`.
async fn invocation_answer(
    State(shared): State<Arc<Shared>>,
    UrlPath((id, kind)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = match kind.as_str() {
        "response" => Answer::Response {
            payload: json_or_text(&body),
        },
        "error" => error_answer(&headers, &body),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    accepted_if(shared.answer(&id, answer))
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.fail_all(&error_answer(&headers, &body));
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// 202 for a known request id, 400 (as Lambda) for an unknown or already answered one.
fn accepted_if(known: bool) -> Response {
    if known {
        (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "errorType": "InvalidRequestID",
                "errorMessage": "unknown or already answered request id"
            })),
        )
            .into_response()
    }
}

/// An error body `{"errorType", "errorMessage"}`; the type may also come in the
/// `Lambda-Runtime-Function-Error-Type` header.
fn error_answer(headers: &HeaderMap, body: &[u8]) -> Answer {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Answer::Error {
        error_type: text("errorType")
            .or(header_type)
            .unwrap_or_else(|| "Unknown".to_owned()),
        error_message: text("errorMessage")
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

/// A random id shaped like Lambda's request ids (a UUID).
pub fn random_request_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the clock still makes ids unique enough for one local run.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    let n = u128::from_be_bytes(bytes);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        n >> 96,
        (n >> 80) & 0xffff,
        (n >> 64) & 0xffff,
        (n >> 48) & 0xffff,
        n & 0xffff_ffff_ffff
    )
}

/// A function binary and how Lambda would run it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The binary (`target/debug/setup`).
    pub binary: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_NAME`, such as `lacework-ct-setup`.
    pub function_name: String,
    /// The function's ARN (the `Lambda-Runtime-Invoked-Function-Arn` header).
    pub function_arn: String,
    /// The function's environment, besides what Lambda sets (region, endpoint, credentials,
    /// configuration).
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr are appended.
    pub log: PathBuf,
    /// The function's timeout; the invocation's deadline is this far from its start.
    pub timeout: Duration,
}

/// The outcome of one invocation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoked {
    pub request_id: String,
    pub answer: Answer,
    pub duration_ms: u128,
    /// The process's peak resident memory (Linux `VmHWM`): Lambda's "Max Memory Used". `None`
    /// when the process had exited before it could be read.
    pub max_memory_kib: Option<u64>,
    /// The function's log file.
    pub log: PathBuf,
}

/// Runs `event` through the function: starts a Runtime API server and the binary, hands it
/// the event, and returns its answer. The process is stopped afterwards.
pub async fn invoke(spec: &FunctionSpec, event: Value) -> Result<Invoked> {
    let name = spec.function_name.as_str();
    if !spec.binary.is_file() {
        return Err(Error::process(
            name,
            format!(
                "{} is missing; build the functions first (cargo build --workspace --bins)",
                spec.binary.display()
            ),
        ));
    }
    let api = RuntimeApi::start().await?;
    let (request_id, answered) = api.submit(event, &spec.function_arn, spec.timeout);
    let mut log = open_log(&spec.log)?;
    let _ = writeln!(log, "=== START RequestId: {request_id} Version: $LATEST");
    let errors = log.try_clone().map_err(|err| Error::file(&spec.log, err))?;
    let mut command = tokio::process::Command::new(&spec.binary);
    command
        .env_clear()
        .envs(lambda_environment(
            spec,
            &api.server.address.to_string(),
            &request_id,
        ))
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(errors)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|err| Error::process(name, format!("cannot start: {err}")))?;
    let started = Instant::now();
    // Lambda stops the function at its deadline; a little grace covers the answer's trip.
    let deadline = tokio::time::sleep(spec.timeout + Duration::from_secs(1));
    let answer = tokio::select! {
        answered = answered => match answered {
            Ok(answer) => answer,
            Err(_) => Answer::Error {
                error_type: "Runtime.Unknown".to_owned(),
                error_message: "the Runtime API server stopped before the function answered".to_owned(),
            },
        },
        exited = child.wait() => Answer::Error {
            error_type: "Runtime.ExitError".to_owned(),
            error_message: format!(
                "the function process exited ({}) before answering; its log ({}) ends with:\n{}",
                exited.map(|status| status.to_string()).unwrap_or_else(|err| err.to_string()),
                spec.log.display(),
                log_tail(&spec.log, 20)
            ),
        },
        () = deadline => Answer::Error {
            error_type: "Sandbox.Timedout".to_owned(),
            error_message: format!("Task timed out after {:.2} seconds", spec.timeout.as_secs_f64()),
        },
    };
    let duration_ms = started.elapsed().as_millis();
    let max_memory_kib = child.id().and_then(peak_resident_kib);
    // The function is done with this event; Lambda would freeze it, we stop it.
    let _ = child.kill().await;
    // Lambda's own closing line, with what it reports of the invocation.
    let memory = max_memory_kib
        .map(|kib| format!("\tMax Memory Used: {} MB", kib.div_ceil(1024)))
        .unwrap_or_default();
    if let Ok(mut log) = open_log(&spec.log) {
        let _ = writeln!(
            log,
            "REPORT RequestId: {request_id}\tDuration: {duration_ms} ms{memory}"
        );
    }
    Ok(Invoked {
        request_id,
        answer,
        duration_ms,
        max_memory_kib,
        log: spec.log.clone(),
    })
}

/// How many times Lambda tries an asynchronous invocation by default: once and two retries.
pub const ASYNC_ATTEMPTS: usize = 3;

/// Runs `event` through the function as Lambda runs an asynchronous invocation: a failed
/// attempt is tried again, up to [`ASYNC_ATTEMPTS`] in all (without Lambda's minutes between
/// them). Returns the last attempt and the failed ones before it; `Err` if the binary cannot
/// be run at all.
pub async fn invoke_async(spec: &FunctionSpec, event: &Value) -> Result<(Invoked, Vec<Invoked>)> {
    let mut failed = Vec::new();
    loop {
        let invoked = invoke(spec, event.clone()).await?;
        if invoked.answer.is_response() || failed.len() + 1 >= ASYNC_ATTEMPTS {
            return Ok((invoked, failed));
        }
        failed.push(invoked);
    }
}

/// The peak resident memory of process `pid`, from `/proc/<pid>/status` (Linux only).
fn peak_resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

/// The variables Lambda sets for a function (those `lambda_runtime` requires among them).
fn lambda_environment(
    spec: &FunctionSpec,
    runtime_api: &str,
    request_id: &str,
) -> Vec<(String, String)> {
    let name = &spec.function_name;
    let pairs = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/[$LATEST]{request_id}"),
        ),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_rust".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
    ];
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the lambda_runtime client by hand: next, then response or error.
    async fn poll_next(client: &reqwest::Client, base: &str) -> (String, HeaderMap, Value) {
        let response = client
            .get(format!("{base}/2018-06-01/runtime/invocation/next"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            headers.insert(name.clone(), value.clone());
        }
        let id = headers["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        (id, headers, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn hands_out_events_and_collects_responses_and_errors() {
        let api = RuntimeApi::start().await.unwrap();
        let base = api.server.url();
        let client = reqwest::Client::new();
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
        let (first, first_answer) = api.submit(json!({"n": 1}), arn, Duration::from_secs(60));
        let (second, second_answer) = api.submit(json!({"n": 2}), arn, Duration::from_secs(60));

        let (id, headers, event) = poll_next(&client, &base).await;
        assert_eq!(id, first);
        assert_eq!(event, json!({"n": 1}));
        assert_eq!(headers["lambda-runtime-invoked-function-arn"], arn);
        let deadline: u128 = headers["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            deadline > now + 50_000 && deadline <= now + 60_000,
            "{deadline} vs {now}"
        );
        let posted = client
            .post(format!(
                "{base}/2018-06-01/runtime/invocation/{id}/response"
            ))
            .body("{\"ok\":true}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        assert_eq!(
            first_answer.await.unwrap(),
            Answer::Response {
                payload: json!({"ok": true})
            }
        );

        let (id, _, event) = poll_next(&client, &base).await;
        assert_eq!((id.as_str(), event), (second.as_str(), json!({"n": 2})));
        let posted = client
            .post(format!("{base}/2018-06-01/runtime/invocation/{id}/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Handler.Bad")
            .body("{\"errorType\":\"Bad\",\"errorMessage\":\"it broke\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        assert_eq!(
            second_answer.await.unwrap(),
            Answer::Error {
                error_type: "Bad".to_owned(),
                error_message: "it broke".to_owned()
            }
        );

        // A second answer to the same request is refused, as Lambda does.
        let again = client
            .post(format!(
                "{base}/2018-06-01/runtime/invocation/{id}/response"
            ))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 400);
    }

    #[tokio::test]
    async fn next_waits_for_an_event() {
        let api = RuntimeApi::start().await.unwrap();
        let base = api.server.url();
        let client = reqwest::Client::new();
        let poll = tokio::spawn({
            let client = client.clone();
            let base = base.clone();
            async move { poll_next(&client, &base).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!poll.is_finished());
        let (id, _answer) = api.submit(json!("late"), "arn", Duration::from_secs(5));
        let (polled, _, event) = poll.await.unwrap();
        assert_eq!((polled, event), (id, json!("late")));
    }

    #[tokio::test]
    async fn an_init_error_fails_the_waiting_invocation() {
        let api = RuntimeApi::start().await.unwrap();
        let base = api.server.url();
        let (_, answer) = api.submit(json!({}), "arn", Duration::from_secs(5));
        reqwest::Client::new()
            .post(format!("{base}/2018-06-01/runtime/init/error"))
            .body(
                "{\"errorType\":\"Runtime.Config\",\"errorMessage\":\"LACEWORK_URL: is required\"}",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.await.unwrap(),
            Answer::Error {
                error_type: "Runtime.Config".to_owned(),
                error_message: "LACEWORK_URL: is required".to_owned()
            }
        );
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = random_request_id();
        let lengths: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12]);
        assert_ne!(id, random_request_id());
    }
}
