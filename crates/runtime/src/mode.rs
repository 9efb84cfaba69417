//! Whether a function that answers CloudFormation custom resources can work, or can only say
//! why not: a bad configuration must still get every request answered (FAILED, with the
//! problems), so it does not stop the function.

use std::sync::Arc;

use lwct_domain::config::{EnvReader, TOWER_RESPONSE_URL_ALLOW};
use lwct_domain::custom_resource::ResponseUrlPolicy;
use lwct_domain::{Error, Problem};

/// Whether the function can work, or can only say why not.
pub enum Mode<T> {
    Ready(Arc<T>),
    /// The configuration is invalid: every request is answered FAILED with the problems.
    Misconfigured {
        problems: Vec<Problem>,
        response_urls: ResponseUrlPolicy,
    },
}

impl<T> Mode<T> {
    /// `Ready` with the function `made`; or, when it could not be made, `Misconfigured` with
    /// why, answering only where the environment's `TOWER_RESPONSE_URL_ALLOW` allows.
    pub fn of(made: Result<T, Error>) -> Self {
        match made {
            Ok(function) => Mode::Ready(Arc::new(function)),
            Err(err) => {
                tracing::error!(error = %err, "invalid configuration; every request will be answered FAILED");
                Mode::Misconfigured {
                    problems: err.problems(),
                    response_urls: EnvReader::from_process_env()
                        .response_url_policy(TOWER_RESPONSE_URL_ALLOW),
                }
            }
        }
    }
}
