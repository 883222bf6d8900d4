//! GetConversation's statement is prepared once per connection and executed in the same message
//! as the call's settings. A connection that lost it (a pooler's DISCARD ALL, a DEALLOCATE) or
//! already had it must still answer, through the store as the service's pool uses it.

use conversation_service::database::RUNTIME_ROLE;
use conversation_service::pb;
use conversation_service::store::{Scope, Store, prepare_connection};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::support::{AppOptions, TestApp, fresh_database};

#[tokio::test]
async fn a_get_answers_whether_its_connection_lost_or_already_had_the_statement() {
    let database = fresh_database().await;
    let app = TestApp::spawn_on(database.clone(), AppOptions::default()).await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation { title: "Prepared".into(), ..Default::default() });
    let id: Uuid = created.await.id.parse().unwrap();
    // One connection, so that every statement below meets the same one.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(database.username(RUNTIME_ROLE))
        .await
        .unwrap();
    let store = Store::new(pool.clone());
    let scope = Scope::user(alice.id);

    let first = store.get_conversation(&scope, id).await.unwrap();
    sqlx::raw_sql("DEALLOCATE ALL").execute(&pool).await.unwrap();
    let after_deallocate = store.get_conversation(&scope, id).await.unwrap();
    let mut connection = pool.acquire().await.unwrap();
    prepare_connection(&mut connection).await.unwrap();
    let prepared_twice = prepare_connection(&mut connection).await;
    drop(connection);
    let after_prepare = store.get_conversation(&scope, id).await.unwrap();
    let missing = store.get_conversation(&scope, Uuid::now_v7()).await;

    assert_eq!(first.title.as_deref(), Some("Prepared"));
    assert_eq!(after_deallocate.id, id);
    assert!(prepared_twice.is_ok(), "{prepared_twice:?}");
    assert_eq!(after_prepare.id, id);
    assert!(matches!(missing, Err(conversation_service::store::StoreError::NotFound)));
}
