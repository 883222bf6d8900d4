//! A tower layer around every call the gRPC server answers. It counts the call, times it to
//! its real end (the trailers after a stream's last page, not the response headers), labels
//! it with its status code, and opens the call's span, which stays open as long as the call.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use metrics::{Counter, Gauge, Histogram};
use pin_project_lite::pin_project;
use tonic::Code;
use tower::{Layer, Service};
use tracing::Span;

use super::methods::{MethodLabels, MethodTable};
use super::metrics::{RPC_HANDLED, RPC_IN_FLIGHT, RPC_SECONDS, RPC_STARTED};
use super::propagation::parent_context;

/// Observes every call of the services it wraps.
#[derive(Clone)]
pub struct RpcObserverLayer {
    methods: Arc<ObservedMethods>,
}

impl RpcObserverLayer {
    /// `follow_callers_traces` continues a trace that the caller started (W3C `traceparent`),
    /// which only matters while traces are exported.
    pub fn new(methods: &MethodTable, follow_callers_traces: bool) -> Self {
        let by_path = methods
            .iter()
            .map(|(path, labels)| (path.to_owned(), Arc::new(ObservedMethod::new(labels))))
            .collect();
        let unknown = Arc::new(ObservedMethod::new(methods.unknown()));
        Self { methods: Arc::new(ObservedMethods { by_path, unknown, follow_callers_traces }) }
    }
}

impl<S> Layer<S> for RpcObserverLayer {
    type Service = RpcObserver<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcObserver { inner, methods: Arc::clone(&self.methods) }
    }
}

struct ObservedMethods {
    by_path: HashMap<String, Arc<ObservedMethod>>,
    unknown: Arc<ObservedMethod>,
    follow_callers_traces: bool,
}

/// One method's metric handles, registered once so that a call costs no label formatting.
struct ObservedMethod {
    labels: MethodLabels,
    /// The span name, `service/method`.
    span_name: String,
    started: Counter,
    seconds: Histogram,
    in_flight: Gauge,
    /// One counter per status code, registered when a call first ends with that code.
    handled: [OnceLock<Counter>; 17],
}

impl ObservedMethod {
    fn new(labels: &MethodLabels) -> Self {
        let common = [
            ("grpc_service", labels.service.clone()),
            ("grpc_method", labels.method.clone()),
            ("grpc_type", labels.kind.to_owned()),
        ];
        Self {
            span_name: format!("{}/{}", labels.service, labels.method),
            started: metrics::counter!(RPC_STARTED, &common),
            seconds: metrics::histogram!(RPC_SECONDS, &common),
            in_flight: metrics::gauge!(RPC_IN_FLIGHT, &common),
            handled: Default::default(),
            labels: labels.clone(),
        }
    }

    fn handled(&self, code: Code) -> &Counter {
        self.handled[code as usize].get_or_init(|| {
            let labels = [
                ("grpc_service", self.labels.service.clone()),
                ("grpc_method", self.labels.method.clone()),
                ("grpc_type", self.labels.kind.to_owned()),
                ("grpc_code", code_name(code).to_owned()),
            ];
            metrics::counter!(RPC_HANDLED, &labels)
        })
    }
}

#[derive(Clone)]
pub struct RpcObserver<S> {
    inner: S,
    methods: Arc<ObservedMethods>,
}

impl<S, RequestBody, ResponseBody> Service<Request<RequestBody>> for RpcObserver<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
{
    type Response = Response<ObservedBody<ResponseBody>>;
    type Error = S::Error;
    type Future = ObservedCall<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let path = request.uri().path();
        let method = self.methods.by_path.get(path).unwrap_or(&self.methods.unknown);
        let call = CallRecord::start(Arc::clone(method));
        if self.methods.follow_callers_traces {
            follow_callers_trace(&call.span, request.headers());
        }

        // The interceptors run inside `call`: entering the span here lets them record the
        // caller on it.
        let future = call.span.in_scope(|| self.inner.call(request));
        ObservedCall { future, call: Some(call) }
    }
}

fn follow_callers_trace(span: &Span, headers: &HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if let Some(parent) = parent_context(headers) {
        let _ = span.set_parent(parent);
    }
}

/// One call from its start to its status code, and its span.
struct CallRecord {
    method: Arc<ObservedMethod>,
    started: Instant,
    span: Span,
    finished: bool,
}

impl CallRecord {
    fn start(method: Arc<ObservedMethod>) -> Self {
        method.started.increment(1);
        method.in_flight.increment(1.0);
        let span = tracing::info_span!(
            "grpc",
            otel.name = method.span_name.as_str(),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = method.labels.service.as_str(),
            rpc.method = method.labels.method.as_str(),
            rpc.grpc.status_code = tracing::field::Empty,
            user.hash = tracing::field::Empty,
        );
        Self { method, started: Instant::now(), span, finished: false }
    }

    fn finish(&mut self, code: Code) {
        if self.finished {
            return;
        }
        self.finished = true;

        self.method.handled(code).increment(1);
        self.method.seconds.record(self.started.elapsed().as_secs_f64());
        self.method.in_flight.decrement(1.0);
        self.span.record("rpc.grpc.status_code", code as i32);
        if is_server_fault(code) {
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

impl Drop for CallRecord {
    /// A call dropped before its status was sent was abandoned: the client went away, or the
    /// server cut it at shutdown.
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

pin_project! {
    /// The inner service's response future, observed.
    pub struct ObservedCall<F> {
        #[pin]
        future: F,
        call: Option<CallRecord>,
    }
}

impl<F, ResponseBody, E> Future for ObservedCall<F>
where
    F: Future<Output = Result<Response<ResponseBody>, E>>,
{
    type Output = Result<Response<ObservedBody<ResponseBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.call.as_ref() {
            Some(call) => call.span.in_scope(|| this.future.poll(cx)),
            None => this.future.poll(cx),
        };
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };

        let mut call = this.call.take();
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                if let Some(call) = call.as_mut() {
                    call.finish(Code::Unknown);
                }
                return Poll::Ready(Err(error));
            }
        };

        // An error answered before any message carries its status in the headers alone.
        if let (Some(call), Some(code)) = (call.as_mut(), status_of(response.headers())) {
            call.finish(code);
        }
        Poll::Ready(Ok(response.map(|inner| ObservedBody { inner, call })))
    }
}

pin_project! {
    /// A response body that reports the call's status when its trailers pass.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<CallRecord>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        let Some(call) = this.call.as_mut() else {
            return polled;
        };

        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of) {
                    call.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => call.finish(Code::Unknown),
            // A body that ends without a status broke the protocol.
            Poll::Ready(None) => call.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn status_of(headers: &HeaderMap) -> Option<Code> {
    headers.get("grpc-status").map(|value| Code::from_bytes(value.as_bytes()))
}

/// Codes that mean the server failed, as opposed to a refusal of a bad or unlucky request.
fn is_server_fault(code: Code) -> bool {
    matches!(code, Code::Unknown | Code::Internal | Code::Unavailable | Code::DataLoss)
}

/// The code's name as the Go gRPC library spells it, which dashboards and alert rules
/// written for gRPC servers expect.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}
