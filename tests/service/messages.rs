//! AppendMessage, ListMessages, and the trigger that keeps each conversation's statistics.

use conversation_service::pb;
use tonic::Code;

use crate::support::{TestApp, at, user_message};

#[tokio::test]
async fn appending_messages_keeps_the_count_and_last_message_time() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("stats").await;

    alice.append(&created.id, "first").await;
    alice.append(&created.id, "second").await;
    let last = alice.append(&created.id, "third").await;

    let conversation = alice.get(&created.id).await.unwrap();
    assert_eq!(conversation.message_count, 3);
    assert_eq!(conversation.last_message_at, last.created_at);
    assert!(at(&conversation.updated_at) >= at(&last.created_at));
}

#[tokio::test]
async fn the_first_user_message_titles_an_untitled_conversation_with_50_characters_and_dots() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation::default()).await;
    let long = "I keep overtrading NQ in the first fifteen minutes after the open";

    alice.append(&created.id, long).await;

    let title = alice.get(&created.id).await.unwrap().title;
    assert_eq!(title, format!("{}...", &long[..50]));
}

#[tokio::test]
async fn a_short_first_message_becomes_the_title_without_dots() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation::default()).await;
    let exactly_fifty = "x".repeat(50);

    alice.append(&created.id, &exactly_fifty).await;

    assert_eq!(alice.get(&created.id).await.unwrap().title, exactly_fifty);
}

#[tokio::test]
async fn the_auto_title_counts_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation::default()).await;
    let accented = "é".repeat(60);

    alice.append(&created.id, &accented).await;

    assert_eq!(alice.get(&created.id).await.unwrap().title, format!("{}...", "é".repeat(50)));
}

#[tokio::test]
async fn only_a_user_message_titles_a_conversation() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation::default()).await;

    alice
        .client
        .append_message(pb::AppendMessageRequest {
            conversation_id: created.id.clone(),
            message: Some(pb::Message {
                r#type: pb::MessageType::Assistant.into(),
                content: "Welcome back. What are we working on?".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let after_assistant = alice.get(&created.id).await.unwrap();
    alice.append(&created.id, "Stop losses").await;

    assert_eq!(after_assistant.title, "");
    assert_eq!(after_assistant.message_count, 1);
    assert_eq!(alice.get(&created.id).await.unwrap().title, "Stop losses");
}

#[tokio::test]
async fn a_title_given_by_the_user_is_never_replaced() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("My own title").await;

    alice.append(&created.id, "a first message that could have been a title").await;

    assert_eq!(alice.get(&created.id).await.unwrap().title, "My own title");
}

#[tokio::test]
async fn messages_are_listed_in_the_order_they_were_appended() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("order").await;
    let mut appended = Vec::new();
    for index in 0..7 {
        appended.push(alice.append(&created.id, &format!("message {index}")).await);
    }

    let pages = alice
        .message_pages(pb::ListMessagesRequest {
            conversation_id: created.id.clone(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap();

    let sizes: Vec<usize> = pages.iter().map(|page| page.messages.len()).collect();
    let listed: Vec<pb::Message> = pages.into_iter().flat_map(|page| page.messages).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(listed, appended);
}

#[tokio::test]
async fn listing_messages_resumes_from_a_page_token() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("resume").await;
    for index in 0..5 {
        alice.append(&created.id, &format!("message {index}")).await;
    }
    let request = |page_token: String| pb::ListMessagesRequest {
        conversation_id: created.id.clone(),
        page_size: 2,
        page_token,
        max_pages: 1,
    };

    let first = alice.message_pages(request(String::new())).await.unwrap();
    let second = alice.message_pages(request(first[0].next_page_token.clone())).await.unwrap();

    assert_eq!(first.len(), 1);
    assert_eq!(second[0].messages[0].content, "message 2");
}

#[tokio::test]
async fn listing_the_messages_of_a_missing_conversation_is_not_found() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let status = alice
        .message_pages(pb::ListMessagesRequest {
            conversation_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn an_empty_conversation_lists_one_empty_page() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("empty").await;

    let pages = alice
        .message_pages(pb::ListMessagesRequest {
            conversation_id: created.id,
            ..Default::default()
        })
        .await
        .unwrap();

    assert_eq!(pages.len(), 1);
    assert!(pages[0].messages.is_empty() && pages[0].next_page_token.is_empty());
}

#[tokio::test]
async fn appending_to_an_archived_or_deleted_conversation_fails_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let archived = alice.create_titled("archived").await;
    let deleted = alice.create_titled("deleted").await;
    alice.archive(&archived.id).await;
    alice.delete(&deleted.id).await;
    let before = app.snapshot().await;

    for id in [&archived.id, &deleted.id] {
        let status = alice
            .client
            .append_message(pb::AppendMessageRequest {
                conversation_id: id.clone(),
                message: Some(user_message("hello?")),
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
    }

    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_message_of_256_kib_is_accepted() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("big").await;

    let message = alice.append(&created.id, &"x".repeat(256 * 1024)).await;

    assert_eq!(message.content.len(), 256 * 1024);
}
