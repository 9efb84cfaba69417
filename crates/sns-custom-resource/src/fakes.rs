//! In-memory fakes of the AWS ports, and a loopback listener that plays CloudFormation's
//! `ResponseURL`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use lwct_aws::organizations::{MemberAccount, Organizations};
use lwct_aws::queue::{MessageQueues, RejectedMessage};
use lwct_aws::registration_queue::{ReceivedMessage, RegistrationQueue};
use lwct_aws::secrets::MemorySecretStore;
use lwct_domain::mapping::{AccountStatus, OrganizationAccount, OrganizationTree};
use lwct_domain::{AccountId, Error};
use lwct_lacework::KeyTokenRequester;
use serde_json::Value;

use crate::function::Ports;

/// The ports of the tests: fakes for AWS, the real token requester (against the emulator).
pub struct TestPorts;

impl Ports for TestPorts {
    type Organizations = FakeOrganizations;
    type Queues = FakeQueues;
    type Secrets = MemorySecretStore;
    type Tokens = KeyTokenRequester;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An organization held in memory; counts how often the whole tree is read.
pub struct FakeOrganizations {
    tree: Mutex<OrganizationTree>,
    pub tree_reads: AtomicUsize,
}

impl FakeOrganizations {
    pub fn new(tree: OrganizationTree) -> Self {
        Self {
            tree: Mutex::new(tree),
            tree_reads: AtomicUsize::new(0),
        }
    }

    /// Moves an account under another parent (`MoveAccount`).
    pub fn move_account(&self, account: &AccountId, parent: &str) {
        let mut tree = lock(&self.tree);
        if let Some(found) = tree.account(account).cloned() {
            tree.add_account(OrganizationAccount {
                parent_id: parent.to_owned(),
                ..found
            });
        }
    }

    pub fn tree_reads(&self) -> usize {
        self.tree_reads.load(Ordering::SeqCst)
    }
}

impl Organizations for FakeOrganizations {
    async fn management_account(&self) -> Result<AccountId, Error> {
        AccountId::parse("111122223333")
    }

    async fn describe_account(&self, account: &AccountId) -> Result<Option<MemberAccount>, Error> {
        Ok(lock(&self.tree).account(account).map(member))
    }

    async fn list_accounts(&self) -> Result<Vec<MemberAccount>, Error> {
        Ok(lock(&self.tree).accounts().map(member).collect())
    }

    async fn organization_tree(&self) -> Result<OrganizationTree, Error> {
        self.tree_reads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.tree).clone())
    }
}

fn member(account: &OrganizationAccount) -> MemberAccount {
    MemberAccount {
        id: account.id.clone(),
        name: account.name.clone(),
        status: account.status,
    }
}

/// One message of a fake queue.
#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub id: u64,
    pub body: String,
    pub receive_count: u32,
    pub visible: bool,
    receipt: Option<String>,
    /// The visibility timeout last set by the consumer, if any.
    pub hidden_for: Option<Duration>,
    /// For dead-lettered messages, the `reason` attribute.
    pub reason: Option<String>,
}

#[derive(Default)]
struct QueuesState {
    next_id: u64,
    /// Queue name -> messages, oldest first.
    queues: BTreeMap<String, Vec<FakeMessage>>,
    refuse_sends: bool,
}

/// SQS queues in memory, with SQS's visibility rules (time passes only when told to).
#[derive(Default)]
pub struct FakeQueues {
    state: Mutex<QueuesState>,
}

const URL_START: &str = "https://sqs.us-east-1.amazonaws.com/111122223333/";

fn queue_name(url: &str) -> String {
    url.strip_prefix(URL_START).unwrap_or(url).to_owned()
}

impl FakeQueues {
    /// Every message of the queue `name`, visible or not.
    pub fn messages(&self, name: &str) -> Vec<FakeMessage> {
        lock(&self.state)
            .queues
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// The bodies of the queue `name`.
    pub fn bodies(&self, name: &str) -> Vec<String> {
        self.messages(name).into_iter().map(|m| m.body).collect()
    }

    /// Puts a message on the queue `name`, as another function would.
    pub fn put(&self, name: &str, body: &str) {
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = state.next_id;
        state
            .queues
            .entry(name.to_owned())
            .or_default()
            .push(FakeMessage {
                id,
                body: body.to_owned(),
                receive_count: 0,
                visible: true,
                receipt: None,
                hidden_for: None,
                reason: None,
            });
    }

    /// Every hidden message's visibility timeout ends.
    pub fn time_passes(&self) {
        for messages in lock(&self.state).queues.values_mut() {
            for message in messages {
                message.visible = true;
            }
        }
    }

    /// Makes `SendMessageBatch` fail (or work again).
    pub fn refuse_sends(&self, refuse: bool) {
        lock(&self.state).refuse_sends = refuse;
    }
}

impl MessageQueues for FakeQueues {
    async fn queue_url(&self, name: &str) -> Result<String, Error> {
        Ok(format!("{URL_START}{name}"))
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
    ) -> Result<Vec<RejectedMessage>, Error> {
        if lock(&self.state).refuse_sends {
            return Err(Error::Aws {
                operation: "sqs:SendMessageBatch".into(),
                code: Some("AccessDenied".into()),
                message: "not authorized to perform sqs:SendMessageBatch".into(),
                retryable: false,
            });
        }
        for body in bodies {
            self.put(&queue_name(queue_url), body);
        }
        Ok(Vec::new())
    }
}

impl RegistrationQueue for FakeQueues {
    async fn receive(
        &self,
        queue_url: &str,
        max: u32,
        _visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let mut state = lock(&self.state);
        let messages = state.queues.entry(queue_name(queue_url)).or_default();
        let mut received = Vec::new();
        for message in messages.iter_mut().filter(|m| m.visible) {
            if received.len() >= max.min(10) as usize {
                break;
            }
            message.visible = false;
            message.receive_count += 1;
            let receipt = format!("{}-{}", message.id, message.receive_count);
            message.receipt = Some(receipt.clone());
            received.push(ReceivedMessage {
                message_id: message.id.to_string(),
                body: message.body.clone(),
                receipt_handle: receipt,
                receive_count: message.receive_count,
            });
        }
        Ok(received)
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), Error> {
        let mut state = lock(&self.state);
        let messages = state.queues.entry(queue_name(queue_url)).or_default();
        let before = messages.len();
        messages.retain(|m| m.receipt.as_deref() != Some(receipt_handle));
        if messages.len() == before {
            return Err(receipt_error("sqs:DeleteMessage"));
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), Error> {
        let mut state = lock(&self.state);
        let messages = state.queues.entry(queue_name(queue_url)).or_default();
        let message = messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt_handle))
            .ok_or_else(|| receipt_error("sqs:ChangeMessageVisibility"))?;
        message.visible = visibility.is_zero();
        message.hidden_for = Some(visibility);
        Ok(())
    }

    async fn dead_letter(
        &self,
        dead_letter_queue_url: &str,
        body: &str,
        reason: &str,
    ) -> Result<(), Error> {
        let name = queue_name(dead_letter_queue_url);
        self.put(&name, body);
        if let Some(last) = lock(&self.state)
            .queues
            .get_mut(&name)
            .and_then(|messages| messages.last_mut())
        {
            last.reason = Some(reason.to_owned());
        }
        Ok(())
    }
}

fn receipt_error(operation: &str) -> Error {
    Error::Aws {
        operation: operation.into(),
        code: Some("ReceiptHandleIsInvalid".into()),
        message: "the receipt handle is not current".into(),
        retryable: false,
    }
}

/// An answer CloudFormation would have received.
#[derive(Debug, Clone)]
pub struct Answer {
    pub method: Method,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Value,
}

/// A loopback HTTP listener that records every request, as CloudFormation's pre-signed
/// `ResponseURL` would.
pub struct AnswerListener {
    pub port: u16,
    answers: Arc<Mutex<Vec<Answer>>>,
}

impl AnswerListener {
    pub async fn start() -> Self {
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(record).with_state(answers.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, answers }
    }

    /// A `ResponseURL` on this listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn answers(&self) -> Vec<Answer> {
        lock(&self.answers).clone()
    }
}

async fn record(
    State(answers): State<Arc<Mutex<Vec<Answer>>>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&answers).push(Answer {
        method,
        path: uri.path().to_owned(),
        content_type,
        body,
    });
    StatusCode::OK
}

/// The organization of the tests: Security (-> secops) and Workloads (-> prod) under the root.
pub fn organization() -> OrganizationTree {
    use lwct_domain::mapping::OrganizationalUnit;
    let mut tree = OrganizationTree::new("r-root");
    for (id, name) in [("ou-sec", "Security"), ("ou-work", "Workloads")] {
        tree.add_unit(OrganizationalUnit {
            id: id.into(),
            name: name.into(),
            parent_id: "r-root".into(),
        });
    }
    let mut add = |id: &str, parent: &str, status: AccountStatus| {
        tree.add_account(OrganizationAccount {
            id: AccountId::parse(id).unwrap(),
            name: format!("account {id}"),
            parent_id: parent.into(),
            status,
        });
    };
    add(SECURITY_ACCOUNT, "ou-sec", AccountStatus::Active);
    add(WORKLOAD_ACCOUNT, "ou-work", AccountStatus::Active);
    add(ROOT_ACCOUNT, "r-root", AccountStatus::Active);
    add(SUSPENDED_ACCOUNT, "ou-work", AccountStatus::Suspended);
    for index in 0..10 {
        add(&many_account(index), "r-root", AccountStatus::Active);
    }
    tree
}

/// An ACTIVE account in Security.
pub const SECURITY_ACCOUNT: &str = "222233334444";
/// An ACTIVE account in Workloads.
pub const WORKLOAD_ACCOUNT: &str = "333344445555";
/// An ACTIVE account directly under the root.
pub const ROOT_ACCOUNT: &str = "444455556666";
/// A SUSPENDED account in Workloads.
pub const SUSPENDED_ACCOUNT: &str = "555566667777";
/// An account that is not in the organization.
pub const STRANGER_ACCOUNT: &str = "777788889999";

/// Ten more ACTIVE accounts under the root.
pub fn many_account(index: usize) -> String {
    format!("1000000000{index:02}")
}
