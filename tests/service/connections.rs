//! The store lends pooled connections to its calls and keeps the ones that finished cleanly
//! for the next call, skipping the round trip of sqlx's release. These tests hold it to the
//! rest of the bargain: a failed or cancelled call's connection is cleaned before reuse, calls
//! waiting for a full pool are served, idle connections go back to the pool, and closing the
//! store lets the pool close.

use std::time::Duration;

use conversation_service::domain::{ContextData, Mode, Title};
use conversation_service::store::{NewConversation, Scope, Store, StoreError, Transition};
use futures::future::join_all;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::store_with_pool_of;

/// The connections the store keeps apart from sqlx's pool.
fn warm_connections(store: &Store, pool: &PgPool) -> usize {
    store.idle_connections().saturating_sub(pool.num_idle())
}

async fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

#[tokio::test]
async fn a_finished_call_keeps_its_connection_for_the_next_and_idle_ones_return_to_the_pool() {
    let (app, pool, store) = store_with_pool_of(1).await;
    let alice = app.user();
    let scope = Scope::user(alice.id);

    let missing = store.get_conversation(&scope, Uuid::now_v7()).await;
    let kept_by_store = (store.idle_connections(), pool.num_idle());
    let returned = wait_until(|| pool.num_idle() == 1).await;

    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    assert_eq!(kept_by_store, (1, 0), "the store, not sqlx's pool, holds the idle connection");
    assert!(returned, "an idle connection goes back to sqlx's pool within a second");
    assert_eq!(store.idle_connections(), 1, "the store still counts it idle");
}

#[tokio::test]
async fn a_transaction_that_failed_is_rolled_back_before_its_connection_serves_another_call() {
    let (app, _pool, store) = store_with_pool_of(1).await;
    let mut alice = app.user();
    let scope = Scope::user(alice.id);
    let id: Uuid = alice.create_titled("Still active").await.id.parse().unwrap();

    let refused = store.transition(&scope, id, Transition::Unarchive, None).await;
    let new = NewConversation {
        title: Some(Title::parse("title", "After the failure").unwrap()),
        mode: Mode::Analysis,
        context_data: ContextData::empty(),
    };
    let next = store.create_conversation(&scope, new, None).await;
    let next_id = next.as_ref().map(|record| record.id.to_string()).unwrap_or_default();
    let seen_by_the_api = alice.get(&next_id).await;

    assert!(matches!(refused, Err(StoreError::WrongStatus { .. })), "{refused:?}");
    assert!(next.is_ok(), "{next:?}");
    assert_eq!(seen_by_the_api.unwrap().title, "After the failure");
}

#[tokio::test]
async fn a_cancelled_call_never_hands_its_unread_reply_to_the_next_call() {
    let (app, pool, store) = store_with_pool_of(1).await;
    let mut alice = app.user();
    let scope = Scope::user(alice.id);
    let mut ids = Vec::new();
    for title in ["First", "Second"] {
        ids.push(alice.create_titled(title).await.id.parse::<Uuid>().unwrap());
    }

    // Cancelled at different points of their round trip, once each holds a connection: some
    // before the query is written, some after, while its reply is on the way or already
    // waiting unread. Each call is polled one to three times, left alone for up to 1.5 ms,
    // then dropped; a timeout would not do, since it lets a call whose reply has arrived
    // finish. A cancelled call's
    // connection goes back through sqlx's release, never straight to the next call, and each
    // next call reads its own reply.
    let (mut cancelled_calls, mut kept_after_cancel, mut mismatches) = (0, 0, Vec::new());
    for attempt in 0..60u64 {
        let (cancelled, asked) = (ids[(attempt % 2) as usize], ids[((attempt + 1) % 2) as usize]);
        let mut call = Box::pin(store.get_conversation(&scope, cancelled));
        let mut finished = false;
        for _ in 0..=attempt % 3 {
            if futures::poll!(call.as_mut()).is_ready() {
                finished = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        std::thread::sleep(Duration::from_micros(attempt * 25));
        drop(call);
        if !finished {
            cancelled_calls += 1;
            kept_after_cancel += warm_connections(&store, &pool);
        }
        match store.get_conversation(&scope, asked).await {
            Ok(record) if record.id == asked => {}
            other => mismatches.push((attempt, format!("{other:?}"))),
        }
    }

    assert!(cancelled_calls > 0, "no call was cut short");
    assert_eq!(kept_after_cancel, 0, "a cancelled call's connection was kept for the next");
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

#[tokio::test]
async fn calls_waiting_for_a_full_pool_are_served_by_the_calls_before_them() {
    let (app, _pool, store) = store_with_pool_of(2).await;
    let mut alice = app.user();
    let scope = Scope::user(alice.id);
    let id: Uuid = alice.create_titled("Shared").await.id.parse().unwrap();

    let calls = (0..40).map(|_| store.get_conversation(&scope, id));
    let results = join_all(calls).await;

    let failures: Vec<_> = results.iter().filter(|result| result.is_err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[tokio::test]
async fn closing_the_store_gives_its_connections_back_so_that_the_pool_closes_at_once() {
    let (app, pool, store) = store_with_pool_of(2).await;
    let alice = app.user();
    let scope = Scope::user(alice.id);
    // Idle connections go back to the pool on their own after a while; close while the store
    // still keeps one.
    let mut kept = 0;
    for _ in 0..10 {
        let calls = (0..4).map(|_| store.get_conversation(&scope, Uuid::now_v7()));
        join_all(calls).await;
        kept = warm_connections(&store, &pool);
        if kept > 0 {
            break;
        }
    }

    store.close().await;
    let kept_after_close = warm_connections(&store, &pool);
    let closed = tokio::time::timeout(Duration::from_secs(3), pool.close()).await;

    assert!(kept >= 1);
    assert_eq!(kept_after_close, 0);
    assert!(closed.is_ok(), "the pool waited for connections the store kept");
}
