//! Lambda function `setup`: the setup flow, run as a CloudFormation custom resource.
//!
//! This file only wires things together: logs and metrics, the panic hook that answers
//! CloudFormation if the process is about to die, the configuration (a bad one still gets
//! every request answered, FAILED with the problems) and the Lambda runtime. The work is in the
//! library: `setup::flow`, `setup::handler`, and `setup::aws` for the AWS clients.

use lambda_runtime::{run, service_fn};
use lwct_domain::config::{FromEnv, SetupConfig};
use lwct_runtime::Mode;
use lwct_runtime::answer::{AnswerSlot, answer_on_panic};
use setup::flow::Setup;
use setup::handler::{Handler, PANIC_REASON};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lwct_runtime::init("setup");
    let slot = AnswerSlot::new();
    answer_on_panic(slot.clone(), PANIC_REASON);
    let setup = match SetupConfig::from_process_env() {
        Ok(config) => Ok(Setup::over_aws(config).await),
        Err(err) => Err(err),
    };
    let handler = Handler::new(Mode::of(setup), slot);
    run(service_fn(|event| {
        lwct_runtime::flushed(handler.handle(event))
    }))
    .await
}
