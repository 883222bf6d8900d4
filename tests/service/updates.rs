//! UpdateConversation: field masks, etags and the mode-switch record.

use conversation_service::pb;
use prost_types::FieldMask;
use serde_json::json;
use tonic::Code;

use crate::support::{TestApp, TestUser, at, context};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask { paths: paths.iter().map(|path| path.to_string()).collect() })
}

async fn update(
    user: &mut TestUser,
    conversation: pb::Conversation,
    paths: &[&str],
) -> Result<pb::Conversation, tonic::Status> {
    user.client
        .update_conversation(pb::UpdateConversationRequest {
            conversation: Some(conversation),
            update_mask: mask(paths),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn an_update_changes_only_the_fields_in_the_mask() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("Before").await;

    let updated = update(
        &mut alice,
        pb::Conversation {
            id: created.id.clone(),
            title: "After".into(),
            mode: pb::Mode::Training.into(),
            ..Default::default()
        },
        &["title"],
    )
    .await
    .unwrap();

    assert_eq!(updated.title, "After");
    assert_eq!(updated.mode(), pb::Mode::Analysis);
    assert_ne!(updated.etag, created.etag);
    assert!(at(&updated.updated_at) > at(&created.updated_at));
}

#[tokio::test]
async fn switching_mode_records_the_time_of_the_switch_in_the_context() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice
        .create(pb::Conversation {
            context_data: Some(context(json!({"trading_instruments": ["ES"]}))),
            ..Default::default()
        })
        .await;

    let updated = update(
        &mut alice,
        pb::Conversation {
            id: created.id.clone(),
            mode: pb::Mode::Psychology.into(),
            ..Default::default()
        },
        &["mode"],
    )
    .await
    .unwrap();

    let fields = updated.context_data.clone().unwrap().fields;
    assert_eq!(updated.mode(), pb::Mode::Psychology);
    assert!(fields.contains_key("trading_instruments"));
    let Some(prost_types::value::Kind::StringValue(switched)) =
        fields.get("last_mode_switch").and_then(|value| value.kind.clone())
    else {
        panic!("last_mode_switch is a string");
    };
    assert!(chrono::DateTime::parse_from_rfc3339(&switched).is_ok(), "{switched}");
}

#[tokio::test]
async fn setting_the_same_mode_again_records_no_switch() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation::default()).await;

    let updated = update(
        &mut alice,
        pb::Conversation { id: created.id, mode: pb::Mode::Analysis.into(), ..Default::default() },
        &["mode"],
    )
    .await
    .unwrap();

    assert!(!updated.context_data.unwrap().fields.contains_key("last_mode_switch"));
}

#[tokio::test]
async fn updating_the_context_replaces_it_whole() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice
        .create(pb::Conversation {
            context_data: Some(context(json!({"market_hours": true}))),
            ..Default::default()
        })
        .await;

    let updated = update(
        &mut alice,
        pb::Conversation {
            id: created.id,
            context_data: Some(context(json!({"session_type": "paper_trading"}))),
            ..Default::default()
        },
        &["context_data"],
    )
    .await
    .unwrap();

    assert_eq!(updated.context_data, Some(context(json!({"session_type": "paper_trading"}))));
}

#[tokio::test]
async fn an_empty_mask_updates_the_fields_that_are_set() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("Old").await;

    let updated = update(
        &mut alice,
        pb::Conversation { id: created.id, title: "New".into(), ..Default::default() },
        &[],
    )
    .await
    .unwrap();

    assert_eq!(updated.title, "New");
    assert_eq!(updated.mode(), pb::Mode::Analysis);
}

#[tokio::test]
async fn an_update_with_the_current_etag_succeeds_and_a_stale_one_is_aborted() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("v1").await;
    let with_etag = |title: &str, etag: &str| pb::Conversation {
        id: created.id.clone(),
        title: title.into(),
        etag: etag.into(),
        ..Default::default()
    };

    let first = update(&mut alice, with_etag("v2", &created.etag), &["title"]).await.unwrap();
    let stale = update(&mut alice, with_etag("v3", &created.etag), &["title"]).await.unwrap_err();

    assert_eq!(first.title, "v2");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(alice.get(&created.id).await.unwrap().title, "v2");
}

#[tokio::test]
async fn a_deleted_conversation_cannot_be_updated() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("Gone").await;
    alice.delete(&created.id).await;

    let status = update(
        &mut alice,
        pb::Conversation { id: created.id, title: "Back?".into(), ..Default::default() },
        &["title"],
    )
    .await
    .unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn an_archived_conversation_can_be_renamed() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("Old name").await;
    alice.archive(&created.id).await;

    let updated = update(
        &mut alice,
        pb::Conversation { id: created.id, title: "New name".into(), ..Default::default() },
        &["title"],
    )
    .await
    .unwrap();

    assert_eq!(updated.title, "New name");
    assert_eq!(updated.status(), pb::Status::Archived);
}
