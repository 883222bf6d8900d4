//! What the service tells its operators about itself: Prometheus metrics on a port of their
//! own, and traces made of one span per call with a child span per SQL statement, exported
//! over OTLP when configured.

mod methods;
pub mod metrics;
mod pool;
mod propagation;
mod rpc;
mod spans;
mod tracing_export;

pub use methods::{MethodLabels, MethodTable};
pub use pool::{WaitingForConnection, sample_pool};
pub use rpc::RpcObserverLayer;
pub use spans::{TracedStatement, record_caller};
pub use tracing_export::{OtlpSettings, TraceExport};
