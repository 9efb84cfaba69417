//! Sending CloudFormation its answer: an HTTPS PUT of the response to the `ResponseURL` that
//! [`ResponseUrlPolicy::check`](tower_core::custom_resource::ResponseUrlPolicy::check) accepted.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tower_core::Error;
use tower_core::custom_resource::Response;
use url::Url;

/// Attempts to deliver an answer; connection failures and 5xx answers are tried again.
const ATTEMPTS: u32 = 3;

/// Time for one attempt, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);

/// The most time [`deliver`] can take (its attempts and the pauses between them); the
/// handler keeps this much of the invocation's time for answering.
pub const DELIVERY_TIME: Duration = Duration::from_secs(8 * 3 + 1 + 2);

/// PUTs `response` to `url` with an empty content type (the pre-signed URL was signed without
/// one). The error names the host only: the rest of the URL is a credential.
pub async fn deliver(url: &Url, response: &Response) -> Result<(), Error> {
    let body = response.to_body();
    let refused = |message: String| Error::ResponseUrl(message);
    let http = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(4))
        // S3 never redirects an answer; following one could send it elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| refused(format!("cannot build the HTTP client: {err}")))?;
    let host = url.host_str().unwrap_or("(no host)").to_owned();
    let mut problem = String::new();
    for attempt in 1..=ATTEMPTS {
        let sent = http
            .put(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(""))
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {
                tracing::info!(
                    operation = "cloudformation:answer",
                    status = response.status.as_str(),
                    request_id = %response.request_id,
                    host,
                    "answered CloudFormation"
                );
                return Ok(());
            }
            Ok(answer) if answer.status().is_server_error() => {
                problem = format!("{host} answered HTTP {}", answer.status());
            }
            Ok(answer) => {
                // 3xx/4xx: the URL expired or is refused; sending again cannot help.
                return Err(refused(format!("{host} answered HTTP {}", answer.status())));
            }
            Err(err) => {
                // reqwest's error text names the URL, whose query is a credential.
                problem = format!("sending to {host} failed: {}", err.without_url());
            }
        }
        tracing::warn!(
            operation = "cloudformation:answer",
            attempt,
            problem = %problem,
            "answering CloudFormation failed"
        );
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
    }
    Err(refused(problem))
}
