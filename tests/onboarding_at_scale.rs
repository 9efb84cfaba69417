//! End-to-end: an organization with a hundred more accounts is onboarded in one run - one
//! StackSet operation for every instance - and every account is registered in its Lacework
//! sub-account although the emulator rate-limits the API key, so the registration drain has to
//! run several times. Nothing is lost on the way.
//!
//! Needs the binaries built (`cargo build --workspace --bins`) and moto (see
//! tests/new_account_flow.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use landing_zone::flows::DrainLimits;
use landing_zone::state;

/// The extra accounts seeded for this test, on top of the landing zone's own.
const EXTRA_ACCOUNTS: usize = 100;

/// The emulator's limit: requests per API key and window. The drain's own budget per run is
/// raised above it ([`DRAIN_BUDGET`]), so it is the rate limit that cuts every full run short
/// and makes the drain come back.
const RATE_LIMIT: &str = "100/5";

/// `TOWER_REGISTRATION_BUDGET`: Lacework requests one drain run may make.
const DRAIN_BUDGET: &str = "480";

/// The drain's schedule, shortened: the rate limit's window and the time a run takes, so each
/// run starts with the window's allowance back.
const DRAIN_INTERVAL: Duration = Duration::from_secs(12);

const TEST_TIME_LIMIT: Duration = Duration::from_secs(900);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_existing_accounts_are_onboarded_in_one_operation_under_the_rate_limit() {
    within(TEST_TIME_LIMIT, async {
        let mut options = options("onboarding-at-scale")
            .with_function_env(lwct_domain::config::TOWER_REGISTRATION_BUDGET, DRAIN_BUDGET);
        options.lacework.rate_limit = Some(RATE_LIMIT.to_owned());
        let mut zone = start(options).await;
        let started = Instant::now();
        for n in 1..=EXTRA_ACCOUNTS {
            let ou = if n % 2 == 0 {
                "Workloads/Dev"
            } else {
                "Workloads/Prod"
            };
            zone.add_account(&format!("Scale {n:03}"), ou)
                .await
                .expect("account created");
        }
        let active: Vec<_> = zone
            .state
            .organization
            .accounts
            .iter()
            .filter(|account| account.status == "ACTIVE")
            .cloned()
            .collect();
        assert!(active.len() > EXTRA_ACCOUNTS);

        eprintln!(
            "seeded {EXTRA_ACCOUNTS} accounts in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        set_up(&zone).await;
        let run = zone
            .run_account_queue()
            .await
            .expect("account queue delivered");
        assert_handled("onboarding", &run);
        eprintln!(
            "setup and the account queue ({} batch(es), {} custom resource requests) in {:.1} s",
            run.batches.len(),
            run.registration_requests.len(),
            started.elapsed().as_secs_f64()
        );

        // One StackSet operation created every instance.
        let operations = aws_sdk_cloudformation::Client::new(zone.management())
            .list_stack_set_operations()
            .stack_set_name(&zone.names.member_stack_set)
            .send()
            .await
            .expect("operations listed");
        let creates: Vec<_> = operations
            .summaries()
            .iter()
            .filter(|operation| operation.action().map(|action| action.as_str()) == Some("CREATE"))
            .collect();
        assert_eq!(
            creates.len(),
            1,
            "one CreateStackInstances operation: {:?}",
            operations.summaries()
        );
        let instances = zone.member_instances().await.expect("instances");
        assert_eq!(
            instances.len(),
            active.len(),
            "an instance per ACTIVE account"
        );
        let answered = run
            .registration_requests
            .iter()
            .filter(|request| request.request_type == "Create")
            .count();
        assert_eq!(
            answered,
            active.len(),
            "a custom resource request per instance"
        );

        // The drain, repeatedly, until the queue is empty.
        let drained = zone
            .drain_registrations(DrainLimits {
                max_runs: 300,
                timeout: Duration::from_secs(600),
                pause: Duration::from_secs(1),
                interval: DRAIN_INTERVAL,
            })
            .await
            .expect("drained");
        assert!(
            drained.emptied(),
            "the registration queue was emptied: {:?} left after {} runs; last answer {:?}",
            drained.remaining,
            drained.runs.len(),
            drained.runs.last().map(|run| &run.answer)
        );
        assert!(
            drained.runs.len() >= 2,
            "the rate limit forced several drain runs ({})",
            drained.runs.len()
        );
        let requests = reqwest::Client::new()
            .get(format!(
                "{}/__emulator/requests",
                zone.state.lacework.emulator.url
            ))
            .send()
            .await
            .expect("emulator reached")
            .json::<serde_json::Value>()
            .await
            .expect("request log");
        let limited = requests["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|request| request["status"] == 429)
            .count();
        eprintln!(
            "drain: {} runs in {:.1} s; {} Lacework requests, {limited} answered 429",
            drained.runs.len(),
            drained.duration_ms as f64 / 1000.0,
            requests["requests"].as_array().map_or(0, Vec::len)
        );
        assert!(limited > 0, "the emulator's rate limit was hit");

        // Every ACTIVE account registered once, in its sub-account; nothing dead-lettered.
        let registrations = zone.registrations().await.expect("registrations");
        let mut by_account: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for registration in &registrations {
            by_account
                .entry(registration.account.as_str())
                .or_default()
                .push(registration.sub_account.as_str());
        }
        let mut wrong = Vec::new();
        for account in &active {
            let expected = if account.ou.ends_with("Prod") {
                "prod"
            } else if account.ou.ends_with("Dev") {
                "dev"
            } else {
                DEFAULT_SUB_ACCOUNT
            };
            let found = by_account
                .get(account.id.as_str())
                .cloned()
                .unwrap_or_default();
            if found != [expected] {
                wrong.push(format!("{} ({}): {found:?}", account.name, account.ou));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} accounts not registered exactly once in their sub-account: {wrong:?}",
            wrong.len(),
            active.len()
        );
        assert_eq!(registrations.len(), active.len(), "nothing else registered");
        for url in [
            &zone.state.product.registration_dead_letter_queue_url,
            &zone.state.product.account_dead_letter_queue_url,
        ] {
            let counts = state::queue_counts(zone.management(), url)
                .await
                .expect("queue");
            assert_eq!(counts.total(), 0, "nothing dead-lettered in {url}");
        }
    })
    .await;
}
