//! The seeder: applies the service's migrations, then loads users, conversations and messages
//! generated from the trading vocabulary, fast.
//!
//! Rows stream through `COPY ... FROM STDIN` into two unlogged staging tables, one connection
//! each, while a blocking task generates them. Then, as a superuser with
//! `session_replication_role = replica` (no user triggers, no foreign-key triggers), one
//! `INSERT ... SELECT` per table moves them into the real tables and computes the search
//! vectors that the triggers would have computed; the statistics the message trigger keeps
//! (`message_count`, `last_message_at`, `updated_at`, a title from the first user message)
//! are generated consistent with the messages in the first place, and the per-user running
//! counts the statistics read are rebuilt afterwards. The secondary indexes are
//! dropped before and rebuilt after with their own definitions, which is much faster than
//! growing them row by row. The end state is the schema the migrations made.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use clap::Args;
use conversation_service::database::{MIGRATOR, RUNTIME_ROLE};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::vocabulary;

#[derive(Args)]
pub struct SeedArgs {
    /// A superuser connection to the service's database (COPY under row-level security and
    /// session_replication_role both need one).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    #[arg(long, default_value_t = 1_000_000)]
    conversations: u64,
    /// Conversations of the one heavy user, included in --conversations.
    #[arg(long, default_value_t = 200_000)]
    heavy_user_conversations: u64,
    #[arg(long, default_value_t = 5_000_000)]
    messages: u64,
    /// Multiplies the four sizes above, such as 0.05 for a quick run.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// How far back conversations were created.
    #[arg(long, default_value_t = 18)]
    months: u32,
    /// How many active conversations the load generator and pgbench pick from.
    #[arg(long, default_value_t = 20_000)]
    sample: u64,
    /// Seed of the generator: the same seed and sizes load the same data.
    #[arg(long, default_value_t = 20261203)]
    seed: u64,
    /// Where to write the dataset description the load generator reads.
    #[arg(long, default_value = "dataset.json")]
    out: PathBuf,
}

/// What the load generator needs to know about the seeded data.
#[derive(Serialize, serde::Deserialize)]
pub struct Dataset {
    pub heavy_user_id: Uuid,
    pub heavy_user_conversations: u64,
    pub users: u64,
    pub conversations: u64,
    pub messages: u64,
    /// Active conversations of ordinary users, as (user id, conversation id); `bench_ids`
    /// holds the same pairs, numbered from 1, for pgbench.
    pub sample: Vec<(Uuid, Uuid)>,
    /// Seconds each phase of the seeding took.
    pub seeding_seconds: Vec<(String, f64)>,
}

struct Sizes {
    users: u64,
    conversations: u64,
    heavy: u64,
    messages: u64,
}

const CHUNK_BYTES: usize = 1 << 20;

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let sizes = Sizes {
        users: scaled(args.users, args.scale).max(2),
        conversations: scaled(args.conversations, args.scale),
        heavy: scaled(args.heavy_user_conversations, args.scale),
        messages: scaled(args.messages, args.scale),
    };
    ensure!(sizes.heavy <= sizes.conversations, "the heavy user cannot hold more than all");
    let mut phases = Phases::start();

    let mut conn = PgConnection::connect(&args.database_url).await.context("connecting")?;
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await?;
    ensure!(superuser, "the seeder needs a superuser connection (see docs/benchmarks.md)");

    MIGRATOR.run(&mut conn).await.context("applying the service's migrations")?;
    let existing: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations").fetch_one(&mut conn).await?;
    if existing > 0 {
        bail!("the database already holds {existing} conversations; seed an empty one");
    }
    create_month_partitions(&mut conn, args.months).await?;
    phases.lap("migrations and partitions");

    let dropped = drop_secondary_indexes(&mut conn).await?;
    create_staging_tables(&mut conn).await?;
    let users = generate_users(&mut SmallRng::seed_from_u64(args.seed), sizes.users);
    copy_users(&mut conn, &users).await?;
    stream_rows(&args, &sizes, users.clone()).await?;
    phases.lap("generate and COPY into staging");

    move_staged_rows(&args.database_url, &mut conn).await?;
    phases.lap("INSERT SELECT with search vectors");

    // The triggers that keep each user's running counts did not fire either.
    sqlx::query("SELECT recount_conversations()").execute(&mut conn).await?;
    phases.lap("recount the statistics' running counts");

    rebuild_indexes(&args.database_url, dropped).await?;
    phases.lap("rebuild indexes");

    sqlx::query("VACUUM (ANALYZE) users, conversations, messages").execute(&mut conn).await?;
    phases.lap("VACUUM ANALYZE");

    let heavy_user_id = users[0];
    let sample = create_sample(&mut conn, heavy_user_id, args.sample).await?;
    conn.close().await?;

    let dataset = Dataset {
        heavy_user_id,
        heavy_user_conversations: sizes.heavy,
        users: sizes.users,
        conversations: sizes.conversations,
        messages: sizes.messages,
        sample,
        seeding_seconds: phases.finish(),
    };
    std::fs::write(&args.out, serde_json::to_vec_pretty(&dataset)?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("heavy user {heavy_user_id}; dataset written to {}", args.out.display());
    Ok(())
}

fn scaled(size: u64, scale: f64) -> u64 {
    (size as f64 * scale).round() as u64
}

/// Wall-clock time of each seeding phase, printed as it ends.
struct Phases {
    laps: Vec<(String, f64)>,
    lap_start: Instant,
}

impl Phases {
    fn start() -> Self {
        Self { laps: Vec::new(), lap_start: Instant::now() }
    }

    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        let seconds = now.duration_since(self.lap_start).as_secs_f64();
        println!("seed: {name}: {seconds:.1} s");
        self.laps.push((name.to_owned(), seconds));
        self.lap_start = now;
    }

    fn finish(mut self) -> Vec<(String, f64)> {
        let total: f64 = self.laps.iter().map(|(_, seconds)| seconds).sum();
        println!("seed: total: {total:.1} s");
        self.laps.push(("total".to_owned(), total));
        self.laps
    }
}

/// Creates the monthly partitions of the past `months` months, named as
/// `ensure_message_partitions()` names the coming ones, so that no seeded message lands in
/// the default partition.
async fn create_month_partitions(conn: &mut PgConnection, months: u32) -> anyhow::Result<()> {
    let today = Utc::now().date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).context("a date")?;
    for back in (1..=months + 1).rev() {
        let start = this_month - Months::new(back);
        let end = start + Months::new(1);
        // Formatted from dates, never from input text.
        let statement = format!(
            "CREATE TABLE IF NOT EXISTS messages_y{}m{:02} PARTITION OF messages \
             FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')",
            start.year(),
            start.month(),
        );
        sqlx::query(AssertSqlSafe(statement)).execute(&mut *conn).await?;
    }
    sqlx::query("SELECT ensure_message_partitions(3)").execute(&mut *conn).await?;
    Ok(())
}

/// Drops the indexes of conversations and messages that back no constraint, returning their
/// definitions for [`rebuild_indexes`].
async fn drop_secondary_indexes(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indrelid IN ('conversations'::regclass, 'messages'::regclass) \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .fetch_all(&mut *conn)
    .await?;

    for (name, _) in &indexes {
        // Names come from the catalog, already quoted by regclass output.
        sqlx::query(AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut *conn).await?;
    }
    // A partitioned table's definition reads `ON ONLY`, which would build the parent's index
    // alone; without it the index is built on every partition too, as the migration did.
    let definitions =
        indexes.into_iter().map(|(_, definition)| definition.replace(" ON ONLY ", " ON "));
    Ok(definitions.collect())
}

/// Rebuilds the dropped indexes, two at a time (one per core), largest tables first.
async fn rebuild_indexes(database_url: &str, mut definitions: Vec<String>) -> anyhow::Result<()> {
    // Workers pop from the end: the message indexes, the largest, go first.
    definitions.sort_by_key(|definition| definition.contains(" ON public.messages "));
    let queue = std::sync::Arc::new(std::sync::Mutex::new(definitions));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (queue, url) = (queue.clone(), database_url.to_owned());
        workers.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await?;
            sqlx::query("SET maintenance_work_mem = '512MB'").execute(&mut conn).await?;
            loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some(definition) = next else { break };
                let started = Instant::now();
                sqlx::query(AssertSqlSafe(definition.clone())).execute(&mut conn).await?;
                println!("seed:   {:.1} s {definition}", started.elapsed().as_secs_f64());
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

async fn create_staging_tables(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_staged_conversations, bench_staged_messages; \
         CREATE UNLOGGED TABLE bench_staged_conversations ( \
           id uuid, user_id uuid, title text, mode text, status text, context_data jsonb, \
           last_message_at timestamptz, message_count integer, created_at timestamptz, \
           updated_at timestamptz, archived_at timestamptz); \
         CREATE UNLOGGED TABLE bench_staged_messages ( \
           id uuid, conversation_id uuid, user_id uuid, type text, content text, \
           created_at timestamptz)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn generate_users(rng: &mut SmallRng, count: u64) -> Vec<Uuid> {
    (0..count).map(|_| uuid::Builder::from_random_bytes(rng.random()).into_uuid()).collect()
}

async fn copy_users(conn: &mut PgConnection, users: &[Uuid]) -> anyhow::Result<()> {
    let mut copy = conn.copy_in_raw("COPY users (id) FROM STDIN").await?;
    let mut buffer = String::with_capacity(users.len() * 37);
    for user in users {
        buffer.push_str(&user.to_string());
        buffer.push('\n');
    }
    copy.send(buffer.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Generates conversations and their messages on a blocking thread and streams each table's
/// rows to its own COPY, on its own connection.
async fn stream_rows(args: &SeedArgs, sizes: &Sizes, users: Vec<Uuid>) -> anyhow::Result<()> {
    let (conversations_tx, conversations_rx) = mpsc::channel::<Vec<u8>>(8);
    let (messages_tx, messages_rx) = mpsc::channel::<Vec<u8>>(8);

    let conversations_copy = tokio::spawn(copy_stream(
        args.database_url.clone(),
        "COPY bench_staged_conversations FROM STDIN",
        conversations_rx,
    ));
    let messages_copy = tokio::spawn(copy_stream(
        args.database_url.clone(),
        "COPY bench_staged_messages FROM STDIN",
        messages_rx,
    ));

    let plan = Plan {
        seed: args.seed,
        conversations: sizes.conversations,
        heavy: sizes.heavy,
        messages: sizes.messages,
        months: args.months,
    };
    let generator = tokio::task::spawn_blocking(move || {
        generate(&plan, &users, &conversations_tx, &messages_tx)
    });

    generator.await??;
    conversations_copy.await??;
    messages_copy.await??;
    Ok(())
}

async fn copy_stream(
    url: String,
    statement: &'static str,
    mut chunks: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<u64> {
    let mut conn = PgConnection::connect(&url).await?;
    let mut copy = conn.copy_in_raw(statement).await?;
    while let Some(chunk) = chunks.recv().await {
        copy.send(chunk).await?;
    }
    let rows = copy.finish().await?;
    conn.close().await?;
    Ok(rows)
}

struct Plan {
    seed: u64,
    conversations: u64,
    heavy: u64,
    messages: u64,
    months: u32,
}

/// A buffer of COPY text rows that is handed to its COPY whenever it reaches a megabyte.
struct CopyBuffer<'a> {
    text: String,
    sink: &'a mpsc::Sender<Vec<u8>>,
}

impl CopyBuffer<'_> {
    fn end_row(&mut self) -> anyhow::Result<()> {
        self.text.push('\n');
        if self.text.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let chunk = std::mem::replace(&mut self.text, String::with_capacity(CHUNK_BYTES + 4096));
        self.sink.blocking_send(chunk.into_bytes()).context("a COPY stopped")
    }

    /// Appends one column, tab-separated from the previous one; `None` is SQL NULL.
    fn column(&mut self, first: bool, value: Option<&str>) {
        if !first {
            self.text.push('\t');
        }
        match value {
            None => self.text.push_str("\\N"),
            Some(value) => {
                for character in value.chars() {
                    match character {
                        '\\' => self.text.push_str("\\\\"),
                        '\t' => self.text.push_str("\\t"),
                        '\n' => self.text.push_str("\\n"),
                        '\r' => self.text.push_str("\\r"),
                        other => self.text.push(other),
                    }
                }
            }
        }
    }
}

fn generate(
    plan: &Plan,
    users: &[Uuid],
    conversations_sink: &mpsc::Sender<Vec<u8>>,
    messages_sink: &mpsc::Sender<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut rng = SmallRng::seed_from_u64(plan.seed ^ 0x5eed);
    let now = Utc::now();
    let first_day = now - Months::new(plan.months);
    let span_ms = (now - first_day).num_milliseconds() - 3_600_000;

    let owners = assign_owners(&mut rng, plan, users.len());
    let counts = message_counts(&mut rng, plan.conversations, plan.messages);

    let mut conversations =
        CopyBuffer { text: String::with_capacity(CHUNK_BYTES + 4096), sink: conversations_sink };
    let mut messages =
        CopyBuffer { text: String::with_capacity(CHUNK_BYTES + 4096), sink: messages_sink };

    for (index, (&owner, &count)) in owners.iter().zip(&counts).enumerate() {
        // Creation times grow with the index, as they would in production.
        let offset = span_ms * index as i64 / plan.conversations.max(1) as i64;
        let created_at =
            first_day + chrono::Duration::milliseconds(offset + rng.random_range(0..60_000));
        let conversation = Conversation::generate(&mut rng, users[owner], created_at, count, now);
        conversation.write_messages(&mut messages)?;
        conversation.write(&mut conversations, &mut rng)?;
    }
    conversations.flush()?;
    messages.flush()
}

/// The owner of each conversation, as an index into the users: the heavy user (index 0)
/// holds exactly `plan.heavy`, the others are skewed so that some users are far busier than
/// others, as on any chat product.
fn assign_owners(rng: &mut SmallRng, plan: &Plan, users: usize) -> Vec<usize> {
    let ordinary = users.saturating_sub(1).max(1);
    let mut owners: Vec<usize> = (0..plan.conversations)
        .map(|index| {
            if index < plan.heavy {
                0
            } else {
                let skewed = rng.random::<f64>().powi(2);
                1 + ((skewed * ordinary as f64) as usize).min(ordinary - 1)
            }
        })
        .collect();
    owners.shuffle(rng);
    owners
}

/// Messages per conversation: exponentially distributed around the mean (many short or empty
/// conversations, a few long ones), then nudged so that the total is exactly `total`.
fn message_counts(rng: &mut SmallRng, conversations: u64, total: u64) -> Vec<u32> {
    if conversations == 0 {
        return Vec::new();
    }
    let mean = total as f64 / conversations as f64;
    let mut counts: Vec<u32> = (0..conversations)
        .map(|_| (-(1.0 - rng.random::<f64>()).ln() * mean).floor().min(400.0) as u32)
        .collect();
    let mut sum: u64 = counts.iter().map(|&count| u64::from(count)).sum();
    let len = counts.len();
    while sum < total {
        counts[rng.random_range(0..len)] += 1;
        sum += 1;
    }
    while sum > total {
        let index = rng.random_range(0..len);
        if counts[index] > 0 {
            counts[index] -= 1;
            sum -= 1;
        }
    }
    counts
}

struct Conversation {
    id: Uuid,
    user_id: Uuid,
    title: Option<String>,
    mode: &'static str,
    status: &'static str,
    context: String,
    created_at: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    messages: Vec<(Uuid, &'static str, String, DateTime<Utc>)>,
}

impl Conversation {
    fn generate(
        rng: &mut SmallRng,
        user_id: Uuid,
        created_at: DateTime<Utc>,
        count: u32,
        now: DateTime<Utc>,
    ) -> Self {
        let id = v7(rng, created_at);
        let mode = weighted(
            rng,
            &[("analysis", 45), ("psychology", 25), ("training", 15), ("planning", 15)],
        );
        let session_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let context = vocabulary::context(rng, session_id).to_string();

        let latest = now - chrono::Duration::seconds(1);
        let mut at = created_at;
        let mut messages = Vec::with_capacity(count as usize);
        for index in 0..count {
            at = (at + chrono::Duration::seconds(rng.random_range(5..600))).min(latest);
            let message_type = if index % 2 == 0 { "user" } else { "assistant" };
            let content = vocabulary::message(rng, message_type == "user");
            messages.push((v7(rng, at), message_type, content, at));
        }

        // An untitled conversation is titled by the trigger from its first user message.
        let title = match (rng.random_range(0..10), messages.first()) {
            (0..3, Some((_, _, first, _))) => Some(trigger_title(first)),
            (0..3, None) => None,
            _ => Some(vocabulary::title(rng)),
        };

        let status = weighted(rng, &[("active", 80), ("archived", 14), ("deleted", 6)]);
        let archived_at = match status {
            "archived" => Some(at + chrono::Duration::hours(rng.random_range(1..240))),
            "deleted" if rng.random_bool(0.3) => Some(at + chrono::Duration::hours(2)),
            _ => None,
        }
        .map(|archived_at| archived_at.min(latest));

        Self { id, user_id, title, mode, status, context, created_at, archived_at, messages }
    }

    fn write_messages(&self, out: &mut CopyBuffer<'_>) -> anyhow::Result<()> {
        let (conversation_id, user_id) = (self.id.to_string(), self.user_id.to_string());
        for (id, message_type, content, created_at) in &self.messages {
            out.column(true, Some(&id.to_string()));
            out.column(false, Some(&conversation_id));
            out.column(false, Some(&user_id));
            out.column(false, Some(message_type));
            out.column(false, Some(content));
            out.column(false, Some(&timestamp(*created_at)));
            out.end_row()?;
        }
        Ok(())
    }

    fn write(&self, out: &mut CopyBuffer<'_>, rng: &mut SmallRng) -> anyhow::Result<()> {
        let last_message_at = self.messages.last().map(|message| message.3);
        // A later edit (a rename, a context change) moved updated_at in some conversations.
        let edited = rng.random_bool(0.1).then(|| {
            let latest = last_message_at.unwrap_or(self.created_at);
            latest + chrono::Duration::minutes(rng.random_range(1..600))
        });
        let updated_at = [Some(self.created_at), last_message_at, self.archived_at, edited]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.created_at)
            .min(Utc::now());

        out.column(true, Some(&self.id.to_string()));
        out.column(false, Some(&self.user_id.to_string()));
        out.column(false, self.title.as_deref());
        out.column(false, Some(self.mode));
        out.column(false, Some(self.status));
        out.column(false, Some(&self.context));
        out.column(false, last_message_at.map(timestamp).as_deref());
        out.column(false, Some(&self.messages.len().to_string()));
        out.column(false, Some(&timestamp(self.created_at)));
        out.column(false, Some(&timestamp(updated_at)));
        out.column(false, self.archived_at.map(timestamp).as_deref());
        out.end_row()
    }
}

/// The title `update_conversation_stats()` gives an untitled conversation: the first 50
/// characters of its first user message, with "..." when the message is longer.
fn trigger_title(content: &str) -> String {
    let mut title: String = content.chars().take(50).collect();
    if content.chars().count() > 50 {
        title.push_str("...");
    }
    title
}

fn v7(rng: &mut SmallRng, at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &rng.random()).into_uuid()
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

fn weighted(rng: &mut SmallRng, choices: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.random_range(0..total);
    for (choice, weight) in choices {
        if roll < *weight {
            return choice;
        }
        roll -= weight;
    }
    choices[0].0
}

/// Moves the staged rows into the real tables, computing the search vectors, with user
/// triggers and foreign-key checks off. Messages move month by month on two connections.
async fn move_staged_rows(database_url: &str, conn: &mut PgConnection) -> anyhow::Result<()> {
    let months: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT month, month + interval '1 month' FROM generate_series( \
           date_trunc('month', (SELECT min(created_at) FROM bench_staged_messages)), \
           (SELECT max(created_at) FROM bench_staged_messages), interval '1 month') AS month",
    )
    .fetch_all(&mut *conn)
    .await?;

    let messages_mover = {
        let queue = std::sync::Arc::new(std::sync::Mutex::new(months));
        let mut workers = Vec::new();
        for _ in 0..2 {
            let (queue, url) = (queue.clone(), database_url.to_owned());
            workers.push(tokio::spawn(async move {
                let mut conn = replica_connection(&url).await?;
                loop {
                    let next = queue.lock().expect("queue lock").pop();
                    let Some((from, to)) = next else { break };
                    sqlx::query(
                        "INSERT INTO messages \
                           (id, conversation_id, user_id, type, content, created_at, \
                            content_search) \
                         SELECT id, conversation_id, user_id, type, content, created_at, \
                                to_tsvector('english', content) \
                         FROM bench_staged_messages WHERE created_at >= $1 AND created_at < $2",
                    )
                    .bind(from)
                    .bind(to)
                    .execute(&mut conn)
                    .await?;
                }
                anyhow::Ok(())
            }));
        }
        workers
    };

    let mut replica = replica_connection(database_url).await?;
    sqlx::query(
        "INSERT INTO conversations \
           (id, user_id, title, mode, status, context_data, last_message_at, message_count, \
            created_at, updated_at, archived_at, title_search) \
         SELECT id, user_id, title, mode, status, context_data, last_message_at, message_count, \
                created_at, updated_at, archived_at, \
                setweight(to_tsvector('english', COALESCE(title, '')), 'A') \
         FROM bench_staged_conversations",
    )
    .execute(&mut replica)
    .await?;

    for worker in messages_mover {
        worker.await??;
    }
    sqlx::query("DROP TABLE bench_staged_conversations, bench_staged_messages")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn replica_connection(url: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("SET session_replication_role = replica").execute(&mut conn).await?;
    Ok(conn)
}

/// Numbers a random sample of ordinary users' active conversations in `bench_ids`, which
/// pgbench's scripts pick from, and returns the same pairs for the load generator.
async fn create_sample(
    conn: &mut PgConnection,
    heavy_user_id: Uuid,
    size: u64,
) -> anyhow::Result<Vec<(Uuid, Uuid)>> {
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_ids; \
         CREATE TABLE bench_ids (n integer PRIMARY KEY, user_id uuid NOT NULL, \
                                 conversation_id uuid NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO bench_ids \
         SELECT row_number() OVER (), user_id, id FROM ( \
           SELECT user_id, id FROM conversations \
           WHERE status = 'active' AND user_id <> $1 ORDER BY random() LIMIT $2) AS picked",
    )
    .bind(heavy_user_id)
    .bind(i64::try_from(size)?)
    .execute(&mut *conn)
    .await?;
    // Formatted from a constant role name.
    let grant = format!(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN \
         GRANT SELECT ON bench_ids TO {RUNTIME_ROLE}; END IF; END $$"
    );
    sqlx::query(AssertSqlSafe(grant)).execute(&mut *conn).await?;
    sqlx::query("ANALYZE bench_ids").execute(&mut *conn).await?;

    let sample = sqlx::query_as("SELECT user_id, conversation_id FROM bench_ids ORDER BY n")
        .fetch_all(&mut *conn)
        .await?;
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn message_counts_add_up_to_the_requested_total() {
        let mut rng = SmallRng::seed_from_u64(7);
        let counts = message_counts(&mut rng, 1_000, 5_123);
        assert_eq!(counts.iter().map(|&count| u64::from(count)).sum::<u64>(), 5_123);
    }

    #[test]
    fn trigger_titles_are_cut_at_fifty_characters() {
        let long = "x".repeat(60);
        assert_eq!(trigger_title(&long), format!("{}...", "x".repeat(50)));
        assert_eq!(trigger_title("short"), "short");
    }

    #[test]
    fn created_at_formats_as_a_postgres_timestamp() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(timestamp(at), "2026-01-02 03:04:05.000000+00");
    }
}
