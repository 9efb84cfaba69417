//! A failed invocation as Lambda records it: `errorType` says whether trying again can help
//! (`Retryable.*` or `Permanent.*`), then what failed (`Aws.ThrottlingException`,
//! `Lacework.Unauthorized`, `Config`, ...); `errorMessage` is the error's text, which never
//! holds a secret.

use lambda_runtime::Diagnostic;
use lwct_domain::Error;

/// The error a handler returns to the Lambda runtime.
#[derive(Debug)]
pub struct Failure(pub Error);

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl From<Failure> for Diagnostic {
    fn from(Failure(error): Failure) -> Self {
        let class = if error.is_retryable() {
            "Retryable"
        } else {
            "Permanent"
        };
        let detail = match &error {
            Error::Aws {
                code: Some(code), ..
            } => format!(".{code}"),
            Error::Lacework { kind, .. } => format!(".{kind:?}"),
            _ => String::new(),
        };
        Diagnostic {
            error_type: format!("{class}.{}{detail}", what_failed(&error)),
            error_message: error.to_string(),
        }
    }
}

fn what_failed(error: &Error) -> &'static str {
    match error {
        Error::Event(_) => "Event",
        Error::Notification(_) => "Notification",
        Error::ObjectKey { .. } => "ObjectKey",
        Error::Mapping(_) => "Mapping",
        Error::AccountId { .. } => "AccountId",
        Error::ExternalId(_) => "ExternalId",
        Error::Name { .. } => "Name",
        Error::Config(_) => "Config",
        Error::CustomResource(_) => "CustomResource",
        Error::ResponseUrl(_) => "ResponseUrl",
        Error::Aws { .. } => "Aws",
        Error::Preflight(_) => "Preflight",
        Error::Lacework { .. } => "Lacework",
    }
}

#[cfg(test)]
mod tests {
    use lwct_domain::Problem;

    use super::*;

    #[test]
    fn a_throttled_call_is_reported_retryable_and_a_bad_event_permanent() {
        let throttled = Diagnostic::from(Failure(Error::Aws {
            operation: "cloudformation:CreateStackInstances".into(),
            code: Some("OperationInProgressException".into()),
            message: "another operation is running".into(),
            retryable: true,
        }));
        assert_eq!(
            throttled.error_type,
            "Retryable.Aws.OperationInProgressException"
        );
        assert!(
            throttled
                .error_message
                .contains("cloudformation:CreateStackInstances")
        );

        let malformed = Diagnostic::from(Failure(Error::Event(Problem::new(
            "$.detail",
            "is missing",
        ))));
        assert_eq!(malformed.error_type, "Permanent.Event");
        assert_eq!(
            malformed.error_message,
            "malformed event: $.detail: is missing"
        );
    }
}
