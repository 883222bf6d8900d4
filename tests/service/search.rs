//! SearchConversations: ranking, phrases, prefixes, typos, paging, and searches that try to
//! break out of their query.

use std::collections::HashSet;

use conversation_service::database::RUNTIME_ROLE;
use conversation_service::pb;
use conversation_service::store::TITLE_CANDIDATES;
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestApp, TestUser, fresh_database, signed_in_client, violated_fields};

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
    let found = titles_found_among(
        &[
            ("one", "Always set a stop loss before entry"),
            ("two", "The loss made me stop trading for the day"),
        ],
        &["\"stop loss\"", "stop loss"],
    )
    .await;

    let (phrase, words) = (&found[0], &found[1]);
    assert_eq!(phrase, &["one"]);
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

/// A new user whose words the message index keys under the same group as `user`'s
/// (migration 20261204000002): the two share their posting lists.
async fn user_of_the_same_word_group(app: &TestApp, user: &TestUser) -> TestUser {
    let id: Uuid = sqlx::query_scalar(
        "SELECT id FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 10000)) AS ids \
         WHERE left(md5(id::text), 2) = left(md5($1::text), 2) LIMIT 1",
    )
    .bind(user.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    TestUser { id, client: signed_in_client(app.channel(), id) }
}

#[tokio::test]
async fn users_whose_words_share_posting_lists_never_find_each_others_messages() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let mut bob = user_of_the_same_word_group(&app, &alice).await;
    let alices = alice.create_titled("Tuesday").await;
    alice.append(&alices.id, "Overtrading at the open again").await;
    let bobs = bob.create_titled("Wednesday").await;
    bob.append(&bobs.id, "Overtrading into the close").await;

    let alice_found = search(&mut alice, "overtrading").await.unwrap();
    let bob_found = search(&mut bob, "overtrading").await.unwrap();

    assert_eq!(titles(&alice_found), ["Tuesday"]);
    assert_eq!(titles(&bob_found), ["Wednesday"]);
}

/// The titles that each of `queries` finds among conversations of one user, each conversation
/// given as its title and the one message it holds.
async fn titles_found_among(conversations: &[(&str, &str)], queries: &[&str]) -> Vec<Vec<String>> {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    for (title, message) in conversations {
        let conversation = alice.create_titled(title).await;
        alice.append(&conversation.id, message).await;
    }
    let mut found = Vec::new();
    for query in queries {
        found.push(titles(&search(&mut alice, query).await.unwrap()));
    }
    found
}

#[tokio::test]
async fn a_hyphenated_word_matches_only_where_its_parts_stand_together() {
    let found = titles_found_among(
        &[
            ("one", "Move the stop to break-even after the first target"),
            ("two", "Even a small break from the screens helps"),
        ],
        &["break-even"],
    )
    .await;

    assert_eq!(found, [["one"]]);
}

#[tokio::test]
async fn an_excluded_phrase_keeps_messages_that_hold_its_words_apart() {
    let found = titles_found_among(
        &[("one", "Trading without a stop loss"), ("two", "Trading the loss made me stop")],
        &["trading -\"stop loss\""],
    )
    .await;

    assert_eq!(found, [["two"]]);
}

#[tokio::test]
async fn under_row_security_the_words_of_a_message_search_are_matched_in_the_index() {
    let database = fresh_database().await;
    let admin = PgPool::connect_with(database.clone()).await.unwrap();
    let caller = Uuid::new_v4();
    // Enough of the caller's messages that reading them all and checking each one's words
    // costs more than asking the index for the word: the plan then shows whether it can.
    for statement in [
        "INSERT INTO users (id) VALUES ($1)",
        "INSERT INTO conversations (user_id) VALUES ($1)",
        "INSERT INTO messages (conversation_id, user_id, type, content) \
         SELECT c.id, c.user_id, 'user', 'levels to watch today, number ' || n \
         FROM conversations c, generate_series(1, 300) AS n WHERE c.user_id = $1",
        "ANALYZE messages",
    ] {
        let query = sqlx::query(statement);
        let query = if statement.contains("$1") { query.bind(caller) } else { query };
        query.execute(&admin).await.unwrap();
    }
    admin.close().await;

    let runtime = PgPool::connect_with(database.username(RUNTIME_ROLE)).await.unwrap();
    let mut transaction = runtime.begin().await.unwrap();
    sqlx::query("SELECT set_config('conversation.user_id', $1, true)")
        .bind(caller.to_string())
        .execute(&mut *transaction)
        .await
        .unwrap();
    // The message windows' condition, as src/store/search.rs writes it.
    let explain = format!(
        "EXPLAIN SELECT m.id FROM messages m WHERE m.user_id = '{caller}' \
         AND user_search_terms(m.user_id, m.content_search) \
             @@ user_search_query('{caller}', websearch_to_tsquery('english', 'breakout'))"
    );
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .fetch_all(&mut *transaction)
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    runtime.close().await;

    let words_in_index =
        plan.iter().any(|line| line.contains("Index Cond") && line.contains("user_search_terms"));
    assert!(words_in_index, "{}", plan.join("\n"));
}
