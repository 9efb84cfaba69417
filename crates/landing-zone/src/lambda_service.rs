//! The Lambda service's Invoke API, for the invocations the functions start themselves:
//! `setup` hands work that outlasts one invocation to a fresh one (`InvocationType=Event`).
//! Functions get its address as `AWS_ENDPOINT_URL_LAMBDA`, so every other service still
//! goes to moto (whose Lambda knows nothing of the functions).
//!
//! `POST /2015-03-31/functions/{FunctionName}/invocations`, with the function's name, ARN or
//! partial ARN (a qualifier is accepted and ignored: there is one version, `$LATEST`):
//! * `X-Amz-Invocation-Type: Event`: 202 at once, then the function runs as Lambda runs an
//!   asynchronous invocation ([`runtime_api::invoke_async`]: a cold start, a failed attempt
//!   retried twice);
//! * `RequestResponse` (the default): the function runs and its answer is the response (with
//!   `X-Amz-Function-Error: Unhandled` when it failed);
//! * `DryRun`: 204.
//!
//! A function not run by this landing zone yet is unknown (404 `ResourceNotFoundException`):
//! the service runs the functions as [`LandingZone::function`] last described them.
//!
//! [`LandingZone::function`]: crate::LandingZone::function

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::Result;
use crate::loopback::LoopbackServer;
use crate::runtime_api::{self, FunctionSpec, Invoked};

/// One asynchronous invocation the service ran (each attempt of it).
#[derive(Debug, Clone)]
pub struct AsyncInvocation {
    pub payload: Value,
    pub attempts: Vec<Invoked>,
}

struct Shared {
    functions: Mutex<HashMap<String, FunctionSpec>>,
    finished: Mutex<Vec<AsyncInvocation>>,
    /// How many asynchronous invocations are accepted and not finished.
    running: watch::Sender<usize>,
}

impl Shared {
    fn spec(&self, function: &str) -> Option<FunctionSpec> {
        let name = function_name(function);
        self.functions.lock().ok()?.get(name).cloned()
    }
}

/// A Lambda Invoke API on a free loopback port; stops when dropped.
pub struct LambdaService {
    /// Its URL is the functions' `AWS_ENDPOINT_URL_LAMBDA`.
    pub server: LoopbackServer,
    shared: Arc<Shared>,
}

impl LambdaService {
    /// Starts the service on 127.0.0.1 and a free port.
    pub async fn start() -> Result<LambdaService> {
        let shared = Arc::new(Shared {
            functions: Mutex::default(),
            finished: Mutex::default(),
            running: watch::Sender::new(0),
        });
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(shared.clone());
        let server = LoopbackServer::start("lambda-service", app).await?;
        Ok(LambdaService { server, shared })
    }

    /// Makes `spec` the way its function runs when invoked through this service.
    pub fn describe(&self, spec: &FunctionSpec) {
        if let Ok(mut functions) = self.shared.functions.lock() {
            functions.insert(spec.function_name.clone(), spec.clone());
        }
    }

    /// The asynchronous invocations finished so far, in the order they finished.
    pub fn finished(&self) -> Vec<AsyncInvocation> {
        self.shared
            .finished
            .lock()
            .map(|finished| finished.clone())
            .unwrap_or_default()
    }

    /// Waits until no asynchronous invocation is running (including those they start), for
    /// at most `limit`; `false` if some still run then.
    pub async fn wait_until_idle(&self, limit: Duration) -> bool {
        let mut running = self.shared.running.subscribe();
        tokio::time::timeout(limit, running.wait_for(|count| *count == 0))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }
}

/// The function's name in a name, ARN or partial ARN, without a qualifier.
fn function_name(function: &str) -> &str {
    let name = match function.split_once("function:") {
        Some((_, after)) => after,
        None => function,
    };
    name.split(':').next().unwrap_or(name)
}

fn lambda_error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        [("x-amzn-ErrorType", kind.to_owned())],
        axum::Json(json!({"Type": "User", "Message": message})),
    )
        .into_response()
}

async fn invoke(
    State(shared): State<Arc<Shared>>,
    UrlPath(function): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(spec) = shared.spec(&function) else {
        return lambda_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {function}"),
        );
    };
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let payload: Value = match serde_json::from_slice(body) {
        Ok(payload) => payload,
        Err(err) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {err}"),
            );
        }
    };
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("RequestResponse");
    match invocation_type {
        "Event" => {
            shared.running.send_modify(|count| *count += 1);
            let shared = shared.clone();
            tokio::spawn(async move {
                // A binary that cannot even start leaves no attempt behind.
                let attempts = match runtime_api::invoke_async(&spec, &payload).await {
                    Ok((last, mut failed)) => {
                        failed.push(last);
                        failed
                    }
                    Err(_) => Vec::new(),
                };
                if let Ok(mut finished) = shared.finished.lock() {
                    finished.push(AsyncInvocation { payload, attempts });
                }
                shared.running.send_modify(|count| *count -= 1);
            });
            StatusCode::ACCEPTED.into_response()
        }
        "RequestResponse" => match runtime_api::invoke(&spec, payload).await {
            Ok(invoked) => match invoked.answer {
                runtime_api::Answer::Response { payload } => {
                    (StatusCode::OK, axum::Json(payload)).into_response()
                }
                runtime_api::Answer::Error {
                    error_type,
                    error_message,
                } => (
                    StatusCode::OK,
                    [("X-Amz-Function-Error", "Unhandled")],
                    axum::Json(json!({"errorType": error_type, "errorMessage": error_message})),
                )
                    .into_response(),
            },
            Err(err) => lambda_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                err.to_string(),
            ),
        },
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        other => lambda_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!(
                "X-Amz-Invocation-Type must be Event, RequestResponse or DryRun, not {other:?}"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_qualifiers_name_the_function() {
        for given in [
            "lacework-ct-setup",
            "lacework-ct-setup:live",
            "arn:aws:lambda:us-east-1:123456789012:function:lacework-ct-setup",
            "arn:aws:lambda:us-east-1:123456789012:function:lacework-ct-setup:$LATEST",
            "123456789012:function:lacework-ct-setup",
        ] {
            assert_eq!(function_name(given), "lacework-ct-setup", "{given}");
        }
    }

    #[tokio::test]
    async fn an_unknown_function_is_not_found_and_a_dry_run_is_accepted() {
        let service = LambdaService::start().await.unwrap();
        let client = reqwest::Client::new();
        let url = |name: &str| {
            format!(
                "{}/2015-03-31/functions/{name}/invocations",
                service.server.url()
            )
        };
        let unknown = client.post(url("nobody")).body("{}").send().await.unwrap();
        assert_eq!(unknown.status(), 404);
        assert_eq!(
            unknown.headers()["x-amzn-ErrorType"],
            "ResourceNotFoundException"
        );
        service.describe(&FunctionSpec {
            binary: "/nonexistent/setup".into(),
            function_name: "lacework-ct-setup".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:lacework-ct-setup".into(),
            env: Vec::new(),
            log: std::env::temp_dir().join("lambda-service-test.log"),
            timeout: Duration::from_secs(1),
        });
        let dry = client
            .post(url(
                "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alacework-ct-setup",
            ))
            .header("x-amz-invocation-type", "DryRun")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(dry.status(), 204);
        let bad = client
            .post(url("lacework-ct-setup"))
            .header("x-amz-invocation-type", "Event")
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        // An accepted event whose binary cannot start still finishes (and is recorded).
        let accepted = client
            .post(url("lacework-ct-setup"))
            .header("x-amz-invocation-type", "Event")
            .body(r#"{"a": 1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        assert!(service.wait_until_idle(Duration::from_secs(5)).await);
        let finished = service.finished();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].payload, json!({"a": 1}));
        assert!(finished[0].attempts.is_empty(), "the binary does not exist");
    }
}
