//! Connecting to PostgreSQL: the configured URL, or an embedded cluster in the data
//! directory; the two roles the service uses; and the migrations.
//!
//! Migrations run as a role that owns the tables. The service's own pool connects as a
//! runtime role that owns nothing and cannot bypass row-level security, so that the policies
//! hold even against a statement that forgets its user filter.

use std::str::FromStr;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Settings;
use crate::embedded::{self, ClusterOptions, EmbeddedPostgres};
use crate::store::SearchConfig;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The role the service runs its queries as; the migrations grant it what it needs.
pub const RUNTIME_ROLE: &str = "conversation_service_runtime";

/// The database of the embedded cluster that holds the service's tables.
const EMBEDDED_DATABASE: &str = "conversations";

/// The runtime pool, how to connect for migrations, and the embedded cluster if any.
pub struct Database {
    pub pool: PgPool,
    migrations: PgConnectOptions,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects as the settings say, starting the embedded cluster if there is no URL.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let Some(url) = &settings.database_url else {
            return Self::open_embedded(settings).await;
        };

        let runtime = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid URL")?;
        let migrations = match &settings.migration_database_url {
            Some(url) => PgConnectOptions::from_str(url)
                .context("CONVERSATION_MIGRATION_DATABASE_URL is not a valid URL")?,
            None => runtime.clone(),
        };
        let pool = pool_options(settings).connect_lazy_with(runtime);
        Ok(Self { pool, migrations, embedded: None })
    }

    async fn open_embedded(settings: &Settings) -> anyhow::Result<Self> {
        let options = ClusterOptions {
            root: settings.data_dir().join("postgres"),
            bin_dir: embedded::find_bin_dir(settings.postgres_bin_dir.as_deref())?,
            durable: true,
            remove_when_stopped: false,
        };
        let cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(options))
            .await
            .context("starting the embedded PostgreSQL")??;
        tracing::info!(data.dir = %cluster.root().display(), "embedded PostgreSQL is running");

        let admin = PgPool::connect_with(cluster.connect_options("postgres")).await?;
        ensure_runtime_role(&admin).await?;
        create_database_if_missing(&admin, EMBEDDED_DATABASE).await?;
        admin.close().await;

        let migrations = cluster.connect_options(EMBEDDED_DATABASE);
        let runtime = migrations.clone().username(RUNTIME_ROLE);
        let pool = pool_options(settings).connect_lazy_with(runtime);
        Ok(Self { pool, migrations, embedded: Some(cluster) })
    }

    /// Applies the migrations that a server start should: always in the embedded mode, with a
    /// URL only when configured (otherwise a `migrate` Job owns them).
    pub async fn migrate_for_serving(&self, settings: &Settings) -> anyhow::Result<()> {
        if self.embedded.is_some() || settings.migrate_on_start {
            self.migrate(false).await?;
        }
        Ok(())
    }

    /// Applies every migration, or reverts them all, as the migration role.
    pub async fn migrate(&self, revert_all: bool) -> anyhow::Result<()> {
        let pool = PgPool::connect_with(self.migrations.clone())
            .await
            .context("connecting for migrations")?;
        let result =
            if revert_all { MIGRATOR.undo(&pool, 0).await } else { MIGRATOR.run(&pool).await };
        pool.close().await;
        result.context(if revert_all { "reverting migrations" } else { "applying migrations" })
    }

    /// Warns when the runtime role escapes row-level security (a superuser, a BYPASSRLS role,
    /// or the tables' owner, who can turn the policies off), which leaves the store's own
    /// filters as the only wall between users.
    pub async fn check_runtime_role(&self) {
        let escapes: Result<(String, bool), _> = sqlx::query_as(
            "SELECT current_user::text, rolsuper OR rolbypassrls OR EXISTS ( \
               SELECT 1 FROM pg_tables WHERE tableowner = current_user \
               AND tablename IN ('conversations', 'messages', 'request_ids')) \
             FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&self.pool)
        .await;

        match escapes {
            Ok((role, true)) => tracing::warn!(
                db.role = %role,
                "the service's database role is a superuser, bypasses row-level security or \
                 owns the tables; connect as a role like {RUNTIME_ROLE} (docs/security.md)"
            ),
            Ok((role, false)) => tracing::info!(db.role = %role, "row-level security applies"),
            Err(error) => tracing::warn!(%error, "cannot check the service's database role"),
        }
    }

    /// Warns when row-level security keeps search from its indexes: the text search and
    /// trigram matches, and the functions of the message index's words, must be LEAKPROOF for
    /// PostgreSQL to use them in an index scan ahead of the policy (see the migrations
    /// `search_under_row_security` and `search_terms_per_user`).
    pub async fn check_search_indexes(&self) {
        let unmarked: Result<Vec<String>, _> = sqlx::query_scalar(
            "SELECT p.oid::regprocedure::text FROM pg_proc p \
             WHERE NOT p.proleakproof \
               AND (p.oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure \
                    OR p.oid = to_regprocedure('user_search_terms(uuid, tsvector)') \
                    OR p.oid = to_regprocedure('user_search_query(uuid, tsquery)') \
                    OR (p.proname = 'similarity_op' AND EXISTS ( \
                          SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid \
                          WHERE d.objid = p.oid AND d.deptype = 'e' AND e.extname = 'pg_trgm')))",
        )
        .fetch_all(&self.pool)
        .await;

        match unmarked {
            Ok(functions) if functions.is_empty() => {}
            Ok(functions) => tracing::warn!(
                functions = %functions.join(", "),
                "search cannot use its indexes under row-level security, so it reads every \
                 message of a user; a superuser can mark these functions LEAKPROOF \
                 (docs/security.md)"
            ),
            Err(error) => tracing::warn!(%error, "cannot check the search functions"),
        }
    }

    /// The configured text search configuration, when PostgreSQL knows it.
    pub async fn search_config(&self, name: &str) -> anyhow::Result<SearchConfig> {
        let config = SearchConfig::parse(name)
            .with_context(|| format!("search configuration {name:?} is not a plain name"))?;
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = $1)")
                .bind(config.as_str())
                .fetch_one(&self.pool)
                .await
                .context("looking up the search configuration")?;
        anyhow::ensure!(known, "PostgreSQL has no text search configuration {name:?}");
        Ok(config)
    }

    /// Closes the pool, then stops the embedded cluster if there is one. A statement that a
    /// cut call left running is not waited for beyond a few seconds: the process is leaving.
    pub async fn close(mut self) {
        if tokio::time::timeout(POOL_CLOSE_TIMEOUT, self.pool.close()).await.is_err() {
            tracing::warn!("database connections still busy at exit were abandoned");
        }
        if let Some(mut cluster) = self.embedded.take() {
            let stopped = tokio::task::spawn_blocking(move || cluster.stop()).await;
            match stopped {
                Ok(Ok(())) => tracing::info!("embedded PostgreSQL stopped"),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "embedded PostgreSQL did not stop cleanly")
                }
                Err(error) => tracing::warn!(%error, "embedded PostgreSQL did not stop cleanly"),
            }
        }
    }
}

/// How long closing the pool waits for connections still in use.
const POOL_CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn pool_options(settings: &Settings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .acquire_timeout(settings.db_acquire_timeout)
        // A connection reaches the next call either straight from a call that finished with
        // it (src/store/lease.rs) or through sqlx's release, which pings it; a ping when the
        // next call takes it would only cost a round trip per call. A connection that died
        // while idle fails its next call with UNAVAILABLE, which callers retry, and is closed.
        .test_before_acquire(false)
}

/// Creates the runtime role when it is missing: able to log in, and nothing more.
pub async fn ensure_runtime_role(admin: &PgPool) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(RUNTIME_ROLE)
            .fetch_one(admin)
            .await?;
    if !exists {
        let statement = format!(
            "CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
        );
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(admin).await?;
    }
    Ok(())
}

pub async fn create_database_if_missing(admin: &PgPool, name: &str) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(admin)
            .await?;
    if !exists {
        anyhow::ensure!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "database name {name:?} must be letters, digits and underscores"
        );
        // Checked above to be a plain identifier; CREATE DATABASE takes no bind parameters.
        let statement = format!("CREATE DATABASE \"{name}\"");
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(admin).await?;
    }
    Ok(())
}
