//! The harness's own HTTP servers (the Runtime API, Lambda's Invoke API, the custom resource
//! `ResponseURL` listener): each on 127.0.0.1 and a free port, served by a task that stops
//! when the server is dropped.

use std::net::SocketAddr;

use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A running loopback server; stops when dropped.
pub struct LoopbackServer {
    /// `127.0.0.1:PORT`.
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl LoopbackServer {
    /// Serves `app` on 127.0.0.1 and a free port; `name` names the server in errors.
    pub async fn start(name: &str, app: Router) -> Result<LoopbackServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|err| Error::process(name, format!("cannot listen: {err}")))?;
        let address = listener
            .local_addr()
            .map_err(|err| Error::process(name, err.to_string()))?;
        let task = tokio::spawn(async move {
            // The server ends when the task is aborted; an accept error ends it early, and
            // whoever waits on it then times out with a clear message.
            let _ = axum::serve(listener, app).await;
        });
        Ok(LoopbackServer { address, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A body as JSON, or its text as a JSON string when it is not JSON.
pub fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
