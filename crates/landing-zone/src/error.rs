//! What can go wrong while running the local landing zone.

use std::fmt::Debug;

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

/// An error of the landing zone: a step that failed, in words a developer can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// moto could not be installed or started.
    #[error("moto: {0}")]
    Moto(String),
    /// A process (the Lacework emulator, a function) could not be started (in time) or stopped.
    #[error("{program}: {message}")]
    Process { program: String, message: String },
    /// An AWS call to moto failed (`lwct_domain::Error::Aws`, naming the operation).
    #[error(transparent)]
    Aws(lwct_domain::Error),
    /// An HTTP call to a local service (moto's or the emulator's inspection API) failed.
    #[error("{what}: {message}")]
    Http { what: String, message: String },
    /// The landing zone's files (`state.json`, logs, events) could not be read or written.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// The caller asked for something the landing zone cannot do.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// An [`Error::File`] from an I/O error on `path`.
    pub fn file(path: &std::path::Path, err: impl std::fmt::Display) -> Error {
        Error::File {
            path: path.display().to_string(),
            message: err.to_string(),
        }
    }

    /// An [`Error::Process`].
    pub fn process(program: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Process {
            program: program.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Http`].
    pub fn http(what: impl Into<String>, err: impl std::fmt::Display) -> Error {
        Error::Http {
            what: what.into(),
            message: err.to_string(),
        }
    }
}

/// Sends `request`; an answer other than 2xx is an [`Error::Http`] with its status and body.
/// `what` names the call in the error.
pub async fn send_checked(
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    let response = request.send().await.map_err(|err| Error::http(what, err))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(Error::http(what, format!("answered {status}: {body}")));
    }
    Ok(response)
}

/// Turns an AWS SDK error into an [`Error::Aws`] naming the operation.
pub fn aws<E, R>(operation: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    Error::Aws(lwct_aws::aws_error(operation, err))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
