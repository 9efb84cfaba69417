//! The AWS services the functions use, behind narrow traits (ports) so that the decisions above
//! them are tested with in-memory doubles, and the real adapters over the AWS SDK.

pub mod installation;
pub mod log_archive;
pub mod organizations;
pub mod queue;
pub mod registration_queue;
pub mod sdk;
pub mod secrets;
pub mod stacksets;
pub mod trail;

use std::fmt::Debug;

use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;

use lwct_domain::error::Error;

/// AWS error codes that mean "the same call may succeed later".
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "OperationInProgressException",
    "StaleRequestException",
    "ConcurrentModificationException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServiceError",
    "InternalServerError",
];

/// The call's output, or `None` when the service answered that what was asked about does not
/// exist (`missing` recognises that error); any other failure is an [`Error::Aws`].
pub fn unless_missing<O, E, R>(
    operation: &str,
    result: Result<O, SdkError<E, R>>,
    missing: impl FnOnce(&E) -> bool,
) -> Result<Option<O>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.as_service_error().is_some_and(missing) => Ok(None),
        Err(err) => Err(aws_error(operation, err)),
    }
}

/// Every page of a listing (its paginator's `send()`), or the first failure as an
/// [`Error::Aws`].
pub async fn every_page<P, E, R>(
    operation: &str,
    pages: PaginationStream<Result<P, SdkError<E, R>>>,
) -> Result<Vec<P>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    pages
        .try_collect()
        .await
        .map_err(|err| aws_error(operation, err))
}

/// Whether `err` is AWS's error `code`.
pub fn has_code(err: &Error, code: &str) -> bool {
    matches!(err, Error::Aws { code: Some(found), .. } if found == code)
}

/// A failure of `operation` that is neither AWS's refusal nor worth retrying: an answer that
/// lacks what it must carry, or a request the SDK's builder refused (a bug of ours).
pub fn not_retryable(operation: &str, message: impl Into<String>) -> Error {
    Error::Aws {
        operation: operation.to_owned(),
        code: None,
        message: message.into(),
        retryable: false,
    }
}

/// Turns an SDK error into the crate's [`Error::Aws`], deciding whether it is worth retrying:
/// timeouts, dropped connections, 5xx answers, throttling and busy StackSets are; anything the
/// service refused on its merits is not.
pub fn aws_error<E, R>(operation: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let code = err.code().map(str::to_owned);
    let transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let retryable = transient
        || code
            .as_deref()
            .is_some_and(|c| RETRYABLE_CODES.contains(&c));
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    Error::Aws {
        operation: operation.to_owned(),
        code,
        message,
        retryable,
    }
}
