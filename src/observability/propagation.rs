//! Continuing a trace that the caller started: the W3C `traceparent` and `tracestate`
//! headers of the request name the caller's span, which becomes the parent of this call's.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The caller's trace context, when the request carries a valid one.
pub fn parent_context(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt;

    headers.get("traceparent")?;
    let context = TraceContextPropagator::new().extract(&HeaderReader(headers));
    context.span().span_context().is_valid().then_some(context)
}

struct HeaderReader<'a>(&'a HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
