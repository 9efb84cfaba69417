//! CloudFormation's side of a custom resource: a loopback HTTP listener standing for the
//! pre-signed `ResponseURL`, which records every answer it is sent.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;

/// An answer CloudFormation would have received.
#[derive(Debug, Clone)]
pub struct Answer {
    pub method: Method,
    pub path: String,
    pub content_type: Option<String>,
    /// The body as JSON (`null` when it was not JSON).
    pub body: Value,
}

impl Answer {
    pub fn status(&self) -> &str {
        self.body["Status"].as_str().unwrap_or_default()
    }

    pub fn reason(&self) -> &str {
        self.body["Reason"].as_str().unwrap_or_default()
    }

    pub fn physical_id(&self) -> &str {
        self.body["PhysicalResourceId"].as_str().unwrap_or_default()
    }
}

type Answers = Arc<Mutex<Vec<Answer>>>;

/// Records every request sent to it, answering 200.
pub struct ResponseUrlRecorder {
    port: u16,
    answers: Answers,
}

impl ResponseUrlRecorder {
    /// Listens on a free loopback port until the test's runtime ends.
    pub async fn start() -> std::io::Result<Self> {
        let answers = Answers::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let app = Router::new().fallback(record).with_state(answers.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { port, answers })
    }

    /// The listener's address, `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A `ResponseURL` on this listener.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base())
    }

    /// Every answer received, in order.
    pub fn answers(&self) -> Vec<Answer> {
        lock(&self.answers).clone()
    }
}

fn lock(answers: &Answers) -> std::sync::MutexGuard<'_, Vec<Answer>> {
    // A test that panicked while holding the lock has failed already.
    answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn record(
    State(answers): State<Answers>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    lock(&answers).push(Answer {
        method,
        path: uri.path().to_owned(),
        content_type,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    StatusCode::OK
}
