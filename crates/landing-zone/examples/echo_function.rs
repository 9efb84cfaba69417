//! A tiny Lambda function on the real `lambda_runtime` crate, to test the landing zone's Runtime
//! API server: it answers `{"echo": <event>, "functionName", "requestId"}`, fails with an error
//! when the event is `{"fail": "<message>"}`, and exits without answering when the event is
//! `{"exit": <code>}`, and sleeps first when it has `"sleepMs": <milliseconds>`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if let Some(millis) = payload.get("sleepMs").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    }
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.to_owned().into());
    }
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    eprintln!("echo-function: handling {}", context.request_id);
    Ok(json!({
        "echo": payload,
        "functionName": context.env_config.function_name,
        "requestId": context.request_id,
        "invokedFunctionArn": context.invoked_function_arn,
        "region": std::env::var("AWS_REGION").unwrap_or_default(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
