//! What every part of the setup flow shares: the configuration, the AWS ports, the secret,
//! the timing, and a record of progress for the answer when time runs out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lwct_aws::log_archive::LogArchive;
use lwct_aws::secrets::SecretsManagerTokenSource;
use lwct_aws::stacksets::OperationWait;
use lwct_aws::trail::Trails;
use lwct_domain::Error;
use lwct_domain::backoff::Backoff;
use lwct_domain::config::SetupConfig;
use lwct_lacework::{Client, ClientOptions};
use lwct_runtime::{SharedPorts, delivery};
use tokio::time::Instant;

use crate::continuation::Invocations;

/// The AWS and Lacework ports setup works through: the SDK adapters in AWS ([`crate::aws`]),
/// fakes in tests. Those it shares with `sns-custom-resource`, then its own.
pub trait Ports: SharedPorts {
    type Trails: Trails + 'static;
    type Invocations: Invocations + 'static;
    /// The trail bucket's notifications in Log Archive, as `AWSControlTowerExecution`.
    type LogArchive: LogArchive + 'static;
}

/// How long things may take.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Time kept at the end of the invocation to answer CloudFormation.
    pub answer_margin: Duration,
    /// Waits for StackSet operations end this long before the work must end, so that they
    /// report what is still running themselves (the hard stop is a safety net).
    pub wrap_up: Duration,
    /// Pauses while waiting for StackSet operations.
    pub poll: Backoff,
    pub busy_retry: Duration,
    /// Pause before sending again messages SQS did not take.
    pub queue_retry: Duration,
    /// Pauses before trying the work again after a transient failure.
    pub retry: Backoff,
    /// The least time worth giving the work: no attempt, and no fresh invocation, is started
    /// with less.
    pub least_work: Duration,
    /// The most time handing unfinished work to a fresh invocation may take (it is part of
    /// `answer_margin`: if it fails, the answer is still sent in time).
    pub hand_on: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            answer_margin: delivery::DELIVERY_TIME + Duration::from_secs(7),
            wrap_up: Duration::from_secs(5),
            poll: Backoff::new(Duration::from_secs(2), Duration::from_secs(15)),
            busy_retry: Duration::from_secs(10),
            queue_retry: Duration::from_secs(1),
            retry: Backoff::new(Duration::from_secs(5), Duration::from_secs(60)),
            least_work: Duration::from_secs(60),
            hand_on: Duration::from_secs(5),
        }
    }
}

/// Everything the flow works with.
pub struct Setup<P: Ports> {
    pub config: SetupConfig,
    pub organizations: P::Organizations,
    pub trails: P::Trails,
    pub stack_sets: P::StackSets,
    pub queues: P::Queues,
    pub log_archive: P::LogArchive,
    pub secrets: Arc<P::Secrets>,
    pub tokens: Arc<P::Tokens>,
    /// Starts the fresh invocation that takes over unfinished work.
    pub invocations: P::Invocations,
    pub lacework_options: ClientOptions,
    pub timing: Timing,
}

impl<P: Ports> Setup<P> {
    /// A Lacework client that takes its token from the secret (renewing it there if refused).
    pub fn lacework(&self) -> Result<Client, Error> {
        let tokens = SecretsManagerTokenSource::new(self.secrets.clone(), self.tokens.clone());
        Client::new(
            self.config.lacework.api_url.as_str(),
            Arc::new(tokens),
            &self.lacework_options,
        )
    }

    /// How to wait for StackSet operations of a run that must end by `deadline`.
    pub fn operation_wait(&self, deadline: Instant) -> OperationWait {
        OperationWait {
            deadline,
            poll: self.timing.poll,
            busy_retry: self.timing.busy_retry,
        }
    }
}

/// One run of the flow: the request it serves, its deadline, and what it has done so far.
#[derive(Debug, Clone)]
pub struct Run {
    /// Names the request in operation ids, so a redelivery finds its own operations.
    pub request_tag: String,
    /// Waits for StackSet operations end before this instant (the work itself is stopped
    /// [`Timing::wrap_up`] later).
    pub deadline: Instant,
    pub progress: Progress,
}

/// What a run has done and is doing, for the answer when time runs out and for the logs.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    inner: Arc<Mutex<ProgressState>>,
}

#[derive(Debug, Default)]
struct ProgressState {
    done: Vec<String>,
    current: Option<String>,
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a step (ending the one before as done).
    pub fn step(&self, what: impl Into<String>) {
        let what = what.into();
        tracing::info!(step = %what, "setup step");
        let state = &mut *self.lock();
        state.done.extend(state.current.replace(what));
    }

    /// Ends the current step as done.
    pub fn finish(&self) {
        let state = &mut *self.lock();
        state.done.extend(state.current.take());
    }

    /// The step in progress, if any.
    pub fn current(&self) -> Option<String> {
        self.lock().current.clone()
    }

    /// The steps finished so far.
    pub fn done(&self) -> Vec<String> {
        self.lock().done.clone()
    }
}

/// Values for the stack's outputs (`Fn::GetAtt`): never a secret.
pub type Outputs = BTreeMap<String, String>;
