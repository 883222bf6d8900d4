//! Connecting to PostgreSQL: the configured URL, or an embedded cluster in the data
//! directory; and the migrations.

use std::str::FromStr;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Settings;
use crate::embedded::{self, ClusterOptions, EmbeddedPostgres};

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The database of the embedded cluster that holds the service's tables.
const EMBEDDED_DATABASE: &str = "conversations";

/// A connection pool and, in the embedded mode, the cluster behind it.
pub struct Database {
    pub pool: PgPool,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects as the settings say and applies migrations where they should run at start.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let Some(url) = &settings.database_url else {
            return Self::open_embedded(settings).await;
        };

        let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid URL")?;
        let pool = pool_options(settings).connect_lazy_with(options);
        if settings.migrate_on_start {
            MIGRATOR.run(&pool).await.context("applying migrations")?;
        }
        Ok(Self { pool, embedded: None })
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
        create_database_if_missing(&admin, EMBEDDED_DATABASE).await?;
        admin.close().await;

        let pool = pool_options(settings)
            .connect_with(cluster.connect_options(EMBEDDED_DATABASE))
            .await
            .context("connecting to the embedded PostgreSQL")?;
        MIGRATOR.run(&pool).await.context("applying migrations")?;

        Ok(Self { pool, embedded: Some(cluster) })
    }

    /// Closes the pool, then stops the embedded cluster if there is one.
    pub async fn close(mut self) {
        self.pool.close().await;
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

pub fn pool_options(settings: &Settings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .acquire_timeout(settings.db_acquire_timeout)
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
