//! ListConversations with a filter expression and an order: every field and operator,
//! precedence, malformed expressions with their positions, injection attempts, and keyset
//! paging in each order.

use std::collections::HashSet;

use conversation_service::pb;
use serde_json::json;
use tonic::Code;

use crate::support::{TestApp, TestUser, at, context, violated_fields};

/// One user's conversations, varied in every field a filter can look at.
async fn seed(user: &mut TestUser) {
    let psychology = pb::Mode::Psychology.into();
    user.create(pb::Conversation {
        title: "ES live".into(),
        mode: psychology,
        context_data: Some(context(json!({
            "trading_instruments": ["ES", "NQ"],
            "market_hours": true,
            "session_type": "live_trading",
            "coaching_focus": ["discipline"],
            "risk": {"max_loss": 250},
        }))),
        ..Default::default()
    })
    .await;
    user.create(pb::Conversation {
        title: "NQ replay".into(),
        mode: pb::Mode::Analysis.into(),
        context_data: Some(context(json!({
            "trading_instruments": "NQ",
            "market_hours": false,
            "session_type": "replay",
            "risk": {"max_loss": 500.5},
        }))),
        ..Default::default()
    })
    .await;
    user.create(pb::Conversation {
        title: "Planning week".into(),
        mode: pb::Mode::Planning.into(),
        ..Default::default()
    })
    .await;
    let overtrading = user
        .create(pb::Conversation {
            title: "Overtrading after the open".into(),
            mode: psychology,
            context_data: Some(context(json!({
                "trading_instruments": ["CL"],
                "coaching_focus": null,
            }))),
            ..Default::default()
        })
        .await;
    user.append(&overtrading.id, "I took twelve trades before ten").await;
    user.append(&overtrading.id, "and gave back the week").await;
    user.create(pb::Conversation {
        context_data: Some(context(json!({"session_type": "backtest"}))),
        ..Default::default()
    })
    .await;
    let archived = user
        .create(pb::Conversation {
            title: "Archived drills".into(),
            mode: pb::Mode::Training.into(),
            ..Default::default()
        })
        .await;
    user.archive(&archived.id).await;
    let deleted = user.create_titled("Deleted notes").await;
    user.delete(&deleted.id).await;
}

/// Seeds a user and a second user with the same data, whose rows must never show up.
async fn seeded(app: &TestApp) -> TestUser {
    let mut stranger = app.user();
    seed(&mut stranger).await;
    let mut alice = app.user();
    seed(&mut alice).await;

    // Creation days 1 to 7 in seeding order, for the time filters.
    sqlx::query(
        "UPDATE conversations c SET created_at = timestamptz '2026-01-01 00:00:00+00' \
           + (n.position - 1) * interval '1 day' \
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS position \
               FROM conversations WHERE user_id = $1) n \
         WHERE c.id = n.id",
    )
    .bind(alice.id)
    .execute(&app.db)
    .await
    .unwrap();
    alice
}

fn filtered(filter: &str) -> pb::ListConversationsRequest {
    pb::ListConversationsRequest { filter: filter.into(), ..Default::default() }
}

/// The titles a filter selects, sorted; an untitled conversation reads as "(untitled)".
async fn titles(user: &mut TestUser, filter: &str) -> Vec<String> {
    let listed = user.list_all(filtered(filter)).await;
    assert!(listed.iter().all(|conversation| conversation.user_id == user.id.to_string()));
    let mut titles: Vec<String> = listed
        .into_iter()
        .map(|c| if c.title.is_empty() { "(untitled)".into() } else { c.title })
        .collect();
    titles.sort();
    titles
}

async fn refusal(user: &mut TestUser, request: pb::ListConversationsRequest) -> tonic::Status {
    user.list_pages(request).await.expect_err("the request is refused")
}

fn description(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let details = status.get_details_bad_request().expect("a BadRequest detail");
    details.field_violations[0].description.clone()
}

#[tokio::test]
async fn mode_and_status_take_equality_in_either_spelling() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    let psychology = ["ES live", "Overtrading after the open"];
    assert_eq!(titles(&mut alice, "mode = psychology").await, psychology);
    assert_eq!(titles(&mut alice, "mode = MODE_PSYCHOLOGY").await, psychology);
    assert_eq!(
        titles(&mut alice, "mode != psychology").await,
        ["(untitled)", "Archived drills", "NQ replay", "Planning week"]
    );
    assert_eq!(titles(&mut alice, "status = archived").await, ["Archived drills"]);
    assert_eq!(titles(&mut alice, "status = STATUS_DELETED").await, ["Deleted notes"]);
    assert_eq!(titles(&mut alice, "status != active").await, ["Archived drills", "Deleted notes"]);
}

#[tokio::test]
async fn timestamps_compare_with_every_ordering_operator() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;
    let all = alice.list_all(filtered("")).await;
    let third = all.iter().find(|c| at(&c.created_at).to_rfc3339().starts_with("2026-01-03"));
    let third = third.map(|c| c.title.clone()).unwrap_or_else(|| "(deleted)".into());

    let day = "\"2026-01-03T00:00:00Z\"";
    let before = titles(&mut alice, &format!("created_at < {day}")).await.len();
    let at_or_before = titles(&mut alice, &format!("created_at <= {day}")).await.len();
    let after = titles(&mut alice, &format!("created_at > {day}")).await.len();
    let at_or_after = titles(&mut alice, &format!("created_at >= {day}")).await.len();
    let exactly = titles(&mut alice, &format!("created_at = {day}")).await;
    let not_exactly = titles(&mut alice, &format!("created_at != {day}")).await.len();

    // Six visible conversations; the deleted one may have any of the seven days.
    let visible_on_day = usize::from(third != "(deleted)");
    assert_eq!(exactly.len(), visible_on_day);
    assert_eq!(at_or_before, before + visible_on_day);
    assert_eq!(at_or_after, after + visible_on_day);
    assert_eq!(before + after + visible_on_day, 6);
    assert_eq!(not_exactly, 6 - visible_on_day);

    assert_eq!(titles(&mut alice, "updated_at > \"2000-01-01T00:00:00+02:00\"").await.len(), 6);
    assert_eq!(
        titles(&mut alice, "last_message_at >= \"2000-01-01T00:00:00Z\"").await,
        ["Overtrading after the open"]
    );
    assert_eq!(
        titles(&mut alice, "last_message_at != \"2000-01-01T00:00:00Z\"").await.len(),
        6,
        "a conversation without messages differs from any time"
    );
    assert!(titles(&mut alice, "last_message_at < \"2000-01-01T00:00:00Z\"").await.is_empty());
}

#[tokio::test]
async fn message_count_compares_as_a_number() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    let overtrading = ["Overtrading after the open"];
    assert_eq!(titles(&mut alice, "message_count = 2").await, overtrading);
    assert_eq!(titles(&mut alice, "message_count > 1").await, overtrading);
    assert_eq!(titles(&mut alice, "message_count >= 2").await, overtrading);
    assert_eq!(titles(&mut alice, "message_count < 1").await.len(), 5);
    assert_eq!(titles(&mut alice, "message_count <= 2").await.len(), 6);
    assert_eq!(titles(&mut alice, "message_count != 0").await, overtrading);
}

#[tokio::test]
async fn title_matches_exactly_by_substring_or_by_presence() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    assert_eq!(titles(&mut alice, "title = \"NQ replay\"").await, ["NQ replay"]);
    assert!(titles(&mut alice, "title = \"nq replay\"").await.is_empty(), "= is exact");
    assert_eq!(titles(&mut alice, "title != \"NQ replay\"").await.len(), 5);
    assert_eq!(titles(&mut alice, "title : \"OVERTRAD\"").await, ["Overtrading after the open"]);
    assert_eq!(titles(&mut alice, "title:week").await, ["Planning week"]);
    assert!(titles(&mut alice, "title:\"%\"").await.is_empty(), "% is no wildcard");
    assert_eq!(titles(&mut alice, "NOT title:*").await, ["(untitled)"]);
}

#[tokio::test]
async fn context_paths_match_by_containment_presence_and_order() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    let es_live = ["ES live"];
    assert_eq!(titles(&mut alice, "context_data.trading_instruments:\"ES\"").await, es_live);
    assert_eq!(
        titles(&mut alice, "context_data.trading_instruments:NQ").await,
        ["ES live", "NQ replay"],
        "has matches an array element and a plain value"
    );
    assert_eq!(titles(&mut alice, "context_data.market_hours = true").await, es_live);
    assert_eq!(titles(&mut alice, "context_data.market_hours = false").await, ["NQ replay"]);
    assert_eq!(titles(&mut alice, "context_data.market_hours != true").await.len(), 5);
    assert_eq!(titles(&mut alice, "context_data.session_type = \"live_trading\"").await, es_live);
    assert_eq!(titles(&mut alice, "context_data.session_type = live_trading").await, es_live);
    assert_eq!(
        titles(&mut alice, "context_data.coaching_focus:*").await,
        ["ES live", "Overtrading after the open"],
        "a key holding null is present"
    );
    assert_eq!(titles(&mut alice, "context_data.risk.max_loss = 250").await, es_live);
    assert_eq!(titles(&mut alice, "context_data.risk.max_loss:*").await.len(), 2);
    assert_eq!(titles(&mut alice, "context_data.risk.max_loss > 300").await, ["NQ replay"]);
    assert_eq!(titles(&mut alice, "context_data.risk.max_loss <= 250.0").await, es_live);
    assert_eq!(
        titles(&mut alice, "context_data.session_type < \"m\"").await,
        ["(untitled)", "ES live"]
    );
    assert!(titles(&mut alice, "context_data.coaching_focus = null").await.len() == 1);
}

#[tokio::test]
async fn or_binds_tighter_than_and_as_aip_160_says() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    // In SQL's precedence this would also match the psychology conversation without market
    // hours; in AIP-160's it means (psychology OR analysis) AND market hours.
    let aip = "mode = psychology OR mode = analysis AND context_data.market_hours = true";
    assert_eq!(titles(&mut alice, aip).await, ["ES live"]);
    let implicit = "mode = psychology OR mode = analysis context_data.market_hours = true";
    assert_eq!(titles(&mut alice, implicit).await, ["ES live"]);
    let grouped = "mode = psychology OR (mode = analysis AND context_data.market_hours = true)";
    assert_eq!(titles(&mut alice, grouped).await, ["ES live", "Overtrading after the open"]);
}

#[tokio::test]
async fn not_and_minus_negate_nested_groups() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    let nested = "NOT (mode = psychology OR (title:replay AND message_count = 0))";
    assert_eq!(
        titles(&mut alice, nested).await,
        ["(untitled)", "Archived drills", "Planning week"]
    );
    assert_eq!(
        titles(&mut alice, "-mode = psychology -mode = analysis title:*").await,
        ["Archived drills", "Planning week"]
    );
}

#[tokio::test]
async fn the_filter_narrows_the_mode_and_status_fields_of_the_request() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;

    let listed = alice
        .list_all(pb::ListConversationsRequest {
            mode: pb::Mode::Psychology.into(),
            filter: "message_count = 0".into(),
            ..Default::default()
        })
        .await;

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].title, "ES live");
}

#[tokio::test]
async fn every_malformed_expression_is_refused_with_its_position_and_reason() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let too_long = format!("title = \"{}\"", "x".repeat(2_000));
    let too_deep = format!("{}mode = analysis{}", "(".repeat(33), ")".repeat(33));
    let cases: [(&str, &str); 14] = [
        ("colour = red", "at byte 0: unknown field \"colour\""),
        ("mode > analysis", "at byte 5: operator > does not apply to mode"),
        ("title = \"abc", "at byte 8: unterminated string"),
        ("(mode = analysis", "at byte 0: unbalanced parenthesis"),
        ("mode = analysis)", "at byte 15: unbalanced parenthesis"),
        ("message_count = \"x\"", "at byte 16: message_count takes a whole number"),
        ("created_at > 5", "at byte 13: created_at takes an RFC 3339 time"),
        ("mode = analysis 42", "at byte 16: trailing input: the number 42"),
        ("()", "at byte 0: empty expression"),
        ("mode = analysis AND", "at byte 19: expected a condition"),
        ("mode = ", "at byte 7: expected a value"),
        ("mode = gossip", "at byte 7: \"gossip\" is not a mode"),
        (&too_long, "at byte 2000: the expression is longer than 2000 characters"),
        (&too_deep, "at byte 32: parentheses nest deeper than 32 levels"),
    ];

    for (filter, expected) in cases {
        let status = refusal(&mut alice, filtered(filter)).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{filter}");
        assert_eq!(violated_fields(&status), ["filter"], "{filter}");
        let description = description(&status);
        assert!(description.starts_with(expected), "{filter:?}: {description}");
    }
}

#[tokio::test]
async fn a_bad_order_by_is_refused_with_its_position() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    let request = pb::ListConversationsRequest {
        order_by: "created_at sideways".into(),
        ..Default::default()
    };
    let status = refusal(&mut alice, request).await;

    assert_eq!(violated_fields(&status), ["order_by"]);
    assert!(description(&status).starts_with("at byte 11: unknown order_by direction"));
}

#[tokio::test]
async fn injection_attempts_return_only_the_callers_data_or_a_clean_refusal() {
    let app = TestApp::spawn().await;
    let mut alice = seeded(&app).await;
    let before = app.snapshot().await;
    let attempts = [
        "title = \"x' OR 1=1 --\"",
        "title : \"'; DROP TABLE conversations; --\"",
        "title : \"\\\\'; SELECT pg_sleep(5); --\"",
        "context_data.session_type = \"live_trading' OR '1'='1\"",
        "context_data.trading_instruments : \"ES\\\"}]'::jsonb OR true --\"",
        "title = 'a\\'b' OR title = \"/* */\"",
        "mode = analysis' OR 1=1 --",
        "mode = analysis; DROP TABLE conversations",
        "title; DELETE FROM conversations",
        "context_data.x'y = 1",
        "context_data.\"a\" = 1",
        "title = \"nul \0 inside\"",
        "title = x -- comment",
        "status = active OR 1=1",
        "user_id = \"00000000-0000-0000-0000-000000000000\"",
    ];

    for filter in attempts {
        match alice.list_pages(filtered(filter)).await {
            Ok(pages) => {
                let listed = pages.iter().flat_map(|page| &page.conversations);
                for conversation in listed {
                    assert_eq!(conversation.user_id, alice.id.to_string(), "{filter}");
                }
            }
            Err(status) => {
                assert_eq!(status.code(), Code::InvalidArgument, "{filter}: {status:?}");
                assert_eq!(violated_fields(&status), ["filter"], "{filter}");
                assert!(!status.message().to_lowercase().contains("syntax error at"));
            }
        }
    }

    assert_eq!(app.snapshot().await, before, "nothing was written");
    assert_eq!(titles(&mut alice, "").await.len(), 6);
}

/// Inserts `count` conversations whose created_at, updated_at and last_message_at repeat in
/// groups, and a third of them without messages, so that every order has ties to break.
async fn insert_tied(app: &TestApp, user: &TestUser, count: i64) {
    app.ensure_user_row(user).await;
    sqlx::query(
        "INSERT INTO conversations \
           (id, user_id, title, mode, created_at, updated_at, last_message_at, message_count) \
         SELECT gen_random_uuid(), $1, 'bulk ' || n, \
                CASE WHEN n % 2 = 0 THEN 'planning' ELSE 'analysis' END, \
                timestamptz '2026-01-01 00:00:00+00' + (n / 5) * interval '1 minute', \
                timestamptz '2026-02-01 00:00:00+00' + ((n * 7) % 11) * interval '1 minute', \
                CASE WHEN n % 3 = 0 THEN NULL \
                     ELSE timestamptz '2026-01-01 00:00:00+00' \
                          + ((n * 3) % 13) * interval '1 minute' END, \
                CASE WHEN n % 3 = 0 THEN 0 ELSE 1 END \
         FROM generate_series(1, $2) AS n",
    )
    .bind(user.id)
    .bind(count)
    .execute(&app.db)
    .await
    .unwrap();
}

/// The sort key of a listed conversation under `order_by`'s field.
fn sort_key(conversation: &pb::Conversation, field: &str) -> chrono::DateTime<chrono::Utc> {
    match field {
        "created_at" => at(&conversation.created_at),
        "updated_at" => at(&conversation.updated_at),
        _ if conversation.last_message_at.is_some() => at(&conversation.last_message_at),
        _ => at(&conversation.created_at),
    }
}

#[tokio::test]
async fn every_order_pages_through_ties_without_repeating_or_skipping() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_tied(&app, &alice, 150).await;

    for field in ["updated_at", "created_at", "last_message_at"] {
        for direction in ["desc", "asc"] {
            let order_by = format!("{field} {direction}");
            let pages = alice
                .list_pages(pb::ListConversationsRequest {
                    page_size: 7,
                    order_by: order_by.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();

            let listed: Vec<&pb::Conversation> =
                pages.iter().flat_map(|page| &page.conversations).collect();
            let unique: HashSet<&str> = listed.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(pages.len(), 22, "{order_by}");
            assert_eq!((listed.len(), unique.len()), (150, 150), "{order_by}");

            let keys: Vec<_> = listed.iter().map(|c| (sort_key(c, field), c.id.clone())).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if direction == "desc" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{order_by}");
        }
    }
}

#[tokio::test]
async fn a_filtered_listing_resumed_call_by_call_sees_every_match_once() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_tied(&app, &alice, 120).await;
    let request = |page_token: String| pb::ListConversationsRequest {
        page_size: 9,
        max_pages: 1,
        page_token,
        filter: "mode = planning AND NOT message_count = 0".into(),
        order_by: "last_message_at asc".into(),
        ..Default::default()
    };

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let pages = alice.list_pages(request(token)).await.unwrap();
        seen.extend(pages[0].conversations.iter().map(|c| c.id.clone()));
        token = pages[0].next_page_token.clone();
        if token.is_empty() {
            break;
        }
    }

    // Even n that are not multiples of 3: 60 even, of which 20 are multiples of 6.
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (40, 40));
}

#[tokio::test]
async fn a_page_token_is_refused_when_the_filter_or_the_order_changes() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    insert_tied(&app, &alice, 10).await;
    let first = pb::ListConversationsRequest {
        page_size: 2,
        max_pages: 1,
        filter: "mode = planning".into(),
        order_by: "created_at asc".into(),
        ..Default::default()
    };
    let pages = alice.list_pages(first.clone()).await.unwrap();
    let token = pages[0].next_page_token.clone();

    let other_filter = pb::ListConversationsRequest {
        page_token: token.clone(),
        filter: "mode = analysis".into(),
        ..first.clone()
    };
    let other_order = pb::ListConversationsRequest {
        page_token: token.clone(),
        order_by: "created_at desc".into(),
        ..first.clone()
    };
    let same = pb::ListConversationsRequest { page_token: token, ..first };

    for changed in [other_filter, other_order] {
        let status = refusal(&mut alice, changed).await;
        assert_eq!(violated_fields(&status), ["page_token"]);
    }
    assert!(alice.list_pages(same).await.is_ok());
}
