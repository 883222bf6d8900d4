//! The real `conversation-service` binary as a child process, for what only a whole process
//! shows: what SIGTERM does to calls and streams, what a restart on the same port does, and
//! how an outage of PostgreSQL looks from outside.
//!
//! The child is configured through its environment, as a Kubernetes pod is, connects to the
//! test's database as the runtime role, and counts as ready once its health check says
//! SERVING. Its logs go to a file that is printed when the test fails (always with TEST_LOG
//! set), and a child still running when its test ends is killed.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use conversation_service::database::RUNTIME_ROLE;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tempfile::NamedTempFile;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::SECRET;

const BINARY: &str = env!("CARGO_BIN_EXE_conversation-service");

/// Shared by every instance, as the replicas of a deployment share theirs.
const PAGE_TOKEN_SECRET: &str = "the page token secret of every instance in the process tests";

/// Longest wait for a start or for a change of health: builds and other tests share the
/// machine's two cores. A bound on waiting, not a measure of speed.
const READY_BOUND: Duration = Duration::from_secs(60);

/// Added to a stop's pause and grace before a test gives up waiting for the exit.
const EXIT_MARGIN: Duration = Duration::from_secs(30);

/// Starts tried before a test gives up on finding a port nobody else took.
const START_ATTEMPTS: u32 = 5;

/// How a test runs the service.
#[derive(Clone)]
pub struct ServiceOptions {
    /// The database, as the test connects to it; the service connects as the runtime role.
    pub database: PgConnectOptions,
    /// The port to listen on on 127.0.0.1; a free one when `None`.
    pub port: Option<u16>,
    pub shutdown_pause: Duration,
    pub shutdown_grace: Duration,
    /// More environment variables, such as a shorter pool acquire timeout.
    pub env: Vec<(&'static str, String)>,
}

impl ServiceOptions {
    pub fn new(database: PgConnectOptions) -> Self {
        Self {
            database,
            port: None,
            shutdown_pause: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(5),
            env: Vec::new(),
        }
    }
}

/// A running `conversation-service` process.
pub struct ServiceProcess {
    options: ServiceOptions,
    address: SocketAddr,
    child: Child,
    log: NamedTempFile,
}

impl ServiceProcess {
    /// Starts the binary and waits until its health check says SERVING.
    pub async fn start(options: ServiceOptions) -> Self {
        let log = NamedTempFile::new().expect("a log file for the service");
        let (child, address) = launch(&options, &log).await;
        Self { options, address, child, log }
    }

    /// Starts the binary again on the same port, after it has exited; the log continues.
    pub async fn restart(&mut self) {
        assert!(!self.is_running(), "restart the service only after it has exited");
        let options = ServiceOptions { port: Some(self.address.port()), ..self.options.clone() };
        writeln!(self.log.as_file(), "----- restarted -----").expect("the log is writable");

        let (child, _) = launch(&options, &self.log).await;
        self.child = child;
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// An endpoint of this process; connections made from it are new ones.
    pub fn endpoint(&self) -> Endpoint {
        endpoint(self.address)
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the service is still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
    }

    /// Waits for the process to exit, for at most its pause and grace plus a generous margin.
    pub async fn wait_for_exit(&mut self) -> ExitStatus {
        let bound = self.options.shutdown_pause + self.options.shutdown_grace + EXIT_MARGIN;
        match timeout(bound, self.child.wait()).await {
            Ok(status) => status.expect("the service's exit status"),
            Err(_) => panic!("the service still runs {bound:?} after it was asked to stop"),
        }
    }

    /// SIGTERM, then an exit that must be clean.
    pub async fn stop(&mut self) {
        self.terminate();
        let status = self.wait_for_exit().await;
        assert!(status.success(), "the service exited with {status}");
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("the service's state").is_none()
    }

    /// Everything the process (and its restarts) logged so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(self.log.path()).unwrap_or_else(|error| format!("(no log: {error})"))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        // Does nothing once the process has exited; tokio reaps a child killed here.
        let _ = self.child.start_kill();
        if std::thread::panicking() || std::env::var_os("TEST_LOG").is_some() {
            eprintln!("----- log of the service on {} -----\n{}", self.address, self.logs());
        }
    }
}

/// Spawns the binary until one start becomes ready, each on a new free port unless the port
/// is fixed: a free port can be taken by another socket between its pick and the bind.
async fn launch(options: &ServiceOptions, log: &NamedTempFile) -> (Child, SocketAddr) {
    for _ in 0..START_ATTEMPTS {
        let port = options.port.unwrap_or_else(free_port);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let logged_before = fs::metadata(log.path()).map(|meta| meta.len()).unwrap_or(0);
        let mut child = spawn(options, address, log);

        match wait_until_ready(&mut child, address).await {
            Ok(()) => return (child, address),
            Err(exit) => {
                let this_start = fs::read(log.path()).unwrap_or_default();
                let this_start = String::from_utf8_lossy(&this_start[logged_before as usize..]);
                if !this_start.contains("Address already in use") {
                    panic!("the service did not become ready ({exit}); its log:\n{this_start}");
                }
                sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("the service found no port to listen on in {START_ATTEMPTS} starts");
}

fn spawn(options: &ServiceOptions, address: SocketAddr, log: &NamedTempFile) -> Child {
    let runtime = options.database.clone().username(RUNTIME_ROLE);
    let output = || Stdio::from(log.as_file().try_clone().expect("a handle on the log file"));
    let log_filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());

    // Only what the test sets: nothing of the test's own environment leaks into the service.
    Command::new(BINARY)
        .env_clear()
        .env("DATABASE_URL", runtime.to_url_lossy().as_str())
        .env("CONVERSATION_LISTEN_ADDR", address.to_string())
        .env("CONVERSATION_JWT_SECRET", std::str::from_utf8(SECRET).expect("a text secret"))
        .env("CONVERSATION_PAGE_TOKEN_SECRET", PAGE_TOKEN_SECRET)
        .env("CONVERSATION_METRICS_LISTEN_ADDR", "off")
        .env("CONVERSATION_RATE_LIMIT_PER_SECOND", "0")
        .env("CONVERSATION_HEALTH_INTERVAL", "100ms")
        .env("CONVERSATION_SHUTDOWN_PAUSE", as_setting(options.shutdown_pause))
        .env("CONVERSATION_SHUTDOWN_GRACE", as_setting(options.shutdown_grace))
        .env("RUST_LOG", log_filter)
        .envs(options.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .expect("the service binary starts")
}

fn as_setting(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// Polls the health check until it says SERVING; an error describes why it never did.
async fn wait_until_ready(child: &mut Child, address: SocketAddr) -> Result<(), String> {
    let give_up_at = Instant::now() + READY_BOUND;
    loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            return Err(format!("it exited with {status}"));
        }
        if health(address).await == Some(ServingStatus::Serving) {
            return Ok(());
        }
        if Instant::now() > give_up_at {
            let _ = child.start_kill();
            return Err(format!("not serving after {READY_BOUND:?}"));
        }
        sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    listener.local_addr().expect("the port of a bound listener").port()
}

/// An endpoint at `address` that gives up connecting after two seconds.
pub fn endpoint(address: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{address}"))
        .expect("a valid URI")
        .connect_timeout(Duration::from_secs(2))
}

/// The overall health the server at `address` reports on a new connection; `None` when it
/// cannot be asked (nothing listens, or no answer in time).
pub async fn health(address: SocketAddr) -> Option<ServingStatus> {
    let channel = endpoint(address).timeout(Duration::from_secs(5)).connect().await.ok()?;
    let response = HealthClient::new(channel).check(HealthCheckRequest::default()).await.ok()?;
    Some(response.into_inner().status())
}

/// Waits until the server at `address` reports `expected`, within a generous bound.
pub async fn wait_for_health(address: SocketAddr, expected: ServingStatus) {
    let give_up_at = Instant::now() + READY_BOUND;
    while health(address).await != Some(expected) {
        assert!(Instant::now() < give_up_at, "health never became {expected:?}");
        sleep(Duration::from_millis(50)).await;
    }
}
