//! SearchConversations: ranking, phrases, prefixes, typos, paging, and searches that try to
//! break out of their query.

use std::collections::HashSet;

use conversation_service::pb;
use conversation_service::store::TITLE_CANDIDATES;
use tonic::Code;

use crate::support::{TestApp, TestUser, violated_fields};

async fn search(user: &mut TestUser, query: &str) -> Result<Vec<pb::SearchHit>, tonic::Status> {
    search_pages(user, pb::SearchConversationsRequest { query: query.into(), ..Default::default() })
        .await
        .map(|pages| pages.into_iter().flat_map(|page| page.hits).collect())
}

async fn search_pages(
    user: &mut TestUser,
    request: pb::SearchConversationsRequest,
) -> Result<Vec<pb::SearchConversationsResponse>, tonic::Status> {
    let mut stream = user.client.search_conversations(request).await?.into_inner();
    let mut pages = Vec::new();
    while let Some(page) = stream.message().await? {
        pages.push(page);
    }
    Ok(pages)
}

fn titles(hits: &[pb::SearchHit]) -> Vec<String> {
    hits.iter().map(|hit| hit.conversation.as_ref().unwrap().title.clone()).collect()
}

#[tokio::test]
async fn a_title_match_ranks_above_a_passing_mention_in_a_message() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mention = alice.create_titled("Weekly review").await;
    alice.append(&mention.id, "We also touched on discipline before moving on to levels.").await;
    alice.create_titled("Discipline after losses").await;

    let hits = search(&mut alice, "discipline").await.unwrap();

    assert_eq!(titles(&hits), ["Discipline after losses", "Weekly review"]);
    assert!(hits[0].rank > hits[1].rank);
}

#[tokio::test]
async fn an_appended_message_is_findable_at_once_with_a_marked_snippet() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("Tuesday").await;

    let message = alice
        .append(&conversation.id, "I kept overtrading NQ in the first minutes after the open")
        .await;
    let hits = search(&mut alice, "overtrading").await.unwrap();

    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, message.id);
    assert!(hits[0].snippet.contains("**overtrading**"), "{}", hits[0].snippet);
}

#[tokio::test]
async fn a_quoted_phrase_matches_the_words_only_in_that_order() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let in_order = alice.create_titled("one").await;
    alice.append(&in_order.id, "Always set a stop loss before entry").await;
    let apart = alice.create_titled("two").await;
    alice.append(&apart.id, "The loss made me stop trading for the day").await;

    let phrase = search(&mut alice, "\"stop loss\"").await.unwrap();
    let words = search(&mut alice, "stop loss").await.unwrap();

    assert_eq!(titles(&phrase), ["one"]);
    assert_eq!(words.len(), 2);
}

#[tokio::test]
async fn a_word_ending_in_a_star_matches_every_word_it_begins() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("Habits").await;
    alice.append(&conversation.id, "My overtrading habit").await;
    let other = alice.create_titled("Sizing").await;
    alice.append(&other.id, "I overtraded yesterday").await;

    let hits = search(&mut alice, "overtrad*").await.unwrap();

    assert_eq!(hits.len(), 2);
}

#[tokio::test]
async fn a_misspelt_title_is_found_by_similarity_when_full_text_finds_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    alice.create_titled("Overtrading at the open").await;
    alice.create_titled("Position sizing").await;

    let hits = search(&mut alice, "Overtradng at the opn").await.unwrap();

    assert_eq!(titles(&hits), ["Overtrading at the open"]);
}

#[tokio::test]
async fn a_search_never_finds_another_users_or_a_deleted_conversation() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    let deleted = alice.create_titled("Scalping ES").await;
    alice.delete(&deleted.id).await;
    let bobs = bob.create_titled("Scalping NQ").await;
    bob.append(&bobs.id, "scalping notes").await;

    let hits = search(&mut alice, "scalping").await.unwrap();

    assert!(hits.is_empty(), "{:?}", titles(&hits));
}

#[tokio::test]
async fn search_results_page_without_repeats_or_gaps() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    for index in 0..23 {
        let conversation = alice.create_titled(&format!("Session {index}")).await;
        let repeats = "breakout ".repeat(index % 4 + 1);
        alice.append(&conversation.id, &format!("{repeats}above the range")).await;
    }

    let pages = search_pages(
        &mut alice,
        pb::SearchConversationsRequest {
            query: "breakout".into(),
            page_size: 5,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let hits: Vec<pb::SearchHit> = pages.iter().flat_map(|page| page.hits.clone()).collect();
    let unique: HashSet<String> = titles(&hits).into_iter().collect();
    assert_eq!(pages.len(), 5);
    assert_eq!(hits.len(), 23);
    assert_eq!(unique.len(), 23);
    assert!(hits.windows(2).all(|pair| pair[0].rank >= pair[1].rank));
}

#[tokio::test]
async fn hostile_queries_find_only_the_callers_data_or_fail_cleanly() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = app.user();
    let bobs = bob.create_titled("Bob's secret edge").await;
    bob.append(&bobs.id, "secret edge: fade the open").await;
    let before = app.snapshot().await;

    for query in [
        "secret' OR '1'='1",
        "secret\"; DROP TABLE conversations; --",
        "secret -- comment",
        "secret /* comment */",
        "secret\\' \\\\",
        "secret:* | edge:*",
        "sec*' OR 1=1 --",
        "!(secret) & edge",
    ] {
        match search(&mut alice, query).await {
            Ok(hits) => assert!(hits.is_empty(), "{query}: {:?}", titles(&hits)),
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{query}"),
        }
    }

    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_bad_search_request_names_its_fields() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    for (request, field) in [
        (pb::SearchConversationsRequest::default(), "query"),
        (pb::SearchConversationsRequest { query: "x".repeat(501), ..Default::default() }, "query"),
        (pb::SearchConversationsRequest { query: "a\0b".into(), ..Default::default() }, "query"),
        (pb::SearchConversationsRequest { query: "--".into(), ..Default::default() }, "query"),
        (
            pb::SearchConversationsRequest {
                query: "ok".into(),
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::SearchConversationsRequest {
                query: "ok".into(),
                page_token: "forged".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        let status = search_pages(&mut alice, request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_fields(&status), [field]);
    }
}

#[tokio::test]
async fn a_renamed_conversation_is_found_by_its_new_title_at_once() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("Untitled notes").await;

    alice
        .client
        .update_conversation(pb::UpdateConversationRequest {
            conversation: Some(pb::Conversation {
                id: conversation.id.clone(),
                title: "Gap fill strategy".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap();

    assert_eq!(titles(&search(&mut alice, "gap fill").await.unwrap()), ["Gap fill strategy"]);
    assert!(
        search(&mut alice, "untitled")
            .await
            .unwrap()
            .iter()
            .all(|hit| { hit.conversation.as_ref().unwrap().title != "Untitled notes" })
    );
}

#[tokio::test]
async fn english_stemming_finds_other_forms_of_a_word() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation = alice.create_titled("Journal").await;
    alice.append(&conversation.id, "Both trades were stopped out").await;

    let hits = search(&mut alice, "trade stop").await.unwrap();

    assert_eq!(hits.len(), 1);
}

#[tokio::test]
async fn the_listing_filter_narrows_the_hits() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let analysis = alice.create_titled("Breakout review").await;
    let planning = alice
        .create(pb::Conversation {
            title: "Breakout plan".into(),
            mode: pb::Mode::Planning.into(),
            ..Default::default()
        })
        .await;
    alice.append(&analysis.id, "the breakout failed").await;

    let hits = search_pages(
        &mut alice,
        pb::SearchConversationsRequest {
            query: "breakout".into(),
            filter: "mode = planning".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let bad_filter = search_pages(
        &mut alice,
        pb::SearchConversationsRequest {
            query: "breakout".into(),
            filter: "mode = ".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();

    let found: Vec<String> = hits
        .into_iter()
        .flat_map(|page| page.hits)
        .map(|hit| hit.conversation.unwrap().id)
        .collect();
    assert_eq!(found, [planning.id]);
    assert_eq!(violated_fields(&bad_filter), ["filter"]);
}

#[tokio::test]
async fn a_search_ranks_only_the_most_recently_active_title_matches() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut oldest_first = Vec::new();
    for n in 0..TITLE_CANDIDATES + 5 {
        oldest_first.push(alice.create_titled(&format!("Breakout review {n}")).await.id);
    }

    let hits = search(&mut alice, "breakout").await.unwrap();

    let found: HashSet<&str> =
        hits.iter().map(|hit| hit.conversation.as_ref().unwrap().id.as_str()).collect();
    assert_eq!(found.len(), TITLE_CANDIDATES as usize);
    let (five_oldest, newest) = oldest_first.split_at(5);
    assert!(five_oldest.iter().all(|id| !found.contains(id.as_str())));
    assert!(newest.iter().all(|id| found.contains(id.as_str())));
}

#[tokio::test]
async fn matching_messages_months_or_years_old_are_found_when_few_recent_ones_match() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut messages = Vec::new();
    for (title, days_ago) in [("Today", 0), ("Two months ago", 60), ("Last year", 400)] {
        let conversation = alice.create_titled(title).await;
        let message = alice.append(&conversation.id, "Overtrading again after a loss").await;
        messages.push((message.id, days_ago));
    }
    // Moving a message's time moves it to the partition of that month, as if it had been
    // written then (the search reads one window of months at a time).
    for (id, days_ago) in &messages {
        sqlx::query(
            "UPDATE messages SET created_at = created_at - make_interval(days => $2) \
             WHERE id = $1::uuid",
        )
        .bind(id)
        .bind(days_ago)
        .execute(&app.db)
        .await
        .unwrap();
    }

    let hits = search(&mut alice, "overtrading").await.unwrap();

    let mut found = titles(&hits);
    found.sort();
    assert_eq!(found, ["Last year", "Today", "Two months ago"]);
}
