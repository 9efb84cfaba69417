//! The `setup` handler. Not implemented yet: see issue 4.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

pub async fn handle(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Err("`setup` is not implemented yet (issue 4); this build only answers with this error".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn says_plainly_that_it_is_not_implemented() {
        let event = LambdaEvent::new(Value::Null, lambda_runtime::Context::default());
        let err = handle(event).await.unwrap_err().to_string();
        assert!(err.contains("not implemented yet"), "{err}");
    }
}
