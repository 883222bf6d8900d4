//! GetConversation runs as one statement that sets the caller and then reads the row. Its
//! settings must end with that statement, as a transaction's do, because the connection goes
//! straight on to the next call, which may act for someone else.

use conversation_service::store::{Scope, StoreError};
use uuid::Uuid;

use crate::support::store_with_pool_of;

#[tokio::test]
async fn a_get_leaves_neither_its_caller_nor_its_lock_timeout_on_the_connection() {
    // One connection, so that every statement below meets the same server session.
    let (app, pool, store) = store_with_pool_of(1).await;
    let mut alice = app.user();
    let id: Uuid = alice.create_titled("Alice's").await.id.parse().unwrap();

    let as_alice = store.get_conversation(&Scope::user(alice.id), id).await;
    let as_bob = store.get_conversation(&Scope::user(Uuid::new_v4()), id).await;
    // The store keeps the connection warm for a quarter of a second, then gives it back.
    let (caller, lock_timeout): (Option<String>, String) = sqlx::query_as(
        "SELECT NULLIF(current_setting('conversation.user_id', true), ''), \
                current_setting('lock_timeout')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let visible: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations").fetch_one(&pool).await.unwrap();

    assert_eq!(as_alice.unwrap().title.as_deref(), Some("Alice's"));
    assert!(matches!(as_bob, Err(StoreError::NotFound)), "{as_bob:?}");
    assert_eq!(caller, None);
    assert_eq!(lock_timeout, "0");
    assert_eq!(visible, 0);
}
