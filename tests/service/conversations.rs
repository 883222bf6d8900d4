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
