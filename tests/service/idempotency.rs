//! request_id: a retried Create or Append returns the first result instead of a duplicate.

use conversation_service::pb;

use crate::support::{TestApp, user_message};

#[tokio::test]
async fn a_repeated_create_request_returns_the_first_conversation() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let request = pb::CreateConversationRequest {
        conversation: Some(pb::Conversation { title: "once".into(), ..Default::default() }),
        request_id: "0b7f6c1e-create".into(),
    };

    let first = alice.client.create_conversation(request.clone()).await.unwrap().into_inner();
    let retry = alice.client.create_conversation(request).await.unwrap().into_inner();

    assert_eq!(retry, first);
    assert_eq!(alice.list_all(pb::ListConversationsRequest::default()).await.len(), 1);
}

#[tokio::test]
async fn a_repeated_append_request_returns_the_first_message_and_counts_once() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("retries").await;
    let request = pb::AppendMessageRequest {
        conversation_id: conversation.id.clone(),
        message: Some(user_message("sent twice over a flaky network")),
        request_id: "0b7f6c1e-append".into(),
    };

    let first = alice.client.append_message(request.clone()).await.unwrap().into_inner();
    let retry = alice.client.append_message(request).await.unwrap().into_inner();

    assert_eq!(retry, first);
    assert_eq!(alice.get(&conversation.id).await.unwrap().message_count, 1);
}

#[tokio::test]
async fn concurrent_retries_of_one_create_make_one_conversation() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let request = pb::CreateConversationRequest { conversation: None, request_id: "raced".into() };

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let mut client = alice.client.clone();
            let request = request.clone();
            tokio::spawn(async move { client.create_conversation(request).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().expect("every retry succeeds").into_inner().id);
    }

    assert_eq!(ids.len(), 1);
    assert_eq!(alice.list_all(pb::ListConversationsRequest::default()).await.len(), 1);
}

#[tokio::test]
async fn the_same_request_id_may_be_used_for_a_create_and_an_append() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice
        .client
        .create_conversation(pb::CreateConversationRequest {
            conversation: None,
            request_id: "reused".into(),
        })
        .await
        .unwrap()
        .into_inner();

    let appended = alice
        .client
        .append_message(pb::AppendMessageRequest {
            conversation_id: created.id.clone(),
            message: Some(user_message("separate operations, separate keys")),
            request_id: "reused".into(),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(appended.conversation_id, created.id);
}

#[tokio::test]
async fn an_append_retried_with_a_request_id_to_a_missing_conversation_is_not_found() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let status = alice
        .client
        .append_message(pb::AppendMessageRequest {
            conversation_id: uuid::Uuid::new_v4().to_string(),
            message: Some(user_message("nobody home")),
            request_id: "first-write-of-this-user".into(),
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn a_request_id_reused_for_another_conversation_is_refused() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let first = alice.create_titled("first").await;
    let second = alice.create_titled("second").await;
    let append_to = |conversation_id: &str| pb::AppendMessageRequest {
        conversation_id: conversation_id.into(),
        message: Some(user_message("same key, different conversation")),
        request_id: "one-key".into(),
    };
    alice.client.append_message(append_to(&first.id)).await.unwrap();

    let status = alice.client.append_message(append_to(&second.id)).await.unwrap_err();

    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(crate::support::violated_fields(&status), ["request_id"]);
    assert_eq!(alice.get(&second.id).await.unwrap().message_count, 0);
}
