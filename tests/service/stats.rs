//! GetConversationStats: exact numbers on a small dataset written straight into the database
//! with chosen timestamps, a user with nothing, and another user's rows that must never count.
//!
//! Rows are inserted with triggers off (`session_replication_role = replica`), because the
//! triggers would stamp updated_at with the time of the insert and recount messages, and
//! these tests need every timestamp and count exactly as written. The per-user running counts
//! that the statistics read are then rebuilt with `recount_conversations`, as after any bulk
//! load that bypasses the triggers.

use chrono::{DateTime, Duration, Utc};
use conversation_service::pb;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{TestApp, TestUser, at, context};

/// A conversation as the tests write it into the database.
struct Arranged {
    mode: &'static str,
    status: &'static str,
    message_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_message_at: Option<DateTime<Utc>>,
    context_data: Value,
    /// When the conversation's messages were written; their number need not match the count.
    messages_at: Vec<DateTime<Utc>>,
}

/// The start of today in UTC by the database's clock, which the service's window also uses.
async fn start_of_today(db: &PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
        .fetch_one(db)
        .await
        .unwrap()
}

/// Writes the user's row and the conversations with their messages, exactly as given.
async fn insert(db: &PgPool, user_id: Uuid, conversations: &[Arranged]) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
    sqlx::query("INSERT INTO users (id) VALUES ($1)")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .unwrap();

    for conversation in conversations {
        let id = Uuid::new_v4();
        let archived_at = (conversation.status == "archived").then_some(conversation.updated_at);
        sqlx::query(
            "INSERT INTO conversations (id, user_id, mode, status, message_count, created_at, \
             updated_at, last_message_at, context_data, archived_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(user_id)
        .bind(conversation.mode)
        .bind(conversation.status)
        .bind(conversation.message_count)
        .bind(conversation.created_at)
        .bind(conversation.updated_at)
        .bind(conversation.last_message_at)
        .bind(sqlx::types::Json(&conversation.context_data))
        .bind(archived_at)
        .execute(&mut *tx)
        .await
        .unwrap();

        for created_at in &conversation.messages_at {
            sqlx::query(
                "INSERT INTO messages (conversation_id, user_id, type, content, created_at) \
                 VALUES ($1, $2, 'user', 'arranged', $3)",
            )
            .bind(id)
            .bind(user_id)
            .bind(created_at)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }

    sqlx::query("SELECT recount_conversations($1)").bind(user_id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn stats_of(user: &mut TestUser, include_deleted: bool) -> pb::ConversationStats {
    let request = pb::GetConversationStatsRequest { include_deleted };
    user.client.get_conversation_stats(request).await.expect("stats succeed").into_inner()
}

fn by_mode(stats: &pb::ConversationStats) -> Vec<(pb::Mode, i64)> {
    let entries = stats.conversations_by_mode.iter();
    entries.map(|entry| (entry.mode(), entry.conversation_count)).collect()
}

fn by_status(stats: &pb::ConversationStats) -> Vec<(pb::Status, i64)> {
    let entries = stats.conversations_by_status.iter();
    entries.map(|entry| (entry.status(), entry.conversation_count)).collect()
}

fn ranked(values: &[pb::ContextValueCount]) -> Vec<(&str, i64)> {
    values.iter().map(|counted| (counted.value.as_str(), counted.conversation_count)).collect()
}

/// User A's four conversations, one of them deleted, relative to the start of today `t0`.
/// The days of activity inside the window are 29, 20, 10, 5, 3 and 1 days ago: six.
fn user_a_dataset(t0: DateTime<Utc>) -> Vec<Arranged> {
    let days = Duration::days;
    let hours = Duration::hours;
    vec![
        // Old: all of its activity is before the window.
        Arranged {
            mode: "analysis",
            status: "active",
            message_count: 2,
            created_at: t0 - days(40),
            updated_at: t0 - days(40) + hours(1),
            last_message_at: Some(t0 - days(40) + hours(1)),
            context_data: json!({"trading_instruments": ["ES", "NQ"], "coaching_focus": ["discipline"]}),
            messages_at: vec![t0 - days(35)],
        },
        // A repeated instrument counts once; a focus given as a plain string counts as one.
        // Its first message falls on the window's first day, the one before it just outside.
        Arranged {
            mode: "analysis",
            status: "archived",
            message_count: 4,
            created_at: t0 - days(20),
            updated_at: t0 - days(10) + hours(2),
            last_message_at: Some(t0 - days(10) + hours(1)),
            context_data: json!({"trading_instruments": ["ES", "ES"], "coaching_focus": "risk_management"}),
            messages_at: vec![t0 - days(29) + Duration::minutes(1), t0 - days(29) - hours(1)],
        },
        // The latest activity is its last message, later than its updated_at; a number and an
        // object among the instruments are not names and are skipped.
        Arranged {
            mode: "psychology",
            status: "active",
            message_count: 9,
            created_at: t0 - days(5),
            updated_at: t0 - days(5),
            last_message_at: Some(t0 - days(1) + hours(5)),
            context_data: json!({
                "trading_instruments": ["NQ", "CL", 42, {"symbol": "ZB"}],
                "coaching_focus": ["discipline", "patience"]
            }),
            messages_at: vec![t0 - days(1) + hours(3), t0 - days(1) + hours(5)],
        },
        // Deleted: the oldest and the busiest, counted only by status unless asked for. Its
        // deletion three days ago is activity all the same.
        Arranged {
            mode: "training",
            status: "deleted",
            message_count: 100,
            created_at: t0 - days(60),
            updated_at: t0 - days(3),
            last_message_at: Some(t0 - days(50)),
            context_data: json!({"trading_instruments": ["GC"], "coaching_focus": ["sizing"]}),
            messages_at: vec![],
        },
    ]
}

/// User B's conversation, today, in a mode and with context values A never uses, so that any
/// of it leaking into A's numbers shows.
async fn arrange_user_b(user: &mut TestUser) {
    let conversation = pb::Conversation {
        mode: pb::Mode::Planning.into(),
        context_data: Some(context(json!({
            "trading_instruments": ["ES", "6E"],
            "coaching_focus": ["discipline", "journaling"]
        }))),
        ..Default::default()
    };
    let id = user.create(conversation).await.id;
    user.append(&id, "B's own words").await;
}

#[tokio::test]
async fn stats_count_exactly_the_callers_conversations_without_the_deleted_ones() {
    let app = TestApp::spawn().await;
    let mut a = app.user();
    let mut b = app.user();
    let t0 = start_of_today(&app.db).await;
    insert(&app.db, a.id, &user_a_dataset(t0)).await;
    arrange_user_b(&mut b).await;

    let stats = stats_of(&mut a, false).await;

    use pb::{Mode, Status};
    let modes =
        [(Mode::Analysis, 2), (Mode::Psychology, 1), (Mode::Training, 0), (Mode::Planning, 0)];
    assert_eq!(by_mode(&stats), modes);
    let statuses = [(Status::Active, 2), (Status::Archived, 1), (Status::Deleted, 1)];
    assert_eq!(by_status(&stats), statuses);
    assert_eq!(stats.total_conversations, 3);
    assert_eq!(stats.total_messages, 15);
    assert_eq!(stats.average_messages_per_conversation, 5.0);
    assert_eq!(stats.median_messages_per_conversation, 4.0, "the middle of 2, 4 and 9");
    assert_eq!(at(&stats.first_activity_time), t0 - Duration::days(40));
    assert_eq!(at(&stats.latest_activity_time), t0 - Duration::days(1) + Duration::hours(5));
    assert_eq!(stats.active_days_last_30, 6);
    assert_eq!(ranked(&stats.top_trading_instruments), [("ES", 2), ("NQ", 2), ("CL", 1)]);
    let focuses = [("discipline", 2), ("patience", 1), ("risk_management", 1)];
    assert_eq!(ranked(&stats.top_coaching_focuses), focuses);
}

#[tokio::test]
async fn stats_that_include_deleted_conversations_count_them_everywhere() {
    let app = TestApp::spawn().await;
    let mut a = app.user();
    let t0 = start_of_today(&app.db).await;
    insert(&app.db, a.id, &user_a_dataset(t0)).await;

    let stats = stats_of(&mut a, true).await;

    use pb::{Mode, Status};
    let modes =
        [(Mode::Analysis, 2), (Mode::Psychology, 1), (Mode::Training, 1), (Mode::Planning, 0)];
    assert_eq!(by_mode(&stats), modes);
    let statuses = [(Status::Active, 2), (Status::Archived, 1), (Status::Deleted, 1)];
    assert_eq!(by_status(&stats), statuses);
    assert_eq!(stats.total_conversations, 4);
    assert_eq!(stats.total_messages, 115);
    assert_eq!(stats.average_messages_per_conversation, 28.75);
    assert_eq!(stats.median_messages_per_conversation, 6.5, "the mean of 4 and 9");
    assert_eq!(at(&stats.first_activity_time), t0 - Duration::days(60));
    assert_eq!(at(&stats.latest_activity_time), t0 - Duration::days(1) + Duration::hours(5));
    assert_eq!(stats.active_days_last_30, 6);
    let instruments = [("ES", 2), ("NQ", 2), ("CL", 1), ("GC", 1)];
    assert_eq!(ranked(&stats.top_trading_instruments), instruments);
    let focuses = [("discipline", 2), ("patience", 1), ("risk_management", 1), ("sizing", 1)];
    assert_eq!(ranked(&stats.top_coaching_focuses), focuses);
}

#[tokio::test]
async fn a_user_without_conversations_gets_zeros_and_no_activity_times() {
    let app = TestApp::spawn().await;
    let mut b = app.user();
    arrange_user_b(&mut b).await;
    let mut nobody = app.user();

    let stats = stats_of(&mut nobody, true).await;

    assert_eq!(by_mode(&stats).iter().map(|(_, count)| *count).collect::<Vec<_>>(), [0; 4]);
    assert_eq!(by_status(&stats).iter().map(|(_, count)| *count).collect::<Vec<_>>(), [0; 3]);
    assert_eq!(stats.total_conversations, 0);
    assert_eq!(stats.total_messages, 0);
    assert_eq!(stats.average_messages_per_conversation, 0.0);
    assert_eq!(stats.median_messages_per_conversation, 0.0);
    assert_eq!(stats.first_activity_time, None);
    assert_eq!(stats.latest_activity_time, None);
    assert_eq!(stats.active_days_last_30, 0);
    assert!(stats.top_trading_instruments.is_empty());
    assert!(stats.top_coaching_focuses.is_empty());
}

#[tokio::test]
async fn only_the_ten_most_present_context_values_are_listed_ties_by_name() {
    let app = TestApp::spawn().await;
    let mut user = app.user();
    let many: Vec<String> = ('A'..='L').map(String::from).collect();
    for instruments in [json!(many), json!(["L"])] {
        let context_data = Some(context(json!({ "trading_instruments": instruments })));
        user.create(pb::Conversation { context_data, ..Default::default() }).await;
    }

    let stats = stats_of(&mut user, false).await;

    let expected: Vec<(&str, i64)> = std::iter::once(("L", 2))
        .chain(["A", "B", "C", "D", "E", "F", "G", "H", "I"].map(|name| (name, 1)))
        .collect();
    assert_eq!(ranked(&stats.top_trading_instruments), expected);
    assert!(stats.top_coaching_focuses.is_empty());
}

#[tokio::test]
async fn conversations_and_messages_made_through_the_api_today_count_at_once() {
    let app = TestApp::spawn().await;
    let mut user = app.user();
    let first = user.create_titled("Morning plan").await.id;
    user.append(&first, "What is my max loss today?").await;
    user.append(&first, "And my max number of trades?").await;
    user.create_titled("Afternoon review").await;

    let stats = stats_of(&mut user, false).await;

    assert_eq!(stats.total_conversations, 2);
    assert_eq!(stats.total_messages, 2);
    assert_eq!(stats.average_messages_per_conversation, 1.0);
    assert_eq!(stats.median_messages_per_conversation, 1.0, "the mean of 0 and 2");
    assert_eq!(stats.active_days_last_30, 1);
    assert!(at(&stats.latest_activity_time) >= at(&stats.first_activity_time));
}

/// Rebuilds the user's running counts from their conversations, as an operator would.
async fn recount(db: &PgPool, user_id: Uuid) {
    sqlx::query("SELECT recount_conversations($1)").bind(user_id).execute(db).await.unwrap();
}

#[tokio::test]
async fn the_running_counts_agree_with_a_recount_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let mut user = app.user();
    let with = |instruments: Value, focus: Value| pb::Conversation {
        context_data: Some(context(json!({
            "trading_instruments": instruments,
            "coaching_focus": focus
        }))),
        ..Default::default()
    };
    let kept = user.create(with(json!(["ES", "NQ", "ES"]), json!("discipline"))).await.id;
    let archived = user.create(with(json!(["CL"]), json!(["sizing", "patience"]))).await.id;
    let unarchived = user.create(with(json!(["ES", 7]), json!([]))).await.id;
    let deleted = user.create(with(json!(["GC"]), json!(["discipline"]))).await.id;
    let restored = user.create(with(json!(["ZB"]), json!(["journaling"]))).await.id;
    for (id, messages) in [(&kept, 3), (&archived, 1), (&deleted, 2), (&restored, 4)] {
        for n in 0..messages {
            user.append(id, &format!("message {n}")).await;
        }
    }
    user.archive(&archived).await;
    user.archive(&unarchived).await;
    let request = pb::UnarchiveConversationRequest { id: unarchived.clone(), etag: String::new() };
    user.client.unarchive_conversation(request).await.unwrap();
    user.delete(&deleted).await;
    user.delete(&restored).await;
    let request = pb::UndeleteConversationRequest { id: restored.clone(), etag: String::new() };
    user.client.undelete_conversation(request).await.unwrap();
    let moved = pb::Conversation {
        id: kept.clone(),
        mode: pb::Mode::Planning.into(),
        context_data: Some(context(json!({"trading_instruments": ["NQ", "6E"]}))),
        ..Default::default()
    };
    let mask = prost_types::FieldMask { paths: vec!["mode".into(), "context_data".into()] };
    let request =
        pb::UpdateConversationRequest { conversation: Some(moved), update_mask: Some(mask) };
    user.client.update_conversation(request).await.unwrap();

    let running = (stats_of(&mut user, false).await, stats_of(&mut user, true).await);
    recount(&app.db, user.id).await;
    let recounted = (stats_of(&mut user, false).await, stats_of(&mut user, true).await);

    assert_eq!(running, recounted);
    let (without_deleted, with_deleted) = running;
    assert_eq!(without_deleted.total_conversations, 4);
    assert_eq!(without_deleted.total_messages, 8);
    assert_eq!(with_deleted.total_messages, 10);
    assert_eq!(
        ranked(&without_deleted.top_trading_instruments),
        [("6E", 1), ("CL", 1), ("ES", 1), ("NQ", 1), ("ZB", 1)]
    );
}
