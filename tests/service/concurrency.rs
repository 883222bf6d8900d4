//! Concurrent writers: the trigger's row lock keeps the statistics exact.

use conversation_service::pb;

use crate::support::{TestApp, user_message};

#[tokio::test]
async fn two_hundred_concurrent_appends_count_exactly_two_hundred() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create(pb::Conversation::default()).await;

    let tasks: Vec<_> = (0..200)
        .map(|index| {
            let mut client = alice.client.clone();
            let conversation_id = created.id.clone();
            tokio::spawn(async move {
                client
                    .append_message(pb::AppendMessageRequest {
                        conversation_id,
                        message: Some(user_message(&format!("message {index}"))),
                        request_id: String::new(),
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every append succeeds");
    }

    let conversation = alice.get(&created.id).await.unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE conversation_id = $1")
            .bind(uuid::Uuid::parse_str(&created.id).unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(conversation.message_count, 200);
    assert_eq!(stored, 200);
    assert!(conversation.title.starts_with("message "), "one of them titled it");
}

#[tokio::test]
async fn concurrent_creates_of_one_new_user_all_succeed() {
    let app = TestApp::spawn().await;
    let alice = app.user();

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mut client = alice.client.clone();
            tokio::spawn(async move {
                client.create_conversation(pb::CreateConversationRequest::default()).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every create succeeds");
    }

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE user_id = $1")
        .bind(alice.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 20);
}
