//! The scheduled reconcile: one read of the organization, the member instances and Lacework's
//! integrations ([`lwct_aws::installation::observe`], its Lacework requests charged to the same
//! budget as a drain run), the differences ([`lwct_domain::reconcile`]), and the ordinary work
//! that repairs them queued as if the missed events had arrived: accounts to onboard or retire
//! on the account queue (account-lifecycle), registrations on the registration queue (the
//! drain). Running it again before that work is done queues it again, which its consumers take
//! as a redelivery.

use lwct_aws::installation::{Lookup, observe};
use lwct_aws::queue::{MessageQueues, send_all};
use lwct_domain::Error;
use lwct_domain::lifecycle::AccountWork;
use lwct_domain::reconcile::{CAUSE, Drift, Installation, reconcile};
use lwct_domain::registration::RegistrationWork;
use serde_json::{Value, json};

use crate::function::{Function, Ports};

/// Accounts per account-queue message: well within SQS's 256 KiB, and one StackSet operation
/// of account-lifecycle takes them together.
const ACCOUNTS_PER_MESSAGE: usize = 50;

/// What one reconcile found and queued.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    pub drift: Vec<Drift>,
    pub onboard: usize,
    pub retire: usize,
    pub registrations: usize,
    pub lacework_requests: u32,
}

impl ReconcileReport {
    pub fn to_json(&self) -> Value {
        json!({
            "drift": self.drift,
            "queued": {
                "onboard": self.onboard,
                "retire": self.retire,
                "registrations": self.registrations,
            },
            "laceworkRequests": self.lacework_requests,
        })
    }
}

impl<P: Ports> Function<P> {
    /// One reconcile run.
    pub async fn reconcile(&self) -> Result<ReconcileReport, Error> {
        let budget = self.request_budget();
        let lacework = self.lacework_client(&budget)?;
        let installation = &self.config.installation;
        let names = &installation.names;
        let lookup = Lookup::of(installation, &self.routing);
        let observed = observe(&self.organizations, &self.stack_sets, &lacework, &lookup).await?;
        let repairs = reconcile(
            &observed,
            &Installation {
                prefix: &installation.prefix,
                routing: &self.routing,
                partition: installation.region.partition(),
                member_role: &names.member_role,
                member_instances: self.config.capability.includes_config(),
            },
        )?;
        for drift in &repairs.drift {
            tracing::warn!(operation = "reconcile", drift = %drift, "drift found; queueing its repair");
        }

        let onboard = repairs
            .onboard
            .chunks(ACCOUNTS_PER_MESSAGE)
            .map(|accounts| AccountWork::OnboardAccounts {
                source: CAUSE.to_owned(),
                accounts: accounts.to_vec(),
            });
        let retire = repairs.retire.chunks(ACCOUNTS_PER_MESSAGE).map(|accounts| {
            AccountWork::RetireAccounts {
                source: CAUSE.to_owned(),
                accounts: accounts.to_vec(),
            }
        });
        let bodies: Vec<String> = onboard.chain(retire).map(|w| w.to_message()).collect();
        if !bodies.is_empty() {
            let url = self.queues.queue_url(&names.account_queue).await?;
            send_all(&self.queues, &url, &bodies, self.timing.queue_retry).await?;
        }
        if !repairs.registrations.is_empty() {
            let bodies: Vec<String> = (repairs.registrations.iter())
                .map(RegistrationWork::to_message)
                .collect();
            let urls = self.queue_urls().await?;
            send_all(
                &self.queues,
                &urls.registration,
                &bodies,
                self.timing.queue_retry,
            )
            .await?;
        }
        let report = ReconcileReport {
            onboard: repairs.onboard.len(),
            retire: repairs.retire.len(),
            registrations: repairs.registrations.len(),
            lacework_requests: budget.used(),
            drift: repairs.drift,
        };
        tracing::info!(
            operation = "reconcile",
            drift = report.drift.len(),
            onboard = report.onboard,
            retire = report.retire,
            registrations = report.registrations,
            lacework_requests = report.lacework_requests,
            "reconcile run finished"
        );
        lwct_runtime::count(lwct_runtime::metrics::DRIFT_FOUND, report.drift.len());
        Ok(report)
    }
}
