//! Limits under load: the per-user rate, the pool's wait, the caller's deadline reaching
//! PostgreSQL, and the 4 MiB message size at its edge.

use std::time::Duration;

use conversation_service::pb;
use conversation_service::server::ServerLimits;
use prost::Message as _;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::support::{AppOptions, TestApp, TestUser};

fn rate_limited(per_second: u32, burst: u32) -> AppOptions {
    AppOptions {
        limits: Some(ServerLimits {
            rate_per_second: per_second,
            rate_burst: burst,
            ..ServerLimits::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_user_over_the_rate_limit_is_told_when_to_retry_and_others_are_unaffected() {
    let app = TestApp::spawn_with(rate_limited(1, 3)).await;
    let mut alice = app.user();
    let mut bob = app.user();
    let missing = uuid::Uuid::new_v4().to_string();

    for _ in 0..3 {
        assert_eq!(alice.get(&missing).await.unwrap_err().code(), Code::NotFound);
    }
    let limited = alice.get(&missing).await.unwrap_err();
    let bobs = bob.get(&missing).await.unwrap_err();

    assert_eq!(limited.code(), Code::ResourceExhausted);
    let retry = limited.get_details_retry_info().expect("RetryInfo is attached");
    let delay = retry.retry_delay.expect("the delay is set");
    assert!(delay > Duration::ZERO && delay <= Duration::from_secs(1), "{delay:?}");
    assert_eq!(bobs.code(), Code::NotFound, "Bob has a bucket of his own");
}

/// Holds a row lock on `conversation_id` from outside the service until dropped.
async fn lock_conversation(
    app: &TestApp,
    conversation_id: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut lock = app.db.begin().await.unwrap();
    sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(uuid::Uuid::parse_str(conversation_id).unwrap())
        .fetch_one(&mut *lock)
        .await
        .unwrap();
    lock
}

fn rename(id: &str) -> pb::UpdateConversationRequest {
    pb::UpdateConversationRequest {
        conversation: Some(pb::Conversation {
            id: id.into(),
            title: "renamed".into(),
            ..Default::default()
        }),
        update_mask: None,
    }
}

#[tokio::test]
async fn a_request_that_finds_no_free_connection_in_time_is_unavailable() {
    let app = TestApp::spawn_with(AppOptions {
        pool_size: Some(1),
        acquire_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await;
    let mut alice = app.user();
    let conversation = alice.create_titled("contended").await;
    let lock = lock_conversation(&app, &conversation.id).await;
    let blocked = start_blocked_rename(&app, &alice, &conversation.id).await;

    let starved = alice.get(&conversation.id).await.unwrap_err();
    lock.rollback().await.unwrap();
    let finished = blocked.await.unwrap();

    assert_eq!(starved.code(), Code::Unavailable);
    assert_eq!(finished.unwrap().into_inner().title, "renamed");
}

#[tokio::test]
async fn health_stays_serving_while_every_pooled_connection_is_busy() {
    let app = TestApp::spawn_with(AppOptions { pool_size: Some(1), ..Default::default() }).await;
    let mut alice = app.user();
    let conversation = alice.create_titled("busy").await;
    let lock = lock_conversation(&app, &conversation.id).await;
    let blocked = start_blocked_rename(&app, &alice, &conversation.id).await;

    // Several probes (every 100 ms in tests), each allowed 1 s, while the one pooled
    // connection waits on the lock: a probe that queued for it would time out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let request = HealthCheckRequest { service: pb::SERVICE_NAME.into() };
    let health = HealthClient::new(app.channel()).check(request).await.unwrap().into_inner();
    lock.rollback().await.unwrap();
    blocked.await.unwrap().unwrap();

    assert_eq!(health.status(), ServingStatus::Serving);
}

#[tokio::test]
async fn the_callers_deadline_cancels_the_statement_in_postgresql() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("deadline").await;
    let lock = lock_conversation(&app, &conversation.id).await;

    let mut request = tonic::Request::new(rename(&conversation.id));
    request.set_timeout(Duration::from_millis(300));
    let status = alice.client.update_conversation(request).await.unwrap_err();
    wait_for_lock_waiters(&app, 0).await;
    lock.rollback().await.unwrap();

    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    assert_eq!(alice.get(&conversation.id).await.unwrap().title, "deadline");
}

#[tokio::test]
async fn a_get_stops_waiting_for_a_locked_table_at_the_callers_deadline() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("deadline").await;
    // What a migration's ALTER TABLE holds: even a read of one row waits behind it.
    let mut lock = app.db.begin().await.unwrap();
    sqlx::query("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let mut request =
        tonic::Request::new(pb::GetConversationRequest { id: conversation.id.clone() });
    request.set_timeout(Duration::from_millis(300));
    let status = alice.client.get_conversation(request).await.unwrap_err();
    // PostgreSQL gives up the wait on its own while the table is still locked.
    wait_for_lock_waiters(&app, 0).await;
    lock.rollback().await.unwrap();

    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    assert_eq!(alice.get(&conversation.id).await.unwrap().title, "deadline");
}

type PendingCall<T> = tokio::task::JoinHandle<Result<tonic::Response<T>, tonic::Status>>;

/// Starts a rename of a locked conversation and waits until it holds a connection, blocked
/// in PostgreSQL behind the lock.
async fn start_blocked_rename(
    app: &TestApp,
    user: &TestUser,
    conversation_id: &str,
) -> PendingCall<pb::Conversation> {
    let mut client = user.client.clone();
    let request = rename(conversation_id);
    let blocked = tokio::spawn(async move { client.update_conversation(request).await });
    wait_for_lock_waiters(app, 1).await;
    blocked
}

/// Waits until exactly `count` backends of the service wait on a lock; polls, bounded.
async fn wait_for_lock_waiters(app: &TestApp, count: i64) {
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE usename = 'conversation_service_runtime' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if waiting == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never saw {count} service backends waiting on a lock");
}

/// A GetConversation request whose encoding is exactly `bytes` long.
fn get_request_of_size(bytes: usize) -> pb::GetConversationRequest {
    let mut request = pb::GetConversationRequest { id: "x".repeat(bytes) };
    while request.encoded_len() > bytes {
        request.id.pop();
    }
    assert_eq!(request.encoded_len(), bytes);
    request
}

#[tokio::test]
async fn a_request_of_exactly_4_mib_is_read_and_one_byte_more_is_refused() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let limit = 4 * 1024 * 1024;

    let at_limit = alice.client.get_conversation(get_request_of_size(limit)).await.unwrap_err();
    let over_limit =
        alice.client.get_conversation(get_request_of_size(limit + 1)).await.unwrap_err();

    assert_eq!(at_limit.code(), Code::InvalidArgument, "read, then refused as a bad id");
    // tonic's own answer to an oversized message, before any of the service's code runs.
    assert_eq!(over_limit.code(), Code::OutOfRange, "{over_limit:?}");
}

#[tokio::test]
async fn calls_over_the_per_connection_limit_are_shed_at_once() {
    let app = TestApp::spawn_with(AppOptions {
        limits: Some(ServerLimits {
            concurrent_calls_per_connection: 1,
            rate_per_second: 0,
            ..ServerLimits::default()
        }),
        ..Default::default()
    })
    .await;
    let mut alice = app.user();
    let conversation = alice.create_titled("busy").await;
    let lock = lock_conversation(&app, &conversation.id).await;
    let blocked = start_blocked_rename(&app, &alice, &conversation.id).await;

    let shed = alice.get(&conversation.id).await.unwrap_err();
    lock.rollback().await.unwrap();
    blocked.await.unwrap().unwrap();

    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(alice.get(&conversation.id).await.is_ok(), "served again once the call ended");
}
