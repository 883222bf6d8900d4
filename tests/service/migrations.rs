//! The migrations are reversible: all of them down and up again leaves a working schema.

use conversation_service::database::MIGRATOR;
use conversation_service::pb;
use sqlx::PgPool;

use crate::support::{AppOptions, TestApp, fresh_database};

async fn service_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> '_sqlx_migrations' ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let database = fresh_database().await;
    let pool = PgPool::connect_with(database.clone()).await.unwrap();
    let applied = service_tables(&pool).await;

    MIGRATOR.undo(&pool, 0).await.expect("every migration reverts");
    let reverted = service_tables(&pool).await;
    MIGRATOR.run(&pool).await.expect("every migration applies again");
    let reapplied = service_tables(&pool).await;
    pool.close().await;

    assert!(applied.contains(&"conversations".to_string()));
    assert!(reverted.is_empty(), "left behind: {reverted:?}");
    assert_eq!(reapplied, applied);

    let app = TestApp::spawn_on(database, AppOptions::default()).await;
    let mut alice = app.user();
    let conversation = alice.create(pb::Conversation::default()).await;
    alice.append(&conversation.id, "the schema works after a round trip").await;
    assert_eq!(alice.get(&conversation.id).await.unwrap().message_count, 1);
}

#[tokio::test]
async fn reverting_keeps_a_users_table_the_service_did_not_create() {
    let database = fresh_database().await;
    let pool = PgPool::connect_with(database).await.unwrap();
    MIGRATOR.undo(&pool, 0).await.unwrap();
    sqlx::query("CREATE TABLE users (id UUID PRIMARY KEY, email TEXT)")
        .execute(&pool)
        .await
        .unwrap();

    MIGRATOR.run(&pool).await.expect("migrations accept an existing users table");
    MIGRATOR.undo(&pool, 0).await.unwrap();

    let tables = service_tables(&pool).await;
    pool.close().await;
    assert_eq!(tables, ["users"]);
}

#[tokio::test]
async fn the_schema_has_the_six_indexes_of_the_spec() {
    let database = fresh_database().await;
    let pool = PgPool::connect_with(database).await.unwrap();

    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'conversations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;

    for spec_index in [
        "idx_conversations_user_id",
        "idx_conversations_user_active",
        "idx_conversations_user_mode",
        "idx_conversations_last_message",
        "idx_conversations_created_at",
        "idx_conversations_context",
    ] {
        assert!(indexes.iter().any(|index| index == spec_index), "{spec_index} in {indexes:?}");
    }
}

/// What `read` finds in a freshly migrated database, then after reverting every migration
/// newer than `version`.
async fn migrated_and_reverted_to<T>(version: i64, read: impl AsyncFn(&PgPool) -> T) -> (T, T) {
    let database = fresh_database().await;
    let pool = PgPool::connect_with(database).await.unwrap();
    let migrated = read(&pool).await;

    MIGRATOR.undo(&pool, version).await.expect("the migrations revert");
    let reverted = read(&pool).await;
    pool.close().await;
    (migrated, reverted)
}

/// Whether the text search and trigram matches are LEAKPROOF, in that order.
async fn search_matches_leakproof(pool: &PgPool) -> (bool, bool) {
    sqlx::query_as(
        "SELECT (SELECT proleakproof FROM pg_proc \
                 WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure), \
                (SELECT bool_and(proleakproof) FROM pg_proc WHERE proname = 'similarity_op')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The functions of the message index's words, with their LEAKPROOF marks, and the message
/// search indexes, by name.
async fn message_search_schema(pool: &PgPool) -> (Vec<(String, bool)>, Vec<String>) {
    let functions = sqlx::query_as(
        "SELECT proname::text, proleakproof FROM pg_proc \
         WHERE proname IN ('user_search_terms', 'user_search_query') ORDER BY proname",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let indexes = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'messages' \
         AND indexname IN ('idx_messages_search_terms', 'idx_messages_content_search')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (functions, indexes)
}

#[tokio::test]
async fn the_per_user_word_index_replaces_the_shared_one_and_reverts_to_it() {
    let (migrated, reverted) =
        migrated_and_reverted_to(20261204000001, message_search_schema).await;

    let marked = vec![("user_search_query".to_string(), true), ("user_search_terms".into(), true)];
    assert_eq!(migrated, (marked, vec!["idx_messages_search_terms".to_string()]));
    assert_eq!(reverted, (vec![], vec!["idx_messages_content_search".to_string()]));
}

async fn title_index_options(pool: &PgPool) -> Option<Vec<String>> {
    sqlx::query_scalar(
        "SELECT reloptions::text[] FROM pg_class WHERE relname = 'idx_conversations_title_search'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_title_index_places_its_entries_at_once_and_reverts_to_a_pending_list() {
    let (migrated, reverted) = migrated_and_reverted_to(20261204000002, title_index_options).await;

    assert_eq!(migrated, Some(vec!["fastupdate=off".to_string()]));
    assert_eq!(reverted, None);
}

#[tokio::test]
async fn migrating_as_a_superuser_lets_search_use_its_indexes_under_row_security() {
    let (migrated, reverted) =
        migrated_and_reverted_to(20261203000008, search_matches_leakproof).await;

    assert_eq!(migrated, (true, true));
    assert_eq!(reverted, (false, false));
}
