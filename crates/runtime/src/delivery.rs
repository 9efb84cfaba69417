//! Sending CloudFormation its answer: an HTTPS PUT of a [`Response`] to the `ResponseURL` that
//! `ResponseUrlPolicy::check` accepted. `setup` and `sns-custom-resource` both answer through it.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use url::Url;

use lwct_domain::Error;
use lwct_domain::custom_resource::Response;

/// Attempts to deliver an answer; connection failures and 5xx answers are tried again.
const ATTEMPTS: u32 = 3;

/// Time for one attempt, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);

/// Time to connect, within [`ATTEMPT_TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// The pause after the `n`-th failed attempt is `n` times this.
const PAUSE: Duration = Duration::from_secs(1);

/// The most time [`deliver`] can take: its attempts and the pauses between them (1 s, then
/// 2 s). A handler keeps at least this much of its invocation for answering.
pub const DELIVERY_TIME: Duration = Duration::from_secs(8 * 3 + 1 + 2);

/// PUTs `response` to `url` with an empty content type (the pre-signed URL was signed without
/// one). Redirects are not followed: S3 does not redirect an answer, and following one could
/// send it to a host the policy never checked. The error names the host only: the rest of the
/// URL is a credential.
pub async fn deliver(url: &Url, response: &Response) -> Result<(), Error> {
    let body = response.to_body();
    let refused = |message: String| Error::ResponseUrl(message);
    let http =
        http_client().map_err(|err| refused(format!("cannot build the HTTP client: {err}")))?;
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
                // 3xx/4xx: the URL expired, or is refused; sending again cannot help.
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
            tokio::time::sleep(PAUSE * attempt).await;
        }
    }
    Err(refused(problem))
}

/// The process's client for answers, built at its first use. Building one reads the system's
/// certificate store, about 2 ms, which a warm function would otherwise pay on every answer
/// (measured: most of the billed time of a custom-resource request). It keeps no idle
/// connection, so each answer still connects afresh, as before, and no connection outlives
/// the runtime or the frozen invocation that opened it.
fn http_client() -> Result<&'static reqwest::Client, reqwest::Error> {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(http) = HTTP.get() {
        return Ok(http);
    }
    let built = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()?;
    Ok(HTTP.get_or_init(|| built))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use lwct_domain::custom_resource::Status;

    fn response() -> Response {
        Response {
            status: Status::Success,
            reason: "Create succeeded".to_owned(),
            physical_resource_id: "acme-setup".to_owned(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".to_owned(),
            request_id: "request-1".to_owned(),
            logical_resource_id: "LaceworkSetup".to_owned(),
            no_echo: false,
            data: BTreeMap::new(),
        }
    }

    /// A one-request-per-connection HTTP listener answering each request with the next of
    /// `statuses` (the last one repeats), recording what it received.
    async fn listener(statuses: &'static [u16]) -> (Url, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        tokio::spawn(async move {
            let mut index = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let request = read_request(&mut stream).await;
                seen.lock().unwrap().push(request);
                let status = statuses[index.min(statuses.len() - 1)];
                index += 1;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nLocation: http://elsewhere.example/\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let url = Url::parse(&format!(
            "http://{address}/answers/1?X-Amz-Signature=secret-signature"
        ))
        .unwrap();
        (url, received)
    }

    /// The request's head and its body (as long as its Content-Length says).
    async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
        let mut data = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.unwrap();
            data.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&data).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|line| {
                        line.to_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if data.len() >= end + 4 + length || read == 0 {
                    return text;
                }
            }
            if read == 0 {
                return String::from_utf8_lossy(&data).to_string();
            }
        }
    }

    #[tokio::test]
    async fn the_answer_is_put_with_an_empty_content_type() {
        let (url, received) = listener(&[200]).await;
        deliver(&url, &response()).await.unwrap();
        let requests = received.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert!(
            request.starts_with("PUT /answers/1?X-Amz-Signature=secret-signature HTTP/1.1"),
            "{request}"
        );
        let content_type = request.lines().find_map(|line| {
            line.to_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        });
        assert_eq!(content_type.as_deref(), Some(""), "{request}");
        let body = request.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(body, response().to_body());
    }

    #[tokio::test]
    async fn a_server_error_is_tried_again() {
        let (url, received) = listener(&[503, 200]).await;
        deliver(&url, &response()).await.unwrap();
        assert_eq!(received.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_refusal_or_a_redirect_is_not_tried_again_and_keeps_the_url_secret() {
        for status in [&[403u16][..], &[307u16][..]] {
            let (url, received) = listener(status).await;
            let err = deliver(&url, &response()).await.unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&format!("HTTP {}", status[0])), "{shown}");
            assert!(shown.contains("127.0.0.1"), "{shown}");
            assert!(!shown.contains("secret-signature"), "{shown}");
            assert_eq!(received.lock().unwrap().len(), 1, "{shown}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_url_fails_after_every_attempt_without_naming_the_query() {
        // A port nothing listens on: bound, then released.
        let address = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let url = Url::parse(&format!(
            "http://{address}/a?X-Amz-Signature=secret-signature"
        ))
        .unwrap();
        let err = deliver(&url, &response()).await.unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("sending to 127.0.0.1 failed"), "{shown}");
        assert!(!shown.contains("secret-signature"), "{shown}");
    }
}
