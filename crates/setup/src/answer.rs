//! Answering CloudFormation: exactly once per request, even when the work fails, runs out of
//! time or panics.
//!
//! The handler puts the request's reply address in an [`AnswerSlot`] before any work starts.
//! Whoever answers takes it out first, so a second answer cannot happen: the normal path
//! takes it when the work ends (or times out), and [`answer_on_panic`] - a panic hook, since
//! release builds abort on panic and nothing can catch it - takes it if the process is about
//! to die.

use std::fmt;
use std::sync::{Arc, Mutex};

use lwct_domain::Error;
use lwct_domain::custom_resource::{ReplyTo, Response};
use lwct_runtime::delivery::deliver;
use url::Url;

/// A request not yet answered: where the answer goes (checked against the policy) and whom
/// it is for.
#[derive(Clone)]
pub struct Pending {
    pub url: Url,
    pub reply_to: ReplyTo,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is a pre-signed credential: its host only.
        f.debug_struct("Pending")
            .field("host", &self.url.host_str())
            .field("request_id", &self.reply_to.request_id)
            .finish()
    }
}

/// Holds the reply address of the request in progress until someone answers it.
#[derive(Debug, Default)]
pub struct AnswerSlot {
    pending: Mutex<Option<Pending>>,
}

impl AnswerSlot {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the request in progress (replacing a previous one, which was answered).
    pub fn hold(&self, pending: Pending) {
        *self.lock() = Some(pending);
    }

    /// The request to answer, if nobody answered it yet; only one caller ever gets it.
    pub fn take(&self) -> Option<Pending> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pending>> {
        // Taking or putting an Option cannot be left half-done.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Answers the request in `slot` with `response`, unless it was answered already (then
/// `Ok(false)`).
pub async fn answer_once(slot: &AnswerSlot, response: &Response) -> Result<bool, Error> {
    let Some(pending) = slot.take() else {
        return Ok(false);
    };
    deliver(&pending.url, response).await.map(|()| true)
}

/// The reason sent when the function panics.
pub const PANIC_REASON: &str = "setup stopped on an internal error (a bug; its log has the details); nothing was left half-done that a retry cannot finish: retry the stack operation";

/// Installs a panic hook that, after the usual panic report, answers the request in progress
/// FAILED. Release builds abort on panic, so this is the only way a panic still answers.
pub fn answer_on_panic(slot: Arc<AnswerSlot>) {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        let Some(pending) = slot.take() else {
            return;
        };
        // The hook may run on a runtime thread, which must not block on a runtime of its
        // own: answer from a fresh thread with its own small runtime, and wait for it.
        let answered = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    let response = Response::failure_to(&pending.reply_to, PANIC_REASON);
                    runtime.block_on(deliver(&pending.url, &response))
                }
                Err(err) => Err(Error::ResponseUrl(format!(
                    "no runtime to answer with: {err}"
                ))),
            }
        })
        .join();
        if !matches!(answered, Ok(Ok(()))) {
            eprintln!("setup: could not answer CloudFormation after a panic");
        }
    }));
}
