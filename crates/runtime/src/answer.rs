//! Answering CloudFormation: exactly once per request, even when the work fails, runs out of
//! time or panics.
//!
//! A handler checks a request's reply address once ([`Reply::of`]) and, for long work, puts
//! it in an [`AnswerSlot`] before any work starts.
//! Whoever answers takes it out first, so a second answer cannot happen: the normal path
//! takes it when the work ends (or times out), and [`answer_on_panic`] - a panic hook, since
//! release builds abort on panic and nothing can catch it - takes it if the process is about
//! to die.

use std::fmt;
use std::sync::{Arc, Mutex};

use lwct_domain::Error;
use lwct_domain::custom_resource::{ReplyTo, Response, ResponseUrlPolicy};
use serde_json::Value;

use url::Url;

use crate::delivery::deliver;

/// A request not yet answered: where the answer goes (checked against the policy) and whom
/// it is for.
#[derive(Clone)]
pub struct Reply {
    pub url: Url,
    pub reply_to: ReplyTo,
}

impl Reply {
    /// The reply address of the request `payload`, once `policy` accepts its `ResponseURL`.
    /// A request whose address is missing or refused cannot be answered at all: the error says
    /// why, with the request and stack ids when they are known.
    pub fn of(payload: &Value, policy: &ResponseUrlPolicy) -> Result<Reply, Error> {
        let reply_to = ReplyTo::from_value(payload)?;
        match policy.check(&reply_to.response_url) {
            Ok(url) => Ok(Reply { url, reply_to }),
            Err(err) => Err(Error::ResponseUrl(format!(
                "{err} (request {}, stack {})",
                reply_to.request_id, reply_to.stack_id
            ))),
        }
    }

    /// Sends `response` to this address.
    pub async fn answer(&self, response: &Response) -> Result<(), Error> {
        deliver(&self.url, response).await
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is a pre-signed credential: its host only.
        f.debug_struct("Reply")
            .field("host", &self.url.host_str())
            .field("request_id", &self.reply_to.request_id)
            .finish()
    }
}

/// Holds the reply address of the request in progress until someone answers it.
#[derive(Debug, Default)]
pub struct AnswerSlot {
    pending: Mutex<Option<Reply>>,
}

impl AnswerSlot {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the request in progress (replacing a previous one, which was answered).
    pub fn hold(&self, reply: Reply) {
        *self.lock() = Some(reply);
    }

    /// The request to answer, if nobody answered it yet; only one caller ever gets it.
    pub fn take(&self) -> Option<Reply> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Reply>> {
        // Taking or putting an Option cannot be left half-done.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Answers the request in `slot` with `response`, unless it was answered already (then
/// `Ok(false)`).
pub async fn answer_once(slot: &AnswerSlot, response: &Response) -> Result<bool, Error> {
    let Some(reply) = slot.take() else {
        return Ok(false);
    };
    reply.answer(response).await.map(|()| true)
}

/// Installs a panic hook that, after the usual panic report, answers the request in progress
/// FAILED with `reason`. Release builds abort on panic, so this is the only way a panic still
/// answers.
pub fn answer_on_panic(slot: Arc<AnswerSlot>, reason: &'static str) {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        let Some(reply) = slot.take() else {
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
                    let response = Response::failure_to(&reply.reply_to, reason);
                    runtime.block_on(reply.answer(&response))
                }
                Err(err) => Err(Error::ResponseUrl(format!(
                    "no runtime to answer with: {err}"
                ))),
            }
        })
        .join();
        if !matches!(answered, Ok(Ok(()))) {
            eprintln!("could not answer CloudFormation after a panic");
        }
    }));
}
