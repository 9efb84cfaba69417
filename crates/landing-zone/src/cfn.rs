//! CloudFormation's part of the custom resource protocol, which moto cannot play: the harness
//! builds the request, points its `ResponseURL` at its own loopback listener
//! (`http://127.0.0.1:PORT/cfn-response/<id>`), invokes the function, and waits for the PUT -
//! also when it comes from a fresh invocation the function handed the work to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::lambda_service::LambdaService;
use crate::loopback::{LoopbackServer, json_or_text};
use crate::runtime_api::{FunctionSpec, Invoked, invoke, random_request_id};

/// How long to wait for the PUT once the function has finished (it should have answered
/// before returning; this covers the answer's trip).
const ANSWER_GRACE: Duration = Duration::from_secs(3);

/// The most time the invocations a function hands a request on to may take, together (the
/// stack's longest wait).
const HANDED_ON_LIMIT: Duration = Duration::from_secs(3600);

/// One PUT received on the listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedResponse {
    /// The answer (`{Status, Reason, PhysicalResourceId, ...}`), or its text if not JSON.
    pub body: Value,
    /// The `Content-Type` sent (CloudFormation's pre-signed URLs want none or an empty one).
    pub content_type: Option<String>,
}

type Received = Arc<Mutex<HashMap<String, Vec<ReceivedResponse>>>>;

/// The loopback listener that stands in for the pre-signed S3 `ResponseURL`; stops when
/// dropped.
pub struct ResponseListener {
    /// Its address is the entry the functions need in `TOWER_RESPONSE_URL_ALLOW`.
    pub server: LoopbackServer,
    received: Received,
}

impl ResponseListener {
    /// Listens on 127.0.0.1 and a free port.
    pub async fn start() -> Result<ResponseListener> {
        let received = Received::default();
        let app = Router::new()
            .route("/cfn-response/{id}", put(receive))
            .with_state(received.clone());
        let server = LoopbackServer::start("cfn-response", app).await?;
        Ok(ResponseListener { server, received })
    }

    /// The `ResponseURL` for request `id`.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/cfn-response/{id}", self.server.url())
    }

    /// The request id in `url` if it is one of this listener's `ResponseURL`s.
    pub fn answer_id_of(&self, url: &str) -> Option<String> {
        url.strip_prefix(&format!("{}/cfn-response/", self.server.url()))
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .map(str::to_owned)
    }

    /// The answers received so far for `id`.
    pub fn received(&self, id: &str) -> Vec<ReceivedResponse> {
        self.received
            .lock()
            .ok()
            .and_then(|received| received.get(id).cloned())
            .unwrap_or_default()
    }

    /// Waits until an answer for `id` arrives or `timeout` passes; returns what arrived.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Vec<ReceivedResponse> {
        let started = Instant::now();
        loop {
            let received = self.received(id);
            if !received.is_empty() || started.elapsed() >= timeout {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(
    State(received): State<Received>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let body = json_or_text(&body);
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if let Ok(mut received) = received.lock() {
        received
            .entry(id)
            .or_default()
            .push(ReceivedResponse { body, content_type });
    }
    // S3 answers a pre-signed PUT with 200 and an empty body.
    StatusCode::OK
}

/// What a custom resource request came to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceOutcome {
    /// The first answer PUT to the `ResponseURL`, if any.
    pub response: Option<Value>,
    /// How many answers arrived (a handler must answer exactly once).
    pub answers_received: usize,
    /// The `Content-Type` of the first answer.
    pub content_type: Option<String>,
    /// The function's own invocation result.
    pub invocation: Invoked,
    /// The invocations the function started itself to finish the request (each attempt),
    /// in the order they finished.
    pub handed_on: Vec<Invoked>,
}

impl CustomResourceOutcome {
    /// `SUCCESS`, `FAILED`, or `None` without an answer.
    pub fn status(&self) -> Option<&str> {
        self.response.as_ref()?.get("Status")?.as_str()
    }

    /// The answer's `Reason` (empty when absent).
    pub fn reason(&self) -> &str {
        self.response
            .as_ref()
            .and_then(|response| response.get("Reason"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The answer's `PhysicalResourceId`.
    pub fn physical_resource_id(&self) -> Option<&str> {
        self.response.as_ref()?.get("PhysicalResourceId")?.as_str()
    }
}

/// Delivers a custom resource `request` to the function as CloudFormation would: its
/// `ResponseURL` replaced by the listener's, the function invoked, the answer awaited - after
/// the invocations the function hands the work on to through `lambda`, if it does.
pub async fn deliver(
    listener: &ResponseListener,
    function: &FunctionSpec,
    lambda: &LambdaService,
    mut request: Value,
) -> Result<CustomResourceOutcome> {
    if !request.is_object() {
        return Err(Error::Usage(
            "$: a custom resource request must be a JSON object".to_owned(),
        ));
    }
    let answer_id = random_request_id();
    request["ResponseURL"] = json!(listener.response_url(&answer_id));
    let earlier = lambda.finished().len();
    let invocation = invoke(function, request).await?;
    if !lambda.wait_until_idle(HANDED_ON_LIMIT).await {
        return Err(Error::process(
            &function.function_name,
            format!(
                "the invocations it started itself still ran after {} s",
                HANDED_ON_LIMIT.as_secs()
            ),
        ));
    }
    let handed_on = lambda
        .finished()
        .into_iter()
        .skip(earlier)
        .flat_map(|handed| handed.attempts)
        .collect();
    let mut outcome = collect(listener, Some(&answer_id), invocation).await;
    outcome.handed_on = handed_on;
    Ok(outcome)
}

/// The answers that arrived for `answer_id` after `invocation` (none without an id: the
/// answer was not to come to the listener).
pub async fn collect(
    listener: &ResponseListener,
    answer_id: Option<&str>,
    invocation: Invoked,
) -> CustomResourceOutcome {
    let mut received = Vec::new();
    if let Some(id) = answer_id {
        received = listener.wait(id, ANSWER_GRACE).await;
        if !received.is_empty() {
            // A second answer would arrive right behind the first: give it a moment to show.
            tokio::time::sleep(Duration::from_millis(200)).await;
            received = listener.received(id);
        }
    }
    let first = received.first();
    CustomResourceOutcome {
        response: first.map(|answer| answer.body.clone()),
        answers_received: received.len(),
        content_type: first.and_then(|answer| answer.content_type.clone()),
        invocation,
        handed_on: Vec::new(),
    }
}

/// Where a custom resource request comes from: the stack, the resource and the function.
#[derive(Debug, Clone)]
pub struct CustomResource {
    /// `arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>`.
    pub stack_id: String,
    pub logical_resource_id: String,
    /// `Custom::...`.
    pub resource_type: String,
    /// The function's ARN (`ServiceToken`).
    pub service_token: String,
}

impl CustomResource {
    /// A request of `request_type` (`Create`, `Update`, `Delete`) with `properties` (the
    /// `ServiceToken` is added); Update and Delete carry the `physical_resource_id` the
    /// resource got at Create. The `ResponseURL` is set on delivery.
    pub fn request(
        &self,
        request_type: &str,
        physical_resource_id: Option<&str>,
        properties: Value,
    ) -> Value {
        let mut properties = if properties.is_object() {
            properties
        } else {
            json!({})
        };
        properties["ServiceToken"] = json!(self.service_token);
        let mut request = json!({
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": "",
            "StackId": self.stack_id,
            "RequestId": random_request_id(),
            "LogicalResourceId": self.logical_resource_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": properties,
        });
        if let Some(id) = physical_resource_id {
            request["PhysicalResourceId"] = json!(id);
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_listener_records_each_put() {
        let listener = ResponseListener::start().await.unwrap();
        let url = listener.response_url("abc");
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/cfn-response/abc"));
        assert!(
            listener
                .wait("abc", Duration::from_millis(100))
                .await
                .is_empty()
        );
        let client = reqwest::Client::new();
        for status in ["SUCCESS", "FAILED"] {
            let sent = client
                .put(&url)
                .header("content-type", "")
                .body(json!({"Status": status}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(sent.status(), 200);
        }
        let received = listener.wait("abc", Duration::from_secs(1)).await;
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].body, json!({"Status": "SUCCESS"}));
        assert_eq!(received[0].content_type.as_deref(), Some(""));
        assert!(listener.received("other").is_empty());
    }

    #[test]
    fn requests_carry_what_cloudformation_sends() {
        let resource = CustomResource {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".to_owned(),
            logical_resource_id: "LaceworkSetup".to_owned(),
            resource_type: "Custom::LaceworkSetup".to_owned(),
            service_token: "arn:aws:lambda:us-east-1:123456789012:function:f".to_owned(),
        };
        let create = resource.request("Create", None, json!({"A": "1"}));
        assert_eq!(create["RequestType"], "Create");
        assert_eq!(create["ResourceProperties"]["A"], "1");
        assert_eq!(
            create["ResourceProperties"]["ServiceToken"],
            resource.service_token
        );
        assert!(create.get("PhysicalResourceId").is_none());
        let delete = resource.request("Delete", Some("p-1"), Value::Null);
        assert_eq!(delete["PhysicalResourceId"], "p-1");
        assert_ne!(create["RequestId"], delete["RequestId"]);
    }
}
