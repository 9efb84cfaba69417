//! What the function works with: its configuration, the AWS services behind narrow ports
//! (the SDK adapters in AWS, in-memory fakes in the tests) and the Lacework API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::Duration;

use lwct_aws::organizations::{KeptTree, Organizations};
use lwct_aws::queue::MessageQueues;
use lwct_aws::secrets::SecretsManagerTokenSource;
use lwct_domain::Error;
use lwct_domain::config::SnsCustomResourceConfig;
use lwct_domain::drain::SubAccountRouting;
use lwct_domain::mapping::OrganizationTree;
use lwct_lacework::{Client, ClientOptions, KeyTokenRequester, RetryPolicy};
use lwct_runtime::{Aws, AwsPorts};
use tokio::sync::OnceCell;

use crate::budget::{BudgetedTokenRequester, BudgetedTokenSource, RequestBudget};

/// The services the function talks to: the ones `setup` works through too.
pub use lwct_runtime::SharedPorts as Ports;

/// How the function spends its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Kept back from the invocation's time for answering CloudFormation.
    pub answer_margin: Duration,
    /// The drain takes no new message when less time than this is left.
    pub drain_margin: Duration,
    /// Added to the time left when hiding received messages, so that no other run gets a
    /// message while this one may still be working on it.
    pub visibility_slack: Duration,
    /// Pause before sending again a message SQS did not take.
    pub queue_retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            answer_margin: lwct_runtime::delivery::DELIVERY_TIME,
            drain_margin: Duration::from_secs(15),
            visibility_slack: Duration::from_secs(30),
            queue_retry: Duration::from_millis(200),
        }
    }
}

/// Lacework client settings for the drain: no retries inside a call. A failed call leaves its
/// message on the queue, which tries again with a backoff, and every request is counted
/// against the run's budget (a retry inside the client would be a request the budget cannot
/// see).
pub fn drain_client_options() -> ClientOptions {
    ClientOptions {
        // Well within the drain's margin, so a slow call cannot outlive the invocation.
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    }
}

/// How long a warm container keeps using the organization tree it read, where only membership
/// matters (no OU rules). The drain runs every five minutes; reading the tree of a large
/// organization costs a few hundred Organizations calls (one per page of 20 accounts), so
/// each run does not read it again. A run reads it afresh when an account it registers is
/// missing from it or not ACTIVE in it, and before a `Remap`. What a kept tree can let
/// through is a registration of an account closed since it was read, whose own close event
/// deregisters it; if that event's work ran first, the daily reconcile, which reads the
/// organization afresh, finds the registration of a gone account and removes it. So a tree up
/// to a day old (the reconcile's default period) serves. An hour would cost, while 5,000
/// accounts onboard at Lacework's pace (about 14 hours), some 0.7 Organizations calls per
/// account: 14 reads of 260 pages.
pub const ORGANIZATION_TREE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The registration queue's and its dead-letter queue's URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub registration: String,
    pub dead_letter: String,
}

/// The function, ready to work.
pub struct Function<P: Ports> {
    pub config: SnsCustomResourceConfig,
    pub routing: SubAccountRouting,
    pub organizations: P::Organizations,
    pub stack_sets: P::StackSets,
    pub queues: P::Queues,
    pub secrets: Arc<P::Secrets>,
    pub tokens: Arc<P::Tokens>,
    pub lacework_options: ClientOptions,
    pub timing: Timing,
    queue_urls: OnceCell<QueueUrls>,
    organization_tree: KeptTree,
    /// Whether Lacework refused the drain's search by AWS account; the drain then lists
    /// whole sub-accounts for as long as this container lives.
    pub(crate) search_refused: AtomicBool,
    /// The budget the container's last run learned from Lacework's answers (0: none): the
    /// next run receives its first messages for that many requests, not for the configured
    /// budget, before an answer tells it again.
    pub(crate) last_learned_budget: AtomicU32,
}

impl<P: Ports> Function<P> {
    /// The function over these services; an error when the OU rules or sub-account names in
    /// the configuration cannot be used.
    pub fn new(
        config: SnsCustomResourceConfig,
        organizations: P::Organizations,
        stack_sets: P::StackSets,
        queues: P::Queues,
        secrets: Arc<P::Secrets>,
        tokens: Arc<P::Tokens>,
    ) -> Result<Self, Error> {
        let routing = SubAccountRouting::from_settings(&config.lacework)?;
        Ok(Self {
            config,
            routing,
            organizations,
            stack_sets,
            queues,
            secrets,
            tokens,
            lacework_options: drain_client_options(),
            timing: Timing::default(),
            queue_urls: OnceCell::new(),
            organization_tree: KeptTree::default(),
            search_refused: AtomicBool::new(false),
            last_learned_budget: AtomicU32::new(0),
        })
    }

    /// The organization tree: the one this container read less than `max_age` ago, else read
    /// now (`Duration::ZERO`: always read now). Without OU rules the drain only asks which
    /// accounts are ACTIVE members, so it lists the accounts (`ListAccounts`) rather than the
    /// whole tree, which costs a call more per OU.
    pub async fn organization_tree(
        &self,
        max_age: Duration,
    ) -> Result<Arc<OrganizationTree>, Error> {
        let read = async {
            if self.routing.has_ou_rules() {
                return self.organizations.organization_tree().await;
            }
            let accounts = self.organizations.list_accounts().await?;
            Ok(OrganizationTree::accounts_only(
                accounts
                    .into_iter()
                    .map(|account| (account.id, account.name, account.status)),
            ))
        };
        self.organization_tree
            .current_or(max_age, |_| true, read)
            .await
    }

    /// The queues' URLs, looked up once (`GetQueueUrl`) and kept while the process lives.
    pub async fn queue_urls(&self) -> Result<&QueueUrls, Error> {
        self.queue_urls
            .get_or_try_init(|| async {
                let names = &self.config.installation.names;
                Ok(QueueUrls {
                    registration: self.queues.queue_url(&names.registration_queue).await?,
                    dead_letter: self
                        .queues
                        .queue_url(&names.registration_dead_letter_queue)
                        .await?,
                })
            })
            .await
    }

    /// A budget of Lacework requests for one run, as configured until Lacework says more.
    pub fn request_budget(&self) -> Arc<RequestBudget> {
        Arc::new(RequestBudget::new(
            self.config.registration_budget,
            self.config.registration_reserve,
        ))
    }

    /// A Lacework client whose every request - token requests included - is charged to
    /// `budget`, and refused once it is spent; what its answers say about the key's rate
    /// limit adjusts the budget. Its tokens come from the secret, and a refused token is
    /// renewed and written back.
    pub fn lacework_client(&self, budget: &Arc<RequestBudget>) -> Result<Client, Error> {
        let requester = BudgetedTokenRequester::new(self.tokens.clone(), budget.clone());
        let tokens = SecretsManagerTokenSource::new(self.secrets.clone(), requester);
        Client::observed(
            self.config.lacework.api_url.as_str(),
            Arc::new(BudgetedTokenSource::new(tokens, budget.clone())),
            &self.lacework_options,
            budget.clone(),
        )
    }
}

impl Function<AwsPorts> {
    /// The function over the AWS SDK and the Lacework API.
    pub async fn over_aws(config: SnsCustomResourceConfig) -> Result<Self, Error> {
        let aws = Aws::from_env().await;
        let secret = aws.secret(config.lacework.secret_arn.to_string());
        let tokens =
            KeyTokenRequester::new(config.lacework.api_url.as_str(), drain_client_options());
        Function::new(
            config,
            aws.organizations(),
            aws.stack_sets(),
            aws.queues(),
            Arc::new(secret),
            Arc::new(tokens),
        )
    }
}
