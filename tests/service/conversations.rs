//! The conversation RPCs on their happy paths.

use conversation_service::pb;
use serde_json::json;

use crate::support::{TestApp, context};

#[tokio::test]
async fn a_created_conversation_has_the_defaults_and_reads_back() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let created = alice.create(pb::Conversation::default()).await;

    assert_eq!(created.mode(), pb::Mode::Analysis);
    assert_eq!(created.status(), pb::Status::Active);
    assert_eq!(created.title, "");
    assert_eq!(created.message_count, 0);
    assert_eq!(created.user_id, alice.id.to_string());
    assert_eq!(created.context_data, Some(context(json!({}))));
    assert!(created.last_message_at.is_none() && created.archived_at.is_none());
    assert_eq!(alice.get(&created.id).await.unwrap(), created);
}

#[tokio::test]
async fn a_conversation_is_created_with_the_given_title_mode_and_context() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let trading_context = context(json!({
        "trading_session_id": "5b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4",
        "market_hours": true,
        "trading_instruments": ["ES", "NQ"],
        "session_type": "live_trading",
        "coaching_focus": ["discipline", "risk_management"],
        "max_daily_loss": 500,
    }));

    let created = alice
        .create(pb::Conversation {
            title: "Morning review".into(),
            mode: pb::Mode::Psychology.into(),
            context_data: Some(trading_context.clone()),
            ..Default::default()
        })
        .await;

    assert_eq!(created.title, "Morning review");
    assert_eq!(created.mode(), pb::Mode::Psychology);
    assert_eq!(created.context_data, Some(trading_context));
}

#[tokio::test]
async fn output_only_fields_sent_on_create_are_ignored() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let created = alice
        .create(pb::Conversation {
            id: "00000000-0000-0000-0000-000000000001".into(),
            user_id: "00000000-0000-0000-0000-000000000002".into(),
            status: pb::Status::Deleted.into(),
            message_count: 42,
            ..Default::default()
        })
        .await;

    assert_ne!(created.id, "00000000-0000-0000-0000-000000000001");
    assert_eq!(created.user_id, alice.id.to_string());
    assert_eq!(created.status(), pb::Status::Active);
    assert_eq!(created.message_count, 0);
}

#[tokio::test]
async fn the_first_write_of_a_user_creates_their_user_row_once() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    alice.create_titled("one").await;
    alice.create_titled("two").await;

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1")
        .bind(alice.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_missing_conversation_is_not_found() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let status = alice.get(&uuid::Uuid::new_v4().to_string()).await.unwrap_err();

    assert_eq!(status.code(), tonic::Code::NotFound);
}
