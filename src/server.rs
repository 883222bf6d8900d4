//! Assembling and running the gRPC server: the conversation service behind its
//! authenticator, plus health and reflection without credentials; and the orderly shutdown
//! (health first, a pause while callers notice, then a bounded drain of in-flight calls).

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::api::ConversationApi;
use crate::auth::{Authenticator, JwtSettings};
use crate::connection::LingeringStream;
use crate::domain::PageTokenKey;
use crate::health;
use crate::limits::{RateLimited, UserRateLimiter};
use crate::observability::{self, MethodTable, RpcObserverLayer};
use crate::pb::{self, conversation_service_server::ConversationServiceServer};
use crate::store::Store;
use crate::tls::TlsMaterial;

/// The largest request or response message, both directions.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Longest the server waits, once stopped, for its connections' lingering closes.
const LINGERING_BOUND: Duration = Duration::from_secs(2);

/// Longest the server waits for cut connections to end.
const CUT_BOUND: Duration = Duration::from_secs(1);

/// How often message partitions for the coming months are checked.
const PARTITION_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
const PARTITION_MONTHS_AHEAD: i32 = 3;

/// Everything the server needs, already built.
pub struct ServerConfig {
    pub store: Store,
    pub jwt: JwtSettings,
    pub page_tokens: PageTokenKey,
    pub trust_user_id_header: bool,
    pub health_interval: Duration,
    /// Make a call's span a child of the caller's (W3C `traceparent`); for trace export.
    pub continue_callers_traces: bool,
    /// After SIGTERM, how long the server keeps taking new calls while health already says
    /// NOT_SERVING, so that load balancers and clients stop sending before it refuses.
    pub shutdown_pause: Duration,
    /// How long in-flight calls and open streams may run once new calls are refused.
    pub shutdown_grace: Duration,
    pub limits: ServerLimits,
    /// TLS of the gRPC port; plaintext when `None`.
    pub tls: Option<TlsMaterial>,
    /// A plaintext listener for health alone, for probes when the main port needs TLS.
    pub health_listener: Option<TcpListener>,
}

/// How much one user and one connection may ask of the server.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Requests a second per user on average; 0 turns the rate limit off.
    pub rate_per_second: u32,
    /// Requests a user may send at once above the average rate.
    pub rate_burst: u32,
    /// Calls in progress on one connection; more are refused at once (RESOURCE_EXHAUSTED).
    pub concurrent_calls_per_connection: usize,
    /// Longest a unary call may take, and the statement timeout of its transactions.
    pub request_timeout: Duration,
    /// Age at which a connection is asked to close (GOAWAY) once its calls finish, so that
    /// clients balancing over a headless Service reconnect and find new replicas.
    pub max_connection_age: Option<Duration>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            rate_per_second: 100,
            rate_burst: 200,
            concurrent_calls_per_connection: 256,
            request_timeout: Duration::from_secs(30),
            max_connection_age: None,
        }
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains for at most the grace period.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    health::set_status(&reporter, ServingStatus::NotServing).await;
    reporter.set_service_status(health::LIVENESS_SERVICE, ServingStatus::Serving).await;
    let store_to_close = config.store.clone();
    let mut background = BackgroundTasks::default();
    background.0.push(health::watch_database(
        reporter.clone(),
        config.store.clone(),
        config.health_interval,
    ));
    background.0.push(maintain_message_partitions(config.store.clone()));
    background.0.push(observability::sample_pool(config.store.clone()));

    if config.trust_user_id_header {
        tracing::warn!(
            "trusting the x-user-id header without a token: only safe behind a mesh that \
             authenticates callers and strips this header from outside traffic"
        );
    }
    let authenticator = Authenticator::new(&config.jwt, config.trust_user_id_header)?;
    // Stops with this function: the watch ends when it is dropped.
    let _key_file_watch = authenticator.watch_key_files();
    let limiter = UserRateLimiter::new(config.limits.rate_per_second, config.limits.rate_burst);
    background.0.extend(limiter.as_ref().map(UserRateLimiter::spawn_forgetting));
    let gate = RateLimited { inner: authenticator, limiter };
    let store = config.store.clone().with_statement_timeout(config.limits.request_timeout);
    let conversations =
        ConversationServiceServer::new(ConversationApi::new(store, config.page_tokens.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);

    let (drain, draining) = tokio::sync::watch::channel(false);
    let observer =
        RpcObserverLayer::new(&MethodTable::of_this_server(), config.continue_callers_traces);
    let mut builder = Server::builder();
    if let Some(age) = config.limits.max_connection_age {
        builder = builder.max_connection_age(age);
    }
    let mut builder = builder.layer(observer);
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.server_config())?;
        tracing::info!(mutual = tls.client_ca.is_some(), "tls on the gRPC port");
    }
    if let Some(listener) = config.health_listener {
        let health_only = serve_health_only(listener, health_service.clone(), draining.clone());
        background.0.push(tokio::spawn(health_only));
    }

    let address = listener.local_addr()?;
    let lingering = TaskTracker::new();
    let cut = CancellationToken::new();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true)).map({
        let (lingering, cut) = (lingering.clone(), cut.clone());
        move |accepted| {
            accepted.map(|stream| LingeringStream::new(stream, lingering.clone(), cut.clone()))
        }
    });
    let server = builder
        .timeout(config.limits.request_timeout)
        .concurrency_limit_per_connection(config.limits.concurrent_calls_per_connection)
        .load_shed(true)
        .add_service(health_service)
        .add_service(reflection_builder().build_v1()?)
        .add_service(reflection_builder().build_v1alpha()?)
        .add_service(InterceptedService::new(conversations, gate))
        .serve_with_incoming_shutdown(incoming, drained(draining));
    tracing::info!(listen.addr = %address, "serving gRPC");

    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(Into::into),
        () = shutdown => {}
    }

    drop(background);
    health::set_status(&reporter, ServingStatus::NotServing).await;
    tracing::info!(pause = ?config.shutdown_pause, "shutting down: health says not serving");
    let paused = tokio::time::timeout(config.shutdown_pause, &mut server).await;
    if let Ok(result) = paused {
        return result.map_err(Into::into);
    }

    tracing::info!(grace = ?config.shutdown_grace, "refusing new calls; draining in-flight ones");
    let _ = drain.send(true);
    health::end_watches(reporter).await;
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(result) => result?,
        Err(_) => {
            // Failing every connection's reads and writes ends the connections, and hyper
            // drops the calls still running on them.
            cut.cancel();
            let _ = tokio::time::timeout(CUT_BOUND, server).await;
            tracing::warn!("calls still running after the grace period were cut");
        }
    }

    // Give the last connections their lingering close, so that clients read every frame.
    lingering.close();
    let _ = tokio::time::timeout(LINGERING_BOUND, lingering.wait()).await;
    store_to_close.close().await;
    tracing::info!("server stopped");
    Ok(())
}

/// Tasks that live as long as the server; aborted when dropped.
#[derive(Default)]
struct BackgroundTasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Resolves once shutdown has begun.
async fn drained(mut draining: tokio::sync::watch::Receiver<bool>) {
    let _ = draining.wait_for(|draining| *draining).await;
}

/// The plaintext health port: the health service alone (with reflection over it, so grpcurl
/// needs no .proto file), stopped with the main server.
async fn serve_health_only<H: Health>(
    listener: TcpListener,
    health_service: HealthServer<H>,
    draining: tokio::sync::watch::Receiver<bool>,
) {
    let address = listener.local_addr().ok();
    tracing::info!(health.addr = ?address, "serving plaintext health");
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (Ok(reflection_v1), Ok(reflection_alpha)) =
        (reflection().build_v1(), reflection().build_v1alpha())
    else {
        tracing::warn!("cannot describe the health service for reflection");
        return;
    };

    let served = Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_alpha)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), drained(draining))
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "the plaintext health port stopped");
    }
}

/// Reflection over the API, health, and the `google.rpc` error details, so that grpcurl can
/// call every method and print the field violations of an error. Both the v1 protocol and
/// the older v1alpha one are served, for older clients.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

fn maintain_message_partitions(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(PARTITION_CHECK_INTERVAL);
        loop {
            ticker.tick().await;
            if let Err(error) = store.ensure_message_partitions(PARTITION_MONTHS_AHEAD).await {
                tracing::warn!(%error, "could not create the coming months' message partitions");
            }
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };

    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received Ctrl-C"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
