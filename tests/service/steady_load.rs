//! Steady write load from clients that behave as careful production clients do: each balances
//! its calls over the instances it knows, retries UNAVAILABLE on the next one, and retries a
//! call whose outcome it cannot know (the connection broke under it) with the same request_id,
//! so that the retry cannot write twice. Every call, retry and failure is counted, and every
//! write the service acknowledged is remembered, so that a test can check that none was lost
//! and none was made twice.

use std::collections::{BTreeMap, HashSet};
use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conversation_service::pb;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::support::{Client, signed_in_client, user_message};

/// One attempt that gets no answer at all in this long is a hang, which is a failure.
const ATTEMPT_BOUND: Duration = Duration::from_secs(20);
/// A call still failing after this long is given up, which is a failure.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// Between two rounds of a writer: steady load that leaves the two cores some room.
const ROUND_PAUSE: Duration = Duration::from_millis(10);
/// Longest wait for the load to make the progress a test asks for.
const PROGRESS_BOUND: Duration = Duration::from_secs(60);
const MESSAGES_PER_CONVERSATION: i64 = 2;

/// What every client of a test saw.
#[derive(Default)]
pub struct Tally {
    calls: AtomicU64,
    successes: AtomicU64,
    retried_unavailable: AtomicU64,
    retried_never_sent: AtomicU64,
    retried_unknown_outcome: AtomicU64,
    errors: Mutex<Vec<(Code, String)>>,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    pub fn successes(&self) -> u64 {
        self.successes.load(Ordering::SeqCst)
    }

    pub fn retried_unknown_outcome(&self) -> u64 {
        self.retried_unknown_outcome.load(Ordering::SeqCst)
    }

    /// Every error a call returned, retried or not, with its message.
    pub fn errors(&self) -> Vec<(Code, String)> {
        self.errors.lock().unwrap().clone()
    }

    /// Errors no careful client retries, hangs, and calls that never succeeded.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} calls: {} succeeded, {} retried after UNAVAILABLE, {} retried as never sent, {} \
             retried after an unknown outcome, {} failed",
            self.calls.load(Ordering::SeqCst),
            self.successes(),
            self.retried_unavailable.load(Ordering::SeqCst),
            self.retried_never_sent.load(Ordering::SeqCst),
            self.retried_unknown_outcome(),
            self.failures.lock().unwrap().len(),
        )
    }

    /// Each distinct error, with how often it came.
    pub fn error_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (code, message) in self.errors() {
            *counts.entry(format!("{code:?}: {message}")).or_default() += 1;
        }
        counts
    }

    /// Waits until `more` calls have succeeded from now on.
    pub async fn wait_for_progress(&self, more: u64) {
        let target = self.successes() + more;
        let give_up_at = Instant::now() + PROGRESS_BOUND;
        while self.successes() < target {
            assert!(
                Instant::now() < give_up_at,
                "the load made no progress ({}; failures: {:?})",
                self.summary(),
                self.failures()
            );
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until calls have returned at least `count` errors in all.
    pub async fn wait_for_errors(&self, count: usize) {
        let give_up_at = Instant::now() + PROGRESS_BOUND;
        while self.errors.lock().unwrap().len() < count {
            assert!(Instant::now() < give_up_at, "the load saw no errors ({})", self.summary());
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Counts an error; true when a careful client retries it.
    fn note_error(&self, status: &Status) -> bool {
        self.errors.lock().unwrap().push((status.code(), status.message().to_owned()));
        let counter = match verdict(status) {
            Verdict::RetryUnavailable => &self.retried_unavailable,
            Verdict::RetryNeverSent => &self.retried_never_sent,
            Verdict::RetryUnknownOutcome => &self.retried_unknown_outcome,
            Verdict::Fail => return false,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn fail(&self, failure: String) {
        self.failures.lock().unwrap().push(failure);
    }
}

/// What a careful client does after an error.
enum Verdict {
    RetryUnavailable,
    /// The client's HTTP/2 connection closed (a GOAWAY) before the call was written to it.
    RetryNeverSent,
    RetryUnknownOutcome,
    Fail,
}

fn verdict(status: &Status) -> Verdict {
    if status.code() == Code::Unavailable {
        return Verdict::RetryUnavailable;
    }
    // Made by the client itself from a transport error (which it keeps as the source), not
    // sent by the server. hyper cancels a call still queued when its connection closes: that
    // call never left the client. Any other broken connection may or may not have run it.
    let Some(source) = status.source() else { return Verdict::Fail };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(error) = cause {
        if error.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_canceled) {
            return Verdict::RetryNeverSent;
        }
        cause = error.source();
    }
    Verdict::RetryUnknownOutcome
}

/// One user's client of every instance, used in turn.
#[derive(Clone)]
pub struct RetryingClient {
    pub user_id: Uuid,
    instances: Vec<Client>,
    next: Arc<AtomicUsize>,
    tally: Arc<Tally>,
}

impl RetryingClient {
    /// A new user's client of the instances behind `channels`.
    pub fn new(channels: &[Channel], tally: Arc<Tally>) -> Self {
        let user_id = Uuid::new_v4();
        let instances =
            channels.iter().map(|channel| signed_in_client(channel.clone(), user_id)).collect();
        Self { user_id, instances, next: Arc::default(), tally }
    }

    /// Makes the call on the next instance until it succeeds, retrying what a careful client
    /// retries. `None` once it records a failure.
    pub async fn call<T, Call, Reply>(&self, what: &str, mut call: Call) -> Option<T>
    where
        Call: FnMut(Client) -> Reply,
        Reply: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let tally = &self.tally;
        let give_up_at = Instant::now() + GIVE_UP_AFTER;
        loop {
            let turn = self.next.fetch_add(1, Ordering::SeqCst) % self.instances.len();
            tally.calls.fetch_add(1, Ordering::SeqCst);
            let status = match timeout(ATTEMPT_BOUND, call(self.instances[turn].clone())).await {
                Ok(Ok(response)) => {
                    tally.successes.fetch_add(1, Ordering::SeqCst);
                    return Some(response.into_inner());
                }
                Ok(Err(status)) => status,
                Err(_) => {
                    tally.fail(format!("{what}: no answer within {ATTEMPT_BOUND:?}"));
                    return None;
                }
            };

            if !tally.note_error(&status) {
                tally.fail(format!("{what}: {:?} {:?}", status.code(), status.message()));
                return None;
            }
            if Instant::now() > give_up_at {
                tally.fail(format!("{what}: still failing after {GIVE_UP_AFTER:?}: {status:?}"));
                return None;
            }
            sleep(RETRY_BACKOFF).await;
        }
    }
}

/// The writes the service acknowledged to one user.
#[derive(Debug, Default)]
pub struct Acknowledged {
    pub user_id: Uuid,
    pub conversations: Vec<String>,
    pub messages: Vec<String>,
}

/// Writers, each a new user, that keep writing until `stop` is set.
pub fn spawn_writers(
    count: usize,
    channels: &[Channel],
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Acknowledged>> {
    (0..count)
        .map(|_| {
            tokio::spawn(keep_writing(RetryingClient::new(channels, tally.clone()), stop.clone()))
        })
        .collect()
}

/// Rounds of: create a conversation, append messages to it, read it back and check that
/// each message counted once. Stops between rounds, so that every write it began was
/// acknowledged (or recorded as a failure).
async fn keep_writing(client: RetryingClient, stop: Arc<AtomicBool>) -> Acknowledged {
    let mut acknowledged = Acknowledged { user_id: client.user_id, ..Default::default() };
    while !stop.load(Ordering::SeqCst) {
        let create = pb::CreateConversationRequest {
            conversation: None,
            request_id: Uuid::new_v4().to_string(),
        };
        let created = client.call("create", |mut instance| {
            let create = create.clone();
            async move { instance.create_conversation(create).await }
        });
        let Some(conversation) = created.await else { break };
        acknowledged.conversations.push(conversation.id.clone());

        for index in 0..MESSAGES_PER_CONVERSATION {
            let append = pb::AppendMessageRequest {
                conversation_id: conversation.id.clone(),
                message: Some(user_message(&format!("message {index} under load"))),
                request_id: Uuid::new_v4().to_string(),
            };
            let appended = client.call("append", |mut instance| {
                let append = append.clone();
                async move { instance.append_message(append).await }
            });
            let Some(message) = appended.await else { return acknowledged };
            acknowledged.messages.push(message.id);
        }

        let get = pb::GetConversationRequest { id: conversation.id.clone() };
        let read = client.call("get", |mut instance| {
            let get = get.clone();
            async move { instance.get_conversation(get).await }
        });
        let Some(read) = read.await else { break };
        if read.message_count != MESSAGES_PER_CONVERSATION {
            let count = read.message_count;
            let id = &read.id;
            client.tally.fail(format!("conversation {id} counts {count} messages, not two"));
        }
        sleep(ROUND_PAUSE).await;
    }
    acknowledged
}

/// Stops the writers and collects what each was acknowledged.
pub async fn stop_writers(
    stop: &AtomicBool,
    writers: Vec<JoinHandle<Acknowledged>>,
) -> Vec<Acknowledged> {
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.push(writer.await.expect("a writer finished without panicking"));
    }
    acknowledged
}

/// Checks that the database holds exactly the acknowledged writes of each user: every one of
/// them, and nothing else (a retry that wrote twice would leave a row nobody was told of).
pub async fn assert_stored_exactly(db: &PgPool, acknowledged: &[Acknowledged]) {
    for writes in acknowledged {
        let mut transaction = db.begin().await.expect("a transaction");
        // Row-level security shows the user's rows only; a superuser sees them anyway.
        sqlx::query("SELECT set_config('conversation.user_id', $1, true)")
            .bind(writes.user_id.to_string())
            .execute(&mut *transaction)
            .await
            .unwrap();
        let conversations: Vec<String> =
            sqlx::query_scalar("SELECT id::text FROM conversations WHERE user_id = $1")
                .bind(writes.user_id)
                .fetch_all(&mut *transaction)
                .await
                .unwrap();
        let messages: Vec<String> =
            sqlx::query_scalar("SELECT id::text FROM messages WHERE user_id = $1")
                .bind(writes.user_id)
                .fetch_all(&mut *transaction)
                .await
                .unwrap();
        transaction.rollback().await.unwrap();

        assert_same_ids("conversations", &writes.conversations, &conversations);
        assert_same_ids("messages", &writes.messages, &messages);
    }
}

fn assert_same_ids(what: &str, acknowledged: &[String], stored: &[String]) {
    let acknowledged_set: HashSet<&String> = acknowledged.iter().collect();
    let stored_set: HashSet<&String> = stored.iter().collect();
    let missing: Vec<_> = acknowledged_set.difference(&stored_set).collect();
    let unacknowledged: Vec<_> = stored_set.difference(&acknowledged_set).collect();

    assert_eq!(acknowledged_set.len(), acknowledged.len(), "one of the {what} acknowledged twice");
    assert!(missing.is_empty(), "acknowledged {what} missing from the database: {missing:?}");
    assert!(unacknowledged.is_empty(), "{what} stored but never acknowledged: {unacknowledged:?}");
}
