//! `lwct status`: where each account of the organization stands, read with the caller's AWS
//! credentials and the product's secret, changing nothing.
//!
//! The installation is described by the functions' own environment variables (the stack's
//! values): `AWS_REGION`, `TOWER_NAME_PREFIX`, `LACEWORK_URL`, `LACEWORK_ACCOUNT`,
//! `LACEWORK_SUB_ACCOUNT`, `LACEWORK_OU_RULES`, `LACEWORK_SECRET_ARN`, `TOWER_CAPABILITY`,
//! `TOWER_LOG_ARCHIVE_ACCOUNT_ID`, `TOWER_AUDIT_ACCOUNT_ID`. `AWS_ENDPOINT_URL` points it at
//! the local landing zone.

use lwct_domain::Error;
use lwct_domain::config::{AccountLifecycleConfig, FromEnv};
use lwct_domain::status::Status;

/// Reads the installation's status.
pub async fn read() -> Result<Status, Error> {
    let config = AccountLifecycleConfig::from_process_env()?;
    let sdk = lwct_runtime::aws_config().await;
    lwct_aws::installation::status_of(&config, &sdk).await
}
