//! Exporting traces over OTLP/gRPC to a collector, when an endpoint is configured; off by
//! default. Spans are batched in the background, so a slow or absent collector costs calls
//! nothing but the dropped spans.

use std::time::Duration;

use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use tracing_subscriber::registry::LookupSpan;

/// Where traces go and how many of them.
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// The collector's OTLP/gRPC URL, such as `http://otel-collector:4317`.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Share of traces started here that are kept, from 0 to 1. A trace the caller started
    /// follows the caller's decision.
    pub sample_ratio: f64,
}

/// A running export; [`TraceExport::shutdown`] sends what is still buffered.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl TraceExport {
    /// Starts the exporter. Needs a Tokio runtime, which its gRPC client runs on.
    pub fn start(settings: &OtlpSettings) -> anyhow::Result<Self> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.endpoint.clone())
            .build()?;
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio.clamp(0.0, 1.0),
        )));
        let resource = Resource::builder().with_service_name(settings.service_name.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        Ok(Self { provider })
    }

    /// The tracing layer that turns the service's spans into exported ones.
    pub fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer = self.provider.tracer(env!("CARGO_PKG_NAME"));
        tracing_opentelemetry::layer().with_tracer(tracer)
    }

    /// Flushes the buffered spans, waiting a few seconds at most.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not flush the last spans"),
            Err(error) => tracing::warn!(%error, "could not flush the last spans"),
        }
    }
}
