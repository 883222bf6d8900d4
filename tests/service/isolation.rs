//! Ownership: one user never sees or changes anything of another's, through any RPC, and
//! deleting a user removes everything of theirs.

use conversation_service::pb;
use tonic::Code;
use uuid::Uuid;

use crate::support::{Client, TestApp, user_message};

/// Every RPC that names a conversation, called on `id`; each returns its status code and
/// message on failure.
async fn every_rpc_on(client: &mut Client, id: &str) -> Vec<(&'static str, tonic::Status)> {
    let id = id.to_string();
    let mut failures = Vec::new();
    let mut record = |rpc, result: Result<(), tonic::Status>| {
        failures.push((rpc, result.expect_err("another user's conversation is out of reach")))
    };

    let result = client.get_conversation(pb::GetConversationRequest { id: id.clone() }).await;
    record("GetConversation", result.map(drop));
    let result = client
        .update_conversation(pb::UpdateConversationRequest {
            conversation: Some(pb::Conversation {
                id: id.clone(),
                title: "mine now".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    record("UpdateConversation", result.map(drop));
    let result = client
        .archive_conversation(pb::ArchiveConversationRequest { id: id.clone(), etag: "".into() })
        .await;
    record("ArchiveConversation", result.map(drop));
    let result = client
        .unarchive_conversation(pb::UnarchiveConversationRequest {
            id: id.clone(),
            etag: "".into(),
        })
        .await;
    record("UnarchiveConversation", result.map(drop));
    let result = client
        .delete_conversation(pb::DeleteConversationRequest { id: id.clone(), etag: "".into() })
        .await;
    record("DeleteConversation", result.map(drop));
    let result = client
        .undelete_conversation(pb::UndeleteConversationRequest { id: id.clone(), etag: "".into() })
        .await;
    record("UndeleteConversation", result.map(drop));
    let result = client
        .append_message(pb::AppendMessageRequest {
            conversation_id: id.clone(),
            message: Some(user_message("let me in")),
            request_id: String::new(),
        })
        .await;
    record("AppendMessage", result.map(drop));
    let result = client
        .list_messages(pb::ListMessagesRequest { conversation_id: id, ..Default::default() })
        .await;
    record("ListMessages", result.map(drop));

    failures
}

#[tokio::test]
async fn another_users_conversation_is_not_found_through_every_rpc_and_stays_unchanged() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    let conversation = alice.create_titled("Alice's plan").await;
    alice.append(&conversation.id, "my private notes").await;
    let before = app.snapshot().await;

    let failures = every_rpc_on(&mut bob.client, &conversation.id).await;

    for (rpc, status) in &failures {
        assert_eq!(status.code(), Code::NotFound, "{rpc}");
    }
    assert_eq!(failures.len(), 8);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn another_users_conversation_reads_byte_for_byte_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    let conversation = alice.create_titled("Alice's").await;
    let missing = Uuid::new_v4().to_string();

    let theirs = every_rpc_on(&mut bob.client, &conversation.id).await;
    let nobodys = every_rpc_on(&mut bob.client, &missing).await;

    for ((rpc, their), (_, nobody)) in theirs.iter().zip(&nobodys) {
        assert_eq!(their.code(), nobody.code(), "{rpc}");
        assert_eq!(their.message(), nobody.message(), "{rpc}");
        assert_eq!(their.details(), nobody.details(), "{rpc}");
    }
}

#[tokio::test]
async fn a_user_lists_only_their_own_conversations() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    alice.create_titled("Alice's").await;
    let deleted = alice.create_titled("Alice's deleted").await;
    alice.delete(&deleted.id).await;
    let bobs = bob.create_titled("Bob's").await;

    let listed = bob
        .list_all(pb::ListConversationsRequest { show_deleted: true, ..Default::default() })
        .await;

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, bobs.id);
}

#[tokio::test]
async fn a_request_id_of_one_user_does_not_replay_for_another() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    let request = pb::CreateConversationRequest {
        conversation: Some(pb::Conversation { title: "same key".into(), ..Default::default() }),
        request_id: "shared-request-id".into(),
    };

    let alices = alice.client.create_conversation(request.clone()).await.unwrap().into_inner();
    let bobs = bob.client.create_conversation(request).await.unwrap().into_inner();

    assert_ne!(alices.id, bobs.id);
    assert_eq!(bobs.user_id, bob.id.to_string());
}

#[tokio::test]
async fn deleting_a_user_deletes_their_conversations_messages_and_request_ids() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    let conversation = alice.create_titled("doomed").await;
    alice.append(&conversation.id, "gone with the user").await;
    alice
        .client
        .create_conversation(pb::CreateConversationRequest {
            conversation: None,
            request_id: "remembered".into(),
        })
        .await
        .unwrap();
    let survivor = bob.create_titled("survives").await;

    sqlx::query("DELETE FROM users WHERE id = $1").bind(alice.id).execute(&app.db).await.unwrap();

    for table in ["conversations", "messages", "request_ids"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE user_id = $1");
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(alice.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    assert_eq!(alice.get(&conversation.id).await.unwrap_err().code(), Code::NotFound);
    assert!(bob.get(&survivor.id).await.is_ok());
}
