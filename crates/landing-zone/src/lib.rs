//! The local landing zone: moto and the Lacework emulator on loopback ports, a Control
//! Tower-like organization seeded into moto, and the product's functions run as their real
//! binaries under a local Lambda Runtime API. Nothing reaches AWS or Lacework.
//!
//! ```no_run
//! # async fn demo() -> landing_zone::Result<()> {
//! use landing_zone::{LandingZone, Options};
//! let options = Options::new("/path/to/repo".into(), "/path/to/repo/target/debug".into());
//! let zone = LandingZone::start(options).await?;
//! let created = zone.setup("Create", None).await?;
//! assert_eq!(created.status(), Some("SUCCESS"));
//! // Dropping `zone` stops moto and the emulator.
//! # Ok(()) }
//! ```
//!
//! Modules: [`moto`] (venv and process), [`runtime_api`] (the Lambda Runtime API and function
//! invocation), [`seed`] (the organization, the trail, the management account's resources),
//! [`cfn`] (custom resource delivery and the `ResponseURL` listener), [`skipped`] (what moto's
//! CloudFormation skips), [`events`] (lifecycle and scheduled events), [`event_source`] (SQS
//! to Lambda), [`registration_topic`] (SNS to Lambda for the member stacks' custom resources),
//! [`loopback`] (the harness's own HTTP servers), [`flows`] (the product's flows end to end), [`state`] (`state.json` and inspection),
//! [`demo`].

pub mod aws;
pub mod cfn;
pub mod demo;
pub mod emulator;
pub mod error;
pub mod event_source;
pub mod events;
pub mod flows;
pub mod lambda_service;
pub mod loopback;
pub mod moto;
pub mod process;
pub mod registration_topic;
pub mod runtime_api;
pub mod seed;
pub mod skipped;
pub mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use lwct_aws::installation::status_of;
use lwct_domain::AccountId;
use lwct_domain::config::{self as vars, AccountLifecycleConfig, FromEnv};
use lwct_domain::naming::Names;
use lwct_domain::status::Status;
use serde_json::{Value, json};

pub use crate::cfn::CustomResourceOutcome;
pub use crate::emulator::LaceworkOptions;
pub use crate::error::{Error, Result};
pub use crate::runtime_api::{Answer, Invoked};
pub use crate::state::RunningState;

use crate::cfn::{CustomResource, ResponseListener};
use crate::lambda_service::LambdaService;
use crate::process::BackgroundProcess;
use crate::registration_topic::DeliveredRequest;
use crate::runtime_api::FunctionSpec;
use crate::seed::TrailWithoutTopic;

/// The product's functions (binary names).
pub const FUNCTIONS: [&str; 4] = [
    "setup",
    "account-lifecycle",
    "auth-refresh",
    "sns-custom-resource",
];

/// How to start a landing zone.
#[derive(Clone)]
pub struct Options {
    /// The repository (holds `requirements-dev.txt`, `tools/venv.sh`, `.venv`).
    pub root: PathBuf,
    /// Where the function binaries and `lacework-emulator` are (`target/debug`).
    pub bin_dir: PathBuf,
    /// Logs and `state.json` (`<root>/.cache/landing-zone`).
    pub work_dir: PathBuf,
    pub lacework: LaceworkOptions,
    /// Each function's timeout (its invocation deadline).
    pub function_timeout: Duration,
    /// Variables set for every function, over the landing zone's own (for example
    /// `LACEWORK_OU_RULES`, or a wrong `TOWER_LOG_ARCHIVE_ACCOUNT_NAME` in a test).
    pub function_env: BTreeMap<String, String>,
}

impl Options {
    /// Defaults for the repository at `root` with binaries in `bin_dir`.
    pub fn new(root: PathBuf, bin_dir: PathBuf) -> Options {
        Options {
            work_dir: root.join(".cache/landing-zone"),
            root,
            bin_dir,
            lacework: LaceworkOptions {
                account: "acme".to_owned(),
                sub_accounts: vec!["prod".to_owned(), "dev".to_owned()],
                key_id: "ACME_LANDING_ZONE_KEY".to_owned(),
                secret_key: "_landing_zone_secret".to_owned(),
                rate_limit: None,
            },
            function_timeout: Duration::from_secs(120),
            function_env: BTreeMap::new(),
        }
    }

    /// Sets a variable for every function.
    pub fn with_function_env(mut self, name: &str, value: &str) -> Options {
        self.function_env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// `state.json` of a landing zone left running by `up`.
    pub fn state_file(&self) -> PathBuf {
        self.work_dir.join("state.json")
    }

    fn log(&self, name: &str) -> PathBuf {
        self.work_dir.join("logs").join(format!("{name}.log"))
    }
}

/// The repository root: the nearest folder at or above `start` with `requirements-dev.txt`
/// and `tools/venv.sh`.
pub fn find_repository_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|folder| {
            folder.join("requirements-dev.txt").is_file() && folder.join("tools/venv.sh").is_file()
        })
        .map(Path::to_path_buf)
}

/// A local landing zone. One started here stops its processes when dropped; one attached to
/// a `state.json` leaves them alone.
pub struct LandingZone {
    pub options: Options,
    /// What `state.json` records: moto and the emulator, the organization, the trail, the
    /// management account's resources.
    pub state: RunningState,
    /// The names every resource gets (default prefix).
    pub names: Names,
    /// Every registration topic notification delivered so far, in order.
    delivered: Mutex<Vec<DeliveredRequest>>,
    management: SdkConfig,
    listener: ResponseListener,
    /// Lambda's Invoke API, for the invocations the functions start themselves.
    lambda: LambdaService,
    /// moto and the emulator, when started here.
    processes: Vec<BackgroundProcess>,
}

impl LandingZone {
    /// The second trail, without an SNS topic, that `start` seeds (used only where a test
    /// names it).
    pub fn trail_without_topic(&self) -> TrailWithoutTopic {
        TrailWithoutTopic::of(&self.state.organization)
    }

    /// Installs moto if needed, starts moto and the emulator on free loopback ports, and seeds
    /// the organization, the trail and the management account's resources.
    pub async fn start(options: Options) -> Result<LandingZone> {
        let moto_server = moto::ensure_installed(&options.root)?;
        let moto = moto::start(&moto_server, &options.log("moto")).await?;
        let emulator = emulator::start(
            &options.bin_dir,
            &options.lacework,
            &options.log("lacework-emulator"),
        )
        .await?;
        let management = aws::management_config(&moto.url).await;
        let organization = seed::organization(&management).await?;
        let log_archive =
            aws::account_config(&management, &moto.url, &organization.log_archive).await?;
        let audit = aws::account_config(&management, &moto.url, &organization.audit).await?;
        let trail = seed::trail(&management, &log_archive, &audit, &organization).await?;
        seed::trail_without_topic(&management, &log_archive, &organization).await?;
        let product = seed::product_resources(
            &management,
            &Names::default(),
            &options.lacework.key_id,
            &options.lacework.secret_key,
        )
        .await?;
        let registration_deliveries =
            registration_topic::subscribe(&management, &product.registration_topic_arn).await?;
        let state = RunningState {
            moto: state::Endpoint {
                url: moto.url,
                pid: Some(moto.process.pid()),
            },
            lacework: state::LaceworkEndpoint {
                emulator: state::Endpoint {
                    url: emulator.url,
                    pid: Some(emulator.process.pid()),
                },
                account: options.lacework.account.clone(),
                sub_accounts: options.lacework.sub_accounts.clone(),
                key_id: options.lacework.key_id.clone(),
            },
            stack_id: format!(
                "arn:aws:cloudformation:{}:{}:stack/lacework-control-tower/{}",
                aws::REGION,
                organization.management,
                runtime_api::random_request_id()
            ),
            organization,
            trail,
            product,
            bin_dir: options.bin_dir.display().to_string(),
            registration_deliveries,
            function_env: options.function_env.clone(),
        };
        let processes = vec![moto.process, emulator.process];
        LandingZone::assemble(options, state, processes).await
    }

    /// A landing zone left running by `up`, as recorded in `state.json`.
    pub async fn attach(options: Options, state: RunningState) -> Result<LandingZone> {
        LandingZone::assemble(options, state, Vec::new()).await
    }

    async fn assemble(
        options: Options,
        state: RunningState,
        processes: Vec<BackgroundProcess>,
    ) -> Result<LandingZone> {
        Ok(LandingZone {
            management: aws::management_config(&state.moto.url).await,
            names: Names::default(),
            delivered: Mutex::default(),
            listener: ResponseListener::start().await?,
            lambda: LambdaService::start().await?,
            processes,
            options,
            state,
        })
    }

    /// Leaves moto and the emulator running (for `landing-zone up`) and returns the record
    /// to save in `state.json`.
    pub fn detach(self) -> RunningState {
        for process in self.processes {
            process.detach();
        }
        self.state
    }

    /// The SDK configuration of the management account.
    pub fn management(&self) -> &SdkConfig {
        &self.management
    }

    /// The SDK configuration of `account`, by AssumeRole into `AWSControlTowerExecution`.
    pub async fn account(&self, account: &AccountId) -> Result<SdkConfig> {
        aws::account_config(&self.management, &self.state.moto.url, account).await
    }

    /// The environment a function gets: AWS (moto, dummy credentials, region), its
    /// configuration (config.rs's variables), then [`Options::function_env`] over both.
    pub fn function_environment(&self) -> Vec<(String, String)> {
        let organization = &self.state.organization;
        let mut env: BTreeMap<String, String> = aws::function_environment(&self.state.moto.url)
            .into_iter()
            .collect();
        let ours = [
            (vars::LACEWORK_URL, self.state.lacework.emulator.url.clone()),
            (
                vars::LACEWORK_ACCOUNT,
                self.options.lacework.account.clone(),
            ),
            (
                vars::LACEWORK_SECRET_ARN,
                self.state.product.secret_arn.clone(),
            ),
            (
                vars::TOWER_LOG_ARCHIVE_ACCOUNT_ID,
                organization.log_archive.to_string(),
            ),
            (vars::TOWER_AUDIT_ACCOUNT_ID, organization.audit.to_string()),
            (vars::TOWER_MONITOR_EXISTING_ACCOUNTS, "true".to_owned()),
            (
                vars::TOWER_RESPONSE_URL_ALLOW,
                self.listener.server.address.to_string(),
            ),
            // Lambda is this harness (the functions invoke one another, or themselves,
            // through it); every other service is moto.
            ("AWS_ENDPOINT_URL_LAMBDA", self.lambda.server.url()),
        ];
        env.extend(ours.map(|(name, value)| (name.to_owned(), value)));
        env.extend(self.options.function_env.clone());
        env.into_iter().collect()
    }

    /// How function `name` (one of [`FUNCTIONS`]) is run; invoked through Lambda's API (see
    /// [`lambda_service`]), it runs so from now on.
    pub fn function(&self, name: &str) -> Result<FunctionSpec> {
        if !FUNCTIONS.contains(&name) {
            return Err(Error::Usage(format!(
                "unknown function {name:?}; the functions are {}",
                FUNCTIONS.join(", ")
            )));
        }
        let function_name = format!("{}-{name}", self.names_prefix());
        Ok(FunctionSpec {
            binary: self.options.bin_dir.join(name),
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{function_name}",
                aws::REGION,
                self.state.organization.management
            ),
            function_name,
            env: self.function_environment(),
            log: self.options.log(name),
            timeout: self.options.function_timeout,
        })
        .inspect(|spec| self.lambda.describe(spec))
    }

    fn names_prefix(&self) -> &str {
        // Every name is `<prefix>-<what>`; the secret's is `<prefix>-lacework-api`.
        self.names
            .secret
            .strip_suffix("-lacework-api")
            .unwrap_or("lacework-ct")
    }

    /// Invokes function `name` with `event`, as Lambda would.
    pub async fn invoke(&self, name: &str, event: Value) -> Result<Invoked> {
        runtime_api::invoke(&self.function(name)?, event).await
    }

    /// Delivers a custom resource `request` to function `name` as CloudFormation would
    /// (answer on the loopback listener), then creates what moto's CloudFormation skipped
    /// ([`skipped`]) and delivers the member stacks' registration requests it caused
    /// (teardown deletes member stack instances).
    pub async fn invoke_custom_resource(
        &self,
        name: &str,
        request: Value,
    ) -> Result<CustomResourceOutcome> {
        let outcome =
            cfn::deliver(&self.listener, &self.function(name)?, &self.lambda, request).await?;
        skipped::reconcile_audit(self).await?;
        self.deliver_registration_requests().await?;
        Ok(outcome)
    }

    /// The product stack's `setup` custom resource.
    pub fn setup_resource(&self) -> CustomResource {
        CustomResource {
            stack_id: self.state.stack_id.clone(),
            logical_resource_id: "LaceworkSetup".to_owned(),
            resource_type: "Custom::LaceworkSetup".to_owned(),
            service_token: format!(
                "arn:aws:lambda:{}:{}:function:{}-setup",
                aws::REGION,
                self.state.organization.management,
                self.names_prefix()
            ),
        }
    }

    /// The properties `template.yaml` gives the setup custom resource (its configuration,
    /// so that a change triggers an Update), from the functions' environment.
    pub fn setup_properties(&self) -> Value {
        let env: BTreeMap<String, String> = self.function_environment().into_iter().collect();
        let variable = |name: &str| env.get(name).cloned().unwrap_or_default();
        json!({
            // As template.yaml: setup hands work on to fresh invocations while the stack waits.
            "ServiceTimeout": "3600",
            "SetupVersion": "1",
            "LaceworkUrl": variable(vars::LACEWORK_URL),
            "LaceworkAccount": variable(vars::LACEWORK_ACCOUNT),
            "LaceworkApiKeyId": self.options.lacework.key_id,
            "LaceworkSubAccount": variable(vars::LACEWORK_SUB_ACCOUNT),
            "OuSubAccountRules": variable(vars::LACEWORK_OU_RULES),
            "LaceworkPrincipalArn": env
                .get(vars::LACEWORK_PRINCIPAL_ARN)
                .cloned()
                .unwrap_or_else(|| vars::DEFAULT_LACEWORK_PRINCIPAL_ARN.to_owned()),
            "Capability": env.get(vars::TOWER_CAPABILITY).cloned().unwrap_or_else(|| "Both".to_owned()),
        })
    }

    /// Sends `setup` a `Create`, `Update` or `Delete` of the product stack's custom resource.
    pub async fn setup(
        &self,
        request_type: &str,
        physical_resource_id: Option<&str>,
    ) -> Result<CustomResourceOutcome> {
        let request = self.setup_resource().request(
            request_type,
            physical_resource_id,
            self.setup_properties(),
        );
        self.invoke_custom_resource("setup", request).await
    }

    /// Writes the secret as the template does (`keyId` and `secretKey` only), for example
    /// with a wrong key.
    pub async fn put_lacework_api_key(&self, key_id: &str, secret_key: &str) -> Result<()> {
        aws_sdk_secretsmanager::Client::new(&self.management)
            .put_secret_value()
            .secret_id(&self.state.product.secret_arn)
            .secret_string(json!({"keyId": key_id, "secretKey": secret_key}).to_string())
            .send()
            .await
            .map_err(|err| error::aws("secretsmanager:PutSecretValue", err))?;
        Ok(())
    }

    /// The emulator's `/__emulator/state`.
    pub async fn lacework_state(&self) -> Result<Value> {
        emulator::inspect(&self.state.lacework.emulator.url).await
    }

    /// Everything `landing-zone state` shows: stack sets and instances, Lacework
    /// integrations and mapping files, the trail topic's subscriptions, and queued work.
    pub async fn inspect(&self) -> Result<Value> {
        let lacework = self.lacework_state().await?;
        let mut queues = serde_json::Map::new();
        for (label, url) in self.state.product.queues() {
            let view = state::peek_queue(&self.management, url).await?;
            queues.insert(label.to_owned(), json!(view));
        }
        Ok(json!({
            "stackSets": state::stack_sets(&self.management).await?,
            "lacework": {
                "integrations": state::lacework_integrations(&lacework),
                "mappingFiles": lacework.get("mappingFiles"),
            },
            "trailTopicSubscriptions": self.trail_topic_subscriptions().await?,
            "queuedWork": queues,
        }))
    }

    /// The subscriptions of the trail's topic (in Audit).
    pub async fn trail_topic_subscriptions(&self) -> Result<Vec<state::SubscriptionView>> {
        let audit = self.account(&self.state.organization.audit).await?;
        state::subscriptions(&audit, &self.state.trail.topic_arn).await
    }

    /// Where things are: endpoints, accounts, the trail and the management account's resources.
    pub fn describe(&self) -> Value {
        json!({
            "moto": self.state.moto.url,
            "lacework": {
                "url": self.state.lacework.emulator.url,
                "account": self.options.lacework.account,
                "subAccounts": self.options.lacework.sub_accounts,
            },
            "region": aws::REGION,
            "organization": self.state.organization,
            "trail": self.state.trail,
            "product": self.state.product,
            "logs": self.options.work_dir.join("logs"),
        })
    }

    /// Where each account stands, as `lwct status` reads it from this landing zone.
    pub async fn status(&self) -> Result<Status> {
        let config =
            AccountLifecycleConfig::from_env(self.function_environment()).map_err(Error::Aws)?;
        status_of(&config, &self.management)
            .await
            .map_err(Error::Aws)
    }
}
