//! The `conversation-service` command: serve (the default), migrate, or print a token.

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

use conversation_service::auth::{JwtSettings, TokenIssuer};
use conversation_service::config::{Cli, Command, Settings};
use conversation_service::database::Database;
use conversation_service::observability::{self, OtlpSettings, TraceExport};
use conversation_service::server::{self, ServerConfig, ServerLimits};
use conversation_service::store::Store;
use conversation_service::tls::TlsMaterial;
use conversation_service::{secrets, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    let trace_export = match (&cli.settings.otlp_endpoint, serving) {
        (Some(endpoint), true) => Some(TraceExport::start(&OtlpSettings {
            endpoint: endpoint.clone(),
            service_name: cli.settings.otlp_service_name.clone(),
            sample_ratio: cli.settings.otlp_sample_ratio,
        })?),
        _ => None,
    };
    telemetry::init(cli.settings.log_format, trace_export.as_ref());

    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let served = serve(cli.settings, trace_export.is_some()).await;
            if let Some(export) = trace_export {
                export.shutdown().await;
            }
            served
        }
        Command::Migrate { revert_all } => migrate(cli.settings, revert_all).await,
        Command::Token { user, ttl, roles } => {
            let issuer = TokenIssuer::new(jwt_settings(&cli.settings)?);
            println!("{}", issuer.issue(user, &roles, ttl)?);
            Ok(())
        }
    }
}

async fn serve(settings: Settings, exporting_traces: bool) -> anyhow::Result<()> {
    tracing::debug!(?settings, "settings");
    if let Some(address) = settings.metrics_listen_addr.0 {
        observability::metrics::install(address)?;
    }
    if exporting_traces {
        tracing::info!(otlp.endpoint = ?settings.otlp_endpoint, "exporting traces over OTLP");
    }
    let jwt = jwt_settings(&settings)?;
    let page_tokens = secrets::page_token_key(&settings, jwt.secret.as_deref())?;

    let tls = TlsMaterial::load(&settings.tls)?;
    let listener = TcpListener::bind(settings.listen_addr)
        .await
        .with_context(|| format!("listening on {}", settings.listen_addr))?;
    let health_listener = match settings.tls.health_listen_addr {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address} for health"))?,
        ),
        None => None,
    };

    let database = Database::open(&settings).await?;
    if let Err(error) = database.migrate_for_serving(&settings).await {
        database.close().await;
        return Err(error);
    }
    database.check_runtime_role().await;
    database.check_search_indexes().await;
    let search_config = match database.search_config(&settings.search_config).await {
        Ok(config) => config,
        Err(error) => {
            database.close().await;
            return Err(error);
        }
    };
    let config = ServerConfig {
        store: Store::new(database.pool.clone()).with_search_config(search_config),
        jwt,
        page_tokens,
        trust_user_id_header: settings.trust_user_id_header,
        health_interval: settings.health_interval,
        continue_callers_traces: exporting_traces,
        shutdown_pause: settings.shutdown_pause,
        shutdown_grace: settings.shutdown_grace,
        limits: ServerLimits {
            rate_per_second: settings.rate_limit_per_second,
            rate_burst: settings.rate_limit_burst,
            concurrent_calls_per_connection: settings.max_concurrent_calls_per_connection,
            request_timeout: settings.request_timeout,
            max_connection_age: Some(settings.max_connection_age).filter(|age| !age.is_zero()),
        },
        tls,
        health_listener,
    };

    let served = server::serve(listener, config, server::termination_signal()).await;
    database.close().await;
    served
}

async fn migrate(settings: Settings, revert_all: bool) -> anyhow::Result<()> {
    let database = Database::open(&settings).await?;
    let result = database.migrate(revert_all).await;
    database.close().await;

    result?;
    tracing::info!(revert_all, "migrations done");
    Ok(())
}

fn jwt_settings(settings: &Settings) -> anyhow::Result<JwtSettings> {
    Ok(JwtSettings {
        secret: secrets::jwt_secret(settings)?,
        public_keys_file: settings.jwt_public_keys_file.clone(),
        jwks_file: settings.jwks_file.clone(),
        algorithms: settings.jwt_algorithms.clone(),
        issuer: settings.jwt_issuer.clone(),
        audience: settings.jwt_audience.clone(),
        roles_claim: settings.jwt_roles_claim.clone(),
        leeway: settings.jwt_leeway,
        keys_reload_interval: settings.jwt_keys_reload_interval,
    })
}
