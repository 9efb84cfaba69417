//! What becomes of a queue message once its work was tried: the one answer every consumer of
//! the product's queues (account-lifecycle's records, the registration drain's messages) gives.

use crate::error::Error;

/// The fate of one queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Its work is done (or there was none, then `note` says why): deleted from its queue.
    Done { note: Option<String> },
    /// Back on its queue, to be tried again later, and why.
    Retry { reason: String },
    /// Given up on: sent to the dead-letter queue with the reason, then deleted.
    DeadLetter { reason: String },
}

impl Fate {
    /// Done, with nothing to say.
    pub const DONE: Fate = Fate::Done { note: None };

    /// The fate of work that failed with `error`: tried again when that may help, given up on
    /// otherwise; `context` says what was being done.
    pub fn of_failure(error: &Error, context: &str) -> Fate {
        let reason = format!("{context}: {error}");
        if error.is_retryable() {
            Fate::Retry { reason }
        } else {
            Fate::DeadLetter { reason }
        }
    }

    fn severity(&self) -> u8 {
        match self {
            Fate::Done { .. } => 0,
            Fate::Retry { .. } => 1,
            Fate::DeadLetter { .. } => 2,
        }
    }

    /// Keeps the worse of the two: a message is done only when every part of its work is,
    /// and given up on when any part is.
    pub fn worsen(&mut self, other: Fate) {
        if other.severity() > self.severity() {
            *self = other;
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Fate::Done { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(retryable: bool) -> Error {
        Error::Aws {
            operation: "cloudformation:CreateStackInstances".into(),
            code: None,
            message: "no".into(),
            retryable,
        }
    }

    #[test]
    fn a_failure_is_retried_only_when_that_may_help() {
        assert!(matches!(
            Fate::of_failure(&aws(true), "creating instances"),
            Fate::Retry { reason } if reason.starts_with("creating instances: AWS")
        ));
        assert!(matches!(
            Fate::of_failure(&aws(false), "creating instances"),
            Fate::DeadLetter { .. }
        ));
    }

    #[test]
    fn the_worse_fate_wins_whatever_the_order() {
        let retry = Fate::Retry { reason: "r".into() };
        let dead = Fate::DeadLetter { reason: "d".into() };
        for (first, second) in [(retry.clone(), dead.clone()), (dead.clone(), retry.clone())] {
            let mut fate = Fate::DONE;
            fate.worsen(first);
            fate.worsen(second);
            assert_eq!(fate, dead);
        }
        let mut fate = retry.clone();
        fate.worsen(Fate::DONE);
        assert_eq!(fate, retry);
        assert!(!fate.is_done());
    }
}
