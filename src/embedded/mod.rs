//! A PostgreSQL cluster managed by the service itself, for zero-configuration runs and tests.
//!
//! The cluster lives in a directory of its own and listens only on a Unix socket inside it,
//! so it needs no free port and is reachable by nobody but its owner and root. PostgreSQL
//! refuses to run as root, so when the service runs as root the server runs as the system's
//! `postgres` user.
//!
//! The server is started by a small watchdog shell whose standard input is a pipe from this
//! process. When this process ends in any way, even killed, the pipe closes, the watchdog
//! reads end-of-file and stops the server with a fast shutdown. No PostgreSQL outlives the
//! service that started it.

mod binaries;
mod os_user;

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

pub use binaries::find_bin_dir;
use os_user::ServerUser;
pub use os_user::running_as_root;

/// The port number only names the socket file; nothing listens on TCP.
const SOCKET_PORT: u16 = 5432;
const SUPERUSER: &str = "postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Stops the server when standard input closes; see the module documentation.
const WATCHDOG: &str = r#"
bin=$1 pgdata=$2 run=$3 log=$4
shift 4
"$bin/postgres" -D "$pgdata" -k "$run" -p 5432 -c listen_addresses= "$@" >>"$log" 2>&1 &
server=$!
read -r _ || true
kill -INT "$server" 2>/dev/null
wait "$server"
if [ -n "${REMOVE_WHEN_STOPPED:-}" ]; then rm -rf "$REMOVE_WHEN_STOPPED"; fi
"#;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server programs not found; install them (Debian: apt-get install \
         postgresql) or point --postgres-bin-dir at the directory holding initdb and postgres"
    )]
    BinariesMissing,
    #[error(
        "the postgres user cannot reach {0}; choose a data directory whose parents are \
         world-searchable with --data-dir (for example under /var/lib or /tmp)"
    )]
    Unreachable(PathBuf),
    #[error("the service runs as root but the system has no postgres user to run PostgreSQL as")]
    NoPostgresUser,
    #[error("{step} failed: {detail}")]
    Failed { step: &'static str, detail: String },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedError {
    let step = step.into();
    move |error| EmbeddedError::Io(step, error)
}

/// How to run a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The directory holding the cluster's files; created when missing.
    pub root: PathBuf,
    /// The directory of initdb and postgres.
    pub bin_dir: PathBuf,
    /// Skip fsync and full-page writes: fast, and fine for data that may be lost (tests).
    pub durable: bool,
    /// Delete `root` once the server has stopped (tests).
    pub remove_when_stopped: bool,
}

/// A running cluster; stopped by [`EmbeddedPostgres::stop`] or when this process ends.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    options: ClusterOptions,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

impl EmbeddedPostgres {
    /// Creates the cluster on first use, starts it, and waits until it accepts connections.
    pub fn start(options: ClusterOptions) -> Result<Self, EmbeddedError> {
        let user = ServerUser::for_this_process()?;
        prepare_directories(&options, &user)?;

        if !pgdata(&options.root).join("PG_VERSION").exists() {
            initdb(&options, &user)?;
        }

        let mut watchdog = spawn_watchdog(&options, &user)?;
        let stdin = watchdog.stdin.take();
        let mut cluster = Self { options, watchdog, stdin };
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    /// Connection options for `database` as the superuser, over the cluster's socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(socket_dir(&self.options.root))
            .port(SOCKET_PORT)
            .username(SUPERUSER)
            .database(database)
            .application_name("conversation-service")
    }

    pub fn root(&self) -> &Path {
        &self.options.root
    }

    /// Stops the server with a fast shutdown and waits for it to exit.
    pub fn stop(&mut self) -> Result<(), EmbeddedError> {
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if self.watchdog.try_wait().map_err(io("waiting for PostgreSQL"))?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(EmbeddedError::Failed {
                    step: "stopping PostgreSQL",
                    detail: format!("still running after {STOP_TIMEOUT:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again after [`EmbeddedPostgres::stop`], on the same files.
    pub fn restart(&mut self) -> Result<(), EmbeddedError> {
        let user = ServerUser::for_this_process()?;
        self.watchdog = spawn_watchdog(&self.options, &user)?;
        self.stdin = self.watchdog.stdin.take();
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let socket = socket_dir(&self.options.root).join(format!(".s.PGSQL.{SOCKET_PORT}"));

        loop {
            if self.watchdog.try_wait().map_err(io("watching PostgreSQL"))?.is_some() {
                return Err(EmbeddedError::Failed {
                    step: "starting PostgreSQL",
                    detail: format!("it exited; its log ends with:\n{}", self.log_tail()),
                });
            }

            if socket.exists() && self.accepts_connections() {
                return Ok(());
            }

            if Instant::now() > deadline {
                return Err(EmbeddedError::Failed {
                    step: "starting PostgreSQL",
                    detail: format!("not ready after {READY_TIMEOUT:?}:\n{}", self.log_tail()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn accepts_connections(&self) -> bool {
        Command::new(self.options.bin_dir.join("pg_isready"))
            .arg("--quiet")
            .arg("--host")
            .arg(socket_dir(&self.options.root))
            .arg("--port")
            .arg(SOCKET_PORT.to_string())
            .arg("--username")
            .arg(SUPERUSER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(log_file(&self.options.root)) {
            let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(length.saturating_sub(2000)));
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        // Closing the pipe is enough: the watchdog stops the server on its own.
        drop(self.stdin.take());
    }
}

fn pgdata(root: &Path) -> PathBuf {
    root.join("pgdata")
}

fn socket_dir(root: &Path) -> PathBuf {
    root.join("run")
}

fn log_file(root: &Path) -> PathBuf {
    root.join("postgres.log")
}

/// Creates the cluster's directories, owned by the server's user and private to it. When the
/// watchdog is to delete the cluster, the whole root belongs to the server's user.
fn prepare_directories(options: &ClusterOptions, user: &ServerUser) -> Result<(), EmbeddedError> {
    let root = &options.root;
    fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;

    if user.is_other_user() {
        user.check_can_reach(root)?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .map_err(io(format!("opening {} to the postgres user", root.display())))?;
        if options.remove_when_stopped {
            user.give(root)?;
        }
    }

    for dir in [pgdata(root), socket_dir(root)] {
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(io(format!("protecting {}", dir.display())))?;
        user.give(&dir)?;
    }

    let log = log_file(root);
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io(format!("creating {}", log.display())))?;
    user.give(&log)
}

fn initdb(options: &ClusterOptions, user: &ServerUser) -> Result<(), EmbeddedError> {
    tracing::info!(data.dir = %options.root.display(), "creating a new PostgreSQL cluster");

    let mut command = Command::new(options.bin_dir.join("initdb"));
    command
        .arg("--pgdata")
        .arg(pgdata(&options.root))
        .args(["--username", SUPERUSER, "--auth", "trust", "--encoding", "UTF8", "--no-locale"])
        .arg("--no-instructions")
        .current_dir(&options.root);
    if !options.durable {
        command.arg("--no-sync");
    }
    user.apply(&mut command);

    let output = command.output().map_err(io("running initdb"))?;
    if !output.status.success() {
        return Err(EmbeddedError::Failed {
            step: "initdb",
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}

fn spawn_watchdog(options: &ClusterOptions, user: &ServerUser) -> Result<Child, EmbeddedError> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(WATCHDOG)
        .arg("watchdog")
        .arg(&options.bin_dir)
        .arg(pgdata(&options.root))
        .arg(socket_dir(&options.root))
        .arg(log_file(&options.root))
        .args(["-c", "unix_socket_permissions=0700"])
        .current_dir(&options.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so that Ctrl-C in a terminal reaches only the service, which
        // then drains its calls before it stops the database.
        .process_group(0);

    if !options.durable {
        command.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
        command.args(["-c", "full_page_writes=off"]);
    }
    if options.remove_when_stopped {
        command.env("REMOVE_WHEN_STOPPED", &options.root);
    }
    user.apply(&mut command);

    command.spawn().map_err(io("starting the PostgreSQL watchdog"))
}
