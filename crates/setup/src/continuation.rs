//! Handing a request on to a fresh invocation of this function, when the work outlasts the
//! invocation serving it (the record that travels with it:
//! [`lwct_domain::custom_resource::continuation`]).

use std::future::Future;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use lwct_aws::aws_error;
use lwct_domain::Error;
use serde_json::Value;

/// Starts invocations of a Lambda function.
pub trait Invocations: Send + Sync {
    /// Queues an asynchronous invocation of `function` (its name or ARN) with `payload`;
    /// returns once Lambda has accepted it, not when it runs.
    fn invoke_async(
        &self,
        function: &str,
        payload: &Value,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// [`Invocations`] over the AWS SDK (`lambda:InvokeFunction`, `InvocationType=Event`).
#[derive(Debug, Clone)]
pub struct LambdaInvocations {
    client: aws_sdk_lambda::Client,
}

impl LambdaInvocations {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }
}

impl Invocations for LambdaInvocations {
    async fn invoke_async(&self, function: &str, payload: &Value) -> Result<(), Error> {
        let body = serde_json::to_vec(payload).map_err(|err| Error::Aws {
            operation: "lambda:Invoke".to_owned(),
            code: None,
            message: format!("cannot write the invocation's payload: {err}"),
            retryable: false,
        })?;
        let output = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|err| aws_error("lambda:Invoke", err))?;
        // An asynchronous invocation is accepted with 202; anything else was not queued.
        match output.status_code() {
            202 => Ok(()),
            other => Err(Error::Aws {
                operation: "lambda:Invoke".to_owned(),
                code: Some(other.to_string()),
                message: format!(
                    "Lambda answered {other} to an asynchronous invocation of {function}, not 202 Accepted"
                ),
                retryable: false,
            }),
        }
    }
}
