//! The second wall: row-level security holds on its own, without the store's user filters.
//! Every statement here deliberately leaves out `WHERE user_id = ...` and runs as the
//! service's runtime role.

use conversation_service::database::RUNTIME_ROLE;
use conversation_service::pb;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::support::{TestApp, fresh_database};

/// A pool of exactly one connection as the runtime role, so that every transaction reuses
/// the same server session.
async fn runtime_pool(database: &PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(database.clone().username(RUNTIME_ROLE))
        .await
        .unwrap()
}

async fn scoped_count(pool: &PgPool, user: Option<Uuid>, table: &str) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    if let Some(user) = user {
        sqlx::query("SELECT set_config('conversation.user_id', $1, true)")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let sql = format!("SELECT count(*) FROM {table}");
    let count = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    count
}

#[tokio::test]
async fn an_unscoped_statement_sees_only_the_callers_rows() {
    let database = fresh_database().await;
    let app = TestApp::spawn_on(database.clone(), Default::default()).await;
    let mut alice = app.user();
    let mut bob = app.user();
    let alices = alice
        .client
        .create_conversation(pb::CreateConversationRequest {
            conversation: None,
            request_id: "alice-once".into(),
        })
        .await
        .unwrap()
        .into_inner();
    alice.append(&alices.id, "private").await;
    bob.create_titled("Bob's").await;
    let pool = runtime_pool(&database).await;

    // Per table: rows Alice owns and rows Bob owns.
    for (table, alices_rows, bobs_rows) in
        [("conversations", 1, 1), ("messages", 1, 0), ("request_ids", 1, 0)]
    {
        let as_nobody = scoped_count(&pool, None, table).await;
        let as_alice = scoped_count(&pool, Some(alice.id), table).await;
        let as_bob = scoped_count(&pool, Some(bob.id), table).await;

        assert_eq!(as_nobody, 0, "{table} without a caller");
        assert_eq!(as_alice, alices_rows, "{table} as Alice");
        assert_eq!(as_bob, bobs_rows, "{table} as Bob");
    }
}

#[tokio::test]
async fn a_pooled_connection_carries_nothing_of_one_caller_into_the_next_transaction() {
    let database = fresh_database().await;
    let app = TestApp::spawn_on(database.clone(), Default::default()).await;
    let mut alice = app.user();
    alice.create_titled("Alice's").await;
    let pool = runtime_pool(&database).await;

    let during = scoped_count(&pool, Some(alice.id), "conversations").await;
    let after = scoped_count(&pool, None, "conversations").await;
    let setting: Option<String> =
        sqlx::query_scalar("SELECT NULLIF(current_setting('conversation.user_id', true), '')")
            .fetch_one(&pool)
            .await
            .unwrap();

    assert_eq!(during, 1);
    assert_eq!(after, 0);
    assert_eq!(setting, None);
}

#[tokio::test]
async fn the_runtime_role_cannot_write_or_change_another_users_rows() {
    let database = fresh_database().await;
    let app = TestApp::spawn_on(database.clone(), Default::default()).await;
    let mut alice = app.user();
    let mut bob = app.user();
    let alices = alice.create_titled("Alice's").await;
    bob.create_titled("Bob's").await;
    let pool = runtime_pool(&database).await;

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('conversation.user_id', $1, true)")
        .bind(bob.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let renamed = sqlx::query("UPDATE conversations SET title = 'taken'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    let forged = sqlx::query("INSERT INTO conversations (id, user_id) VALUES ($1, $2)")
        .bind(Uuid::new_v4())
        .bind(alice.id)
        .execute(&mut *tx)
        .await;
    drop(tx);

    assert_eq!(renamed, 1, "only Bob's own conversation");
    assert!(forged.is_err(), "a row for Alice fails the policy's WITH CHECK");
    assert_eq!(alice.get(&alices.id).await.unwrap().title, "Alice's");
}

#[tokio::test]
async fn the_runtime_role_owns_nothing_and_cannot_bypass_row_level_security() {
    let database = fresh_database().await;
    let pool = runtime_pool(&database).await;

    let role = sqlx::query(
        "SELECT rolsuper, rolbypassrls, \
                (SELECT count(*) FROM pg_tables WHERE tableowner = current_user) AS owned \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    assert!(!role.get::<bool, _>("rolsuper"));
    assert!(!role.get::<bool, _>("rolbypassrls"));
    assert_eq!(role.get::<i64, _>("owned"), 0);
}

#[tokio::test]
async fn partitions_the_runtime_role_asks_for_belong_to_the_tables_owner() {
    let database = fresh_database().await;
    let pool = runtime_pool(&database).await;

    sqlx::query("SELECT ensure_message_partitions(15)").execute(&pool).await.unwrap();
    let owned_by_runtime: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'messages_y%' \
         AND tableowner = current_user",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let partitions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'messages_y%'")
            .fetch_one(&pool)
            .await
            .unwrap();

    assert_eq!(owned_by_runtime, 0);
    assert!(partitions >= 16, "this month and the next fifteen: {partitions}");
}
