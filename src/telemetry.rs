//! Logging and tracing: log lines on stderr, human-readable by default or JSON when
//! configured, at the levels RUST_LOG sets; and, when trace export is on, the service's
//! spans to the exporter at their own fixed level, whatever RUST_LOG says.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;
use crate::observability::TraceExport;

/// Info, except PostgreSQL's notices, which repeat on every write that meets them (such as a
/// word too long to be indexed for search).
const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Installs the global subscriber; later calls (as in tests) leave the first one in place.
pub fn init(format: LogFormat, export: Option<&TraceExport>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
    };

    // Spans of calls, store methods and statements are all at info.
    let traced = Targets::new().with_target(env!("CARGO_CRATE_NAME"), Level::INFO);
    let spans = export.map(|export| export.layer().with_filter(traced));

    let _ = tracing_subscriber::registry().with(lines.with_filter(filter)).with(spans).try_init();
}
