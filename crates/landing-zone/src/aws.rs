//! AWS SDK configurations that reach moto: the management account (moto's default account for
//! any plain access key) and, through STS `AssumeRole` into `AWSControlTowerExecution` as
//! production does, any other account of the organization.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use lwct_domain::AccountId;

use crate::error::{self, Error, Result};

/// The region of the local landing zone (Control Tower's home region).
pub const REGION: &str = "us-east-1";

/// moto's management account: the account of any access key that is not an assumed role's.
pub const MANAGEMENT_ACCOUNT: &str = "123456789012";

/// The role Control Tower creates in every account for its administrators.
pub const EXECUTION_ROLE: &str = "AWSControlTowerExecution";

/// Dummy credentials: moto accepts any.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

/// The SDK configuration of the management account at moto's `endpoint`.
pub async fn management_config(endpoint: &str) -> SdkConfig {
    config_with(
        endpoint,
        Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "landing-zone"),
    )
    .await
}

/// The SDK configuration of `account`, reached by assuming its `AWSControlTowerExecution` role
/// from the management account.
pub async fn account_config(
    management: &SdkConfig,
    endpoint: &str,
    account: &AccountId,
) -> Result<SdkConfig> {
    let sts = aws_sdk_sts::Client::new(management);
    let assumed = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{EXECUTION_ROLE}"))
        .role_session_name("landing-zone")
        .send()
        .await
        .map_err(|err| error::aws("sts:AssumeRole", err))?;
    let Some(credentials) = assumed.credentials() else {
        return Err(Error::Usage(format!(
            "sts:AssumeRole into {account} returned no credentials"
        )));
    };
    Ok(config_with(
        endpoint,
        Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            None,
            "landing-zone-assumed-role",
        ),
    )
    .await)
}

async fn config_with(endpoint: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

/// An S3 client for moto: path-style addressing, since bucket host names do not resolve on
/// loopback.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The variables a function process needs to reach moto as the management account.
pub fn function_environment(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        // No instance metadata lookups and no profile files on a developer machine.
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

/// Creates the queue `request` describes (`CreateQueue`) and returns its URL and ARN.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    request: aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder,
) -> Result<(String, String)> {
    let url = request
        .send()
        .await
        .map_err(|err| error::aws("sqs:CreateQueue", err))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let arn = queue_arn(sqs, &url).await?;
    Ok((url, arn))
}

/// The ARN of the queue at `url` (`GetQueueAttributes`).
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    Ok(sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|err| error::aws("sqs:GetQueueAttributes", err))?
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default())
}

/// Up to ten visible messages of the queue at `url`, hidden for `visibility_seconds`
/// (`ReceiveMessage`, without waiting).
pub async fn receive_now(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    visibility_seconds: Option<i32>,
) -> Result<Vec<aws_sdk_sqs::types::Message>> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .set_visibility_timeout(visibility_seconds)
        .wait_time_seconds(0)
        .send()
        .await
        .map_err(|err| error::aws("sqs:ReceiveMessage", err))?;
    Ok(received.messages().to_vec())
}

/// Deletes a received `message` from the queue at `url` (`DeleteMessage`), once handled.
pub async fn delete_message(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    message: &aws_sdk_sqs::types::Message,
) -> Result<()> {
    if let Some(receipt) = message.receipt_handle() {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|err| error::aws("sqs:DeleteMessage", err))?;
    }
    Ok(())
}

/// The subscriptions of the topic `topic_arn` (`ListSubscriptionsByTopic`, its first page: the
/// landing zone's topics have a few).
pub async fn topic_subscriptions(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
) -> Result<Vec<aws_sdk_sns::types::Subscription>> {
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(|err| error::aws("sns:ListSubscriptionsByTopic", err))?;
    Ok(listed.subscriptions().to_vec())
}
