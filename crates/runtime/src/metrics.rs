//! What the functions count, in CloudWatch Embedded Metric Format: one JSON line on stdout per
//! invocation, which CloudWatch Logs turns into metrics of the namespace [`NAMESPACE`] with the
//! dimension `Function`. The template's dashboard and alarms read these names.
//!
//! Counting goes through the `metrics` facade (`metrics::counter!(ACCOUNTS_ONBOARDED)`); the
//! collector is `metrics_cloudwatch_embedded`'s.

use std::sync::OnceLock;

use metrics_cloudwatch_embedded::{Builder, Collector};

/// The CloudWatch namespace of every metric of the product.
pub const NAMESPACE: &str = "LaceworkControlTower";

/// Accounts whose work was done: a member instance created (account-lifecycle) or a
/// registration made (the drain).
pub const ACCOUNTS_ONBOARDED: &str = "AccountsOnboarded";
/// Accounts registered again in another sub-account, or whose mapping followed a move.
pub const ACCOUNTS_MOVED: &str = "AccountsMoved";
/// Accounts deregistered, or whose instances were retired.
pub const ACCOUNTS_REMOVED: &str = "AccountsRemoved";
/// Messages given up on (sent to a dead-letter queue).
pub const ACCOUNTS_FAILED: &str = "AccountsFailed";
/// Messages that go back to their queue to be tried again.
pub const REGISTRATIONS_WAITING: &str = "RegistrationsWaiting";
/// Runs of the drain ended because Lacework rate-limited the API key.
pub const RATE_LIMIT_WAITS: &str = "RateLimitWaits";
/// CloudFormation custom resource requests answered.
pub const CUSTOM_RESOURCES_ANSWERED: &str = "CustomResourcesAnswered";
/// Differences the reconcile found.
pub const DRIFT_FOUND: &str = "DriftFound";

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// Installs the collector for `function` (its crate name, as the `Function` dimension). Metrics
/// are not worth stopping for: a collector that cannot be installed is logged and counting
/// becomes a no-op.
pub(crate) fn init_metrics(function: &'static str) {
    COLLECTOR.get_or_init(|| {
        Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .with_dimension("Function", function)
            .init()
            .inspect_err(|err| tracing::warn!(error = %err, "metrics are off"))
            .ok()
    });
}

/// Runs one invocation's `work`, then writes what was counted since the last flush (nothing
/// when nothing was). The work is boxed: the handlers' futures nest deep, and one more layer
/// around them passes the compiler's layout limit.
pub async fn flushed<T>(work: impl std::future::Future<Output = T>) -> T {
    let out = Box::pin(work).await;
    if let Some(Some(collector)) = COLLECTOR.get() {
        if let Err(err) = collector.flush(std::io::stdout().lock()) {
            tracing::warn!(error = %err, "could not write the metrics");
        }
    }
    out
}

/// Counts `n` of `metric`.
pub fn count(metric: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(metric).increment(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The collector's output is valid EMF: the `_aws` metadata names the namespace, the
    /// dimension set and each metric, and each metric and dimension has its value at the top.
    #[test]
    fn counts_come_out_as_embedded_metric_format() {
        let collector = Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .with_dimension("Function", "account_lifecycle")
            .with_timestamp(1_700_000_000_000)
            .init()
            .unwrap();
        count(ACCOUNTS_ONBOARDED, 3);
        count(ACCOUNTS_FAILED, 1);
        count(ACCOUNTS_REMOVED, 0);
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let document: Value = serde_json::from_str(lines[0]).unwrap();
        assert_emf(&document);
        assert_eq!(document["AccountsOnboarded"], 3);
        assert_eq!(document["AccountsFailed"], 1);
        assert!(
            document.get("AccountsRemoved").is_none(),
            "zeros are left out"
        );
        assert_eq!(document["Function"], "account_lifecycle");

        let mut again = Vec::new();
        collector.flush(&mut again).unwrap();
        assert!(
            again.is_empty(),
            "a flush writes only what was counted since the last"
        );
    }

    /// The rules of the Embedded Metric Format specification that CloudWatch checks.
    pub fn assert_emf(document: &Value) {
        let aws = &document["_aws"];
        assert!(aws["Timestamp"].is_u64(), "{document}");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert!(!directives.is_empty());
        for directive in directives {
            assert!(
                directive["Namespace"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
            );
            for set in directive["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    assert!(document[name].is_string(), "dimension {name} has no value");
                }
            }
            let metrics = directive["Metrics"].as_array().unwrap();
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for metric in metrics {
                let name = metric["Name"].as_str().unwrap();
                assert!(
                    document[name].is_number() || document[name].is_array(),
                    "{name}"
                );
            }
        }
    }
}
