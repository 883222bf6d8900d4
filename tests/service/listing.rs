//! ListConversations: streamed pages, keyset tokens, filters and the default order.

use std::collections::HashSet;

use conversation_service::pb;
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestApp, TestUser};

fn ids(conversations: &[pb::Conversation]) -> Vec<String> {
    conversations.iter().map(|conversation| conversation.id.clone()).collect()
}

/// Inserts `count` conversations of `user` directly, in groups that share one updated_at, so
/// that paging must break ties by id to neither repeat nor skip a row.
async fn insert_with_tied_timestamps(app: &TestApp, user: &TestUser, count: i64) {
    app.ensure_user_row(user).await;
    sqlx::query(
        "INSERT INTO conversations (id, user_id, title, updated_at) \
         SELECT gen_random_uuid(), $1, 'bulk ' || n, \
                timestamptz '2026-01-01 00:00:00+00' + (n / 7) * interval '1 minute' \
         FROM generate_series(1, $2) AS n",
    )
    .bind(user.id)
    .bind(count)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn paging_through_hundreds_of_conversations_neither_repeats_nor_skips_one() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 320).await;
    for index in 0..30 {
        alice.create_titled(&format!("api {index}")).await;
    }

    let pages = alice
        .list_pages(pb::ListConversationsRequest { page_size: 25, ..Default::default() })
        .await
        .unwrap();

    let listed: Vec<pb::Conversation> =
        pages.iter().flat_map(|page| page.conversations.clone()).collect();
    let unique: HashSet<String> = ids(&listed).into_iter().collect();
    assert_eq!(pages.len(), 14);
    assert_eq!(listed.len(), 350);
    assert_eq!(unique.len(), 350);
    assert!(pages[..13].iter().all(|page| !page.next_page_token.is_empty()));
    assert!(pages[13].next_page_token.is_empty());
    let order: Vec<_> = listed.iter().map(|c| (c.updated_at.unwrap(), c.id.clone())).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| (b.0.seconds, b.0.nanos, &b.1).cmp(&(a.0.seconds, a.0.nanos, &a.1)));
    assert_eq!(order, sorted, "newest activity first, ties by id");
}

#[tokio::test]
async fn a_listing_resumed_page_by_page_across_calls_sees_every_conversation_once() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 230).await;

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut calls = 0;
    loop {
        let pages = alice
            .list_pages(pb::ListConversationsRequest {
                page_size: 40,
                page_token: token.clone(),
                max_pages: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        calls += 1;
        assert!(pages.len() <= 2, "max_pages bounds each call");
        seen.extend(pages.iter().flat_map(|page| ids(&page.conversations)));
        token = pages.last().unwrap().next_page_token.clone();
        if token.is_empty() {
            break;
        }
    }

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(calls, 3);
    assert_eq!(seen.len(), 230);
    assert_eq!(unique.len(), 230);
}

#[tokio::test]
async fn the_most_recently_active_conversation_comes_first() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let older = alice.create_titled("older").await;
    let newer = alice.create_titled("newer").await;
    alice.append(&older.id, "activity brings it back to the top").await;

    let listed = alice.list_all(pb::ListConversationsRequest::default()).await;

    assert_eq!(ids(&listed), [older.id, newer.id]);
}

#[tokio::test]
async fn deleted_conversations_are_hidden_unless_asked_for() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let kept = alice.create_titled("kept").await;
    let archived = alice.create_titled("archived").await;
    let deleted = alice.create_titled("deleted").await;
    alice.archive(&archived.id).await;
    alice.delete(&deleted.id).await;

    let default = alice.list_all(pb::ListConversationsRequest::default()).await;
    let with_deleted = alice
        .list_all(pb::ListConversationsRequest { show_deleted: true, ..Default::default() })
        .await;
    let only_deleted = alice
        .list_all(pb::ListConversationsRequest {
            status: pb::Status::Deleted.into(),
            ..Default::default()
        })
        .await;
    let only_archived = alice
        .list_all(pb::ListConversationsRequest {
            status: pb::Status::Archived.into(),
            ..Default::default()
        })
        .await;

    assert_eq!(ids(&default), [archived.id.clone(), kept.id.clone()]);
    assert_eq!(with_deleted.len(), 3);
    assert_eq!(ids(&only_deleted), [deleted.id]);
    assert_eq!(ids(&only_archived), [archived.id]);
}

#[tokio::test]
async fn a_mode_filter_returns_only_conversations_in_that_mode() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    alice.create(pb::Conversation::default()).await;
    let psychology = alice
        .create(pb::Conversation { mode: pb::Mode::Psychology.into(), ..Default::default() })
        .await;

    let listed = alice
        .list_all(pb::ListConversationsRequest {
            mode: pb::Mode::Psychology.into(),
            ..Default::default()
        })
        .await;

    assert_eq!(ids(&listed), [psychology.id]);
}

#[tokio::test]
async fn a_page_size_above_500_is_reduced_to_500() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 501).await;

    let pages = alice
        .list_pages(pb::ListConversationsRequest { page_size: 10_000, ..Default::default() })
        .await
        .unwrap();

    let sizes: Vec<usize> = pages.iter().map(|page| page.conversations.len()).collect();
    assert_eq!(sizes, [500, 1]);
}

#[tokio::test]
async fn the_default_page_size_is_50() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 51).await;

    let pages = alice.list_pages(pb::ListConversationsRequest::default()).await.unwrap();

    assert_eq!(pages[0].conversations.len(), 50);
}

#[tokio::test]
async fn a_user_without_conversations_gets_one_empty_page() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let pages = alice.list_pages(pb::ListConversationsRequest::default()).await.unwrap();

    assert_eq!(pages.len(), 1);
    assert!(pages[0].conversations.is_empty() && pages[0].next_page_token.is_empty());
}

#[tokio::test]
async fn a_page_token_is_refused_when_the_filters_change() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 3).await;
    let first = alice
        .list_pages(pb::ListConversationsRequest {
            page_size: 1,
            max_pages: 1,
            ..Default::default()
        })
        .await
        .unwrap();

    let status = alice
        .list_pages(pb::ListConversationsRequest {
            page_size: 1,
            page_token: first[0].next_page_token.clone(),
            show_deleted: true,
            ..Default::default()
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_break_the_server() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 200).await;

    let mut stream = alice
        .client
        .list_conversations(pb::ListConversationsRequest { page_size: 10, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    drop(stream);

    assert_eq!(first.conversations.len(), 10);
    let again = alice.get(&Uuid::new_v4().to_string()).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound, "the server still answers");
}

#[tokio::test]
async fn pages_of_large_conversations_are_cut_to_fit_the_4_mib_message_limit() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_with_tied_timestamps(&app, &alice, 100).await;
    sqlx::query(
        "UPDATE conversations SET context_data = jsonb_build_object('notes', repeat('x', 60000)) \
         WHERE user_id = $1",
    )
    .bind(alice.id)
    .execute(&app.db)
    .await
    .unwrap();

    let pages = alice
        .list_pages(pb::ListConversationsRequest { page_size: 100, ..Default::default() })
        .await
        .unwrap();

    let listed: HashSet<String> = pages.iter().flat_map(|page| ids(&page.conversations)).collect();
    assert!(pages.len() >= 2, "6 MB of conversations cannot fit one 4 MiB page");
    assert_eq!(listed.len(), 100);
    for page in &pages {
        assert!(prost::Message::encoded_len(page) <= 4 * 1024 * 1024);
    }
}
