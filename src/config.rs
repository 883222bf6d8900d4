//! Every setting of the service: a command-line flag and an environment variable each, with
//! the doc line that `--help` prints. Secrets are redacted wherever settings are printed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::TokenAlgorithm;

#[derive(Debug, Parser)]
#[command(name = "conversation-service", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default when no command is given).
    Serve,
    /// Apply the database migrations and exit; for a Kubernetes Job before a rollout.
    Migrate {
        /// Revert every migration instead (drops the service's tables and their data).
        #[arg(long)]
        revert_all: bool,
    },
    /// Print a bearer token for a user, signed with the service's HS256 secret.
    Token {
        /// The user's UUID, which becomes the token's subject.
        #[arg(long)]
        user: uuid::Uuid,
        /// How long the token stays valid, such as 1h or 30m.
        #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// A role to grant, such as admin; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Clone, Args)]
pub struct Settings {
    /// Address the gRPC server listens on.
    #[arg(
        long,
        env = "CONVERSATION_LISTEN_ADDR",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub listen_addr: SocketAddr,

    /// PostgreSQL URL. When unset, the service runs its own embedded PostgreSQL in the data
    /// directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL URL of the role that owns the tables, for migrations. Defaults to
    /// DATABASE_URL; set it when the service itself connects as the runtime role.
    #[arg(
        long,
        env = "CONVERSATION_MIGRATION_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub migration_database_url: Option<String>,

    /// Directory of the embedded PostgreSQL and the generated signing secret. Defaults to
    /// /var/lib/conversation-service for root and ~/.local/share/conversation-service otherwise.
    #[arg(long, env = "CONVERSATION_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Directory of the PostgreSQL server programs (initdb, postgres) for the embedded mode.
    /// Found with pg_config or under /usr/lib/postgresql when unset.
    #[arg(long, env = "CONVERSATION_POSTGRES_BIN_DIR", global = true)]
    pub postgres_bin_dir: Option<PathBuf>,

    /// Apply migrations at start with DATABASE_URL set. The embedded mode always does.
    #[arg(long, env = "CONVERSATION_MIGRATE_ON_START", global = true)]
    pub migrate_on_start: bool,

    /// Largest number of PostgreSQL connections the service holds.
    #[arg(long, env = "CONVERSATION_DB_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub db_max_connections: u32,

    /// How long a request waits for a free connection before it fails with UNAVAILABLE.
    #[arg(long, env = "CONVERSATION_DB_ACQUIRE_TIMEOUT", default_value = "2s",
          value_parser = humantime::parse_duration, global = true)]
    pub db_acquire_timeout: Duration,

    /// HS256 secret that signs bearer tokens. The embedded mode generates one in the data
    /// directory when neither this nor public keys are set.
    #[arg(long, env = "CONVERSATION_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// The iss claim a token must carry.
    #[arg(long, env = "CONVERSATION_JWT_ISSUER", default_value = "tradecoach", global = true)]
    pub jwt_issuer: String,

    /// The aud claim a token must carry.
    #[arg(
        long,
        env = "CONVERSATION_JWT_AUDIENCE",
        default_value = "conversation-service",
        global = true
    )]
    pub jwt_audience: String,

    /// The claim that lists a caller's roles.
    #[arg(long, env = "CONVERSATION_JWT_ROLES_CLAIM", default_value = "roles", global = true)]
    pub jwt_roles_claim: String,

    /// PEM file of one or more RSA or EC P-256 public keys that verify RS256 and ES256 tokens.
    /// Rereads the file when it changes.
    #[arg(long, env = "CONVERSATION_JWT_PUBLIC_KEYS_FILE", global = true)]
    pub jwt_public_keys_file: Option<PathBuf>,

    /// JSON Web Key Set file whose keys verify RS256 and ES256 tokens, picked by the token's
    /// kid. Rereads the file when it changes.
    #[arg(long, env = "CONVERSATION_JWKS_FILE", global = true)]
    pub jwks_file: Option<PathBuf>,

    /// Algorithms a token may be signed with, comma-separated: HS256, RS256, ES256. Defaults to
    /// HS256 with a JWT secret, plus RS256 and ES256 with public keys.
    #[arg(long, env = "CONVERSATION_JWT_ALGORITHMS", value_delimiter = ',', global = true)]
    pub jwt_algorithms: Vec<TokenAlgorithm>,

    /// Clock difference between token issuer and service still accepted for exp and nbf.
    #[arg(long, env = "CONVERSATION_JWT_LEEWAY", default_value = "30s",
          value_parser = humantime::parse_duration, global = true)]
    pub jwt_leeway: Duration,

    /// How often the key files are checked for changes; 0s turns reloading off.
    #[arg(long, env = "CONVERSATION_JWT_KEYS_RELOAD_INTERVAL", default_value = "30s",
          value_parser = humantime::parse_duration, global = true)]
    pub jwt_keys_reload_interval: Duration,

    /// Accept the x-user-id header without a token. Only behind a mesh that authenticates
    /// callers itself and strips this header from outside traffic.
    #[arg(long, env = "CONVERSATION_TRUST_USER_ID_HEADER", global = true)]
    pub trust_user_id_header: bool,

    /// Secret that signs page tokens; every replica must share it. Derived from the JWT secret
    /// when unset, so required when tokens are verified with public keys only.
    #[arg(long, env = "CONVERSATION_PAGE_TOKEN_SECRET", global = true, hide_env_values = true)]
    pub page_token_secret: Option<String>,

    /// Requests a second each user may make on average; 0 turns the limit off.
    #[arg(long, env = "CONVERSATION_RATE_LIMIT_PER_SECOND", default_value_t = 100, global = true)]
    pub rate_limit_per_second: u32,

    /// Requests a user may send at once above the average rate.
    #[arg(long, env = "CONVERSATION_RATE_LIMIT_BURST", default_value_t = 200, global = true)]
    pub rate_limit_burst: u32,

    /// Calls in progress on one connection; more are refused at once with RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "CONVERSATION_MAX_CONCURRENT_CALLS_PER_CONNECTION",
        default_value_t = 256,
        global = true
    )]
    pub max_concurrent_calls_per_connection: usize,

    /// Age at which a client connection is asked to reconnect (GOAWAY, calls in progress
    /// finish first), so that clients balancing over DNS find new replicas; 0s never asks.
    #[arg(long, env = "CONVERSATION_MAX_CONNECTION_AGE", default_value = "5m",
          value_parser = humantime::parse_duration, global = true)]
    pub max_connection_age: Duration,

    /// Longest a unary call may take; also caps every SQL statement. A shorter grpc-timeout
    /// from the client wins.
    #[arg(long, env = "CONVERSATION_REQUEST_TIMEOUT", default_value = "30s",
          value_parser = humantime::parse_duration, global = true)]
    pub request_timeout: Duration,

    /// PostgreSQL text search configuration for indexing and searching titles and messages,
    /// such as english or simple. Choose it before the first messages: rows keep the vectors
    /// they were written with.
    #[arg(long, env = "CONVERSATION_SEARCH_CONFIG", default_value = "english", global = true)]
    pub search_config: String,

    /// How often the health check probes PostgreSQL.
    #[arg(long, env = "CONVERSATION_HEALTH_INTERVAL", default_value = "2s",
          value_parser = humantime::parse_duration, global = true)]
    pub health_interval: Duration,

    /// After SIGTERM, how long new calls are still taken while health already reports
    /// NOT_SERVING, so that load balancers and clients move away first.
    #[arg(long, env = "CONVERSATION_SHUTDOWN_PAUSE", default_value = "5s",
          value_parser = humantime::parse_duration, global = true)]
    pub shutdown_pause: Duration,

    /// Once new calls are refused, how long in-flight calls and open streams may run before
    /// they are cut.
    #[arg(long, env = "CONVERSATION_SHUTDOWN_GRACE", default_value = "20s",
          value_parser = humantime::parse_duration, global = true)]
    pub shutdown_grace: Duration,

    #[command(flatten)]
    pub tls: crate::tls::TlsSettings,

    /// Address of the Prometheus metrics endpoint (HTTP, path /metrics); `off` turns it off.
    #[arg(long, env = "CONVERSATION_METRICS_LISTEN_ADDR", default_value = "127.0.0.1:9464",
          value_parser = parse_optional_address, global = true)]
    pub metrics_listen_addr: OptionalAddress,

    /// OTLP/gRPC collector that receives traces, such as http://otel-collector:4317. Unset
    /// leaves trace export off.
    #[arg(long, env = "CONVERSATION_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// The service.name of exported traces.
    #[arg(
        long,
        env = "CONVERSATION_OTLP_SERVICE_NAME",
        default_value = "conversation-service",
        global = true
    )]
    pub otlp_service_name: String,

    /// Share of traces started here that are exported, from 0 to 1; a trace the caller
    /// started follows the caller's sampling decision.
    #[arg(long, env = "CONVERSATION_OTLP_SAMPLE_RATIO", default_value_t = 1.0,
          value_parser = parse_ratio, global = true)]
    pub otlp_sample_ratio: f64,

    /// Log line format; the level comes from RUST_LOG (default info).
    #[arg(
        long,
        env = "CONVERSATION_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("Settings")
            .field("listen_addr", &self.listen_addr)
            .field("database_url", &redacted(&self.database_url))
            .field("migration_database_url", &redacted(&self.migration_database_url))
            .field("data_dir", &self.data_dir)
            .field("postgres_bin_dir", &self.postgres_bin_dir)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_roles_claim", &self.jwt_roles_claim)
            .field("jwt_public_keys_file", &self.jwt_public_keys_file)
            .field("jwks_file", &self.jwks_file)
            .field("jwt_algorithms", &self.jwt_algorithms)
            .field("jwt_leeway", &self.jwt_leeway)
            .field("jwt_keys_reload_interval", &self.jwt_keys_reload_interval)
            .field("trust_user_id_header", &self.trust_user_id_header)
            .field("page_token_secret", &redacted(&self.page_token_secret))
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("max_concurrent_calls_per_connection", &self.max_concurrent_calls_per_connection)
            .field("max_connection_age", &self.max_connection_age)
            .field("request_timeout", &self.request_timeout)
            .field("search_config", &self.search_config)
            .field("health_interval", &self.health_interval)
            .field("shutdown_pause", &self.shutdown_pause)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls)
            .field("metrics_listen_addr", &self.metrics_listen_addr)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("otlp_service_name", &self.otlp_service_name)
            .field("otlp_sample_ratio", &self.otlp_sample_ratio)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// A listening address that can be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddress(pub Option<SocketAddr>);

/// An address, or `off` for none.
fn parse_optional_address(value: &str) -> Result<OptionalAddress, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(OptionalAddress(None));
    }
    let address = value.parse().map_err(|error| format!("{error}; expected host:port or off"))?;
    Ok(OptionalAddress(Some(address)))
}

fn parse_ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

impl Settings {
    /// The data directory in force: the configured one or the platform default.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        if crate::embedded::running_as_root() {
            return PathBuf::from("/var/lib/conversation-service");
        }
        let base = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".local/share")
        });
        base.join("conversation-service")
    }

    /// Settings for tests and tools that build them in code: every default, no flags read.
    pub fn defaults() -> Self {
        Cli::parse_from(["conversation-service"]).settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let mut settings = Settings::defaults();
        settings.jwt_secret = Some("hunter2".into());
        settings.database_url = Some("postgres://app:pa55@db/conversations".into());
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("pa55"));
    }

    #[test]
    fn the_metrics_endpoint_can_be_turned_off() {
        let on = Cli::parse_from(["conversation-service", "--metrics-listen-addr", "0.0.0.0:9464"]);
        let off = Cli::parse_from(["conversation-service", "--metrics-listen-addr", "off"]);

        assert_eq!(on.settings.metrics_listen_addr.0, Some("0.0.0.0:9464".parse().unwrap()));
        assert_eq!(off.settings.metrics_listen_addr.0, None);
    }

    #[test]
    fn a_sample_ratio_outside_zero_to_one_is_refused() {
        let refused = Cli::try_parse_from(["conversation-service", "--otlp-sample-ratio", "1.5"]);

        assert!(refused.is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
