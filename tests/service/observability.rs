//! What operators see of the running binary: the Prometheus metrics on their own port, and
//! the traces exported over OTLP to a collector (a real gRPC one, run by the test).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conversation_service::pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep};
use tonic::Code;
use tonic::metadata::MetadataValue;
use uuid::Uuid;

use crate::process::{ServiceOptions, ServiceProcess};
use crate::support::{context, fresh_database, signed_in_client};

/// Longest wait for a metric or a span to show up: a bound on waiting, not a measure of speed.
const ARRIVAL_BOUND: Duration = Duration::from_secs(30);

const API: &str = "tradecoach.conversations.v1.ConversationService";

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_and_follow_open_streams() {
    let metrics_port = free_port();
    let mut options = ServiceOptions::new(fresh_database().await);
    options.env = vec![
        ("CONVERSATION_METRICS_LISTEN_ADDR", format!("127.0.0.1:{metrics_port}")),
        ("CONVERSATION_DB_MAX_CONNECTIONS", "5".into()),
        ("CONVERSATION_RATE_LIMIT_PER_SECOND", "1".into()),
        ("CONVERSATION_RATE_LIMIT_BURST", "10".into()),
    ];
    let service = ServiceProcess::start(options).await;
    // HTTP/2's smallest window per stream: the server can send little more than a page
    // before the client reads, so that an open listing stays open until it does.
    let endpoint = service.endpoint().initial_stream_window_size(65_535);
    let channel = endpoint.connect().await.unwrap();
    let metrics = SocketAddr::from((Ipv4Addr::LOCALHOST, metrics_port));
    let mut alice = signed_in_client(channel.clone(), Uuid::new_v4());
    let bob = signed_in_client(channel.clone(), Uuid::new_v4());

    // Pages of 60 kB, which fill the stream's window.
    let bulky = context(serde_json::json!({ "notes": "x".repeat(60_000) }));
    for title in ["one", "two", "three", "four"] {
        let conversation = pb::Conversation {
            title: title.into(),
            context_data: Some(bulky.clone()),
            ..Default::default()
        };
        let request = pb::CreateConversationRequest {
            conversation: Some(conversation),
            ..Default::default()
        };
        alice.create_conversation(request).await.unwrap();
    }
    let missing = alice
        .get_conversation(pb::GetConversationRequest { id: Uuid::new_v4().to_string() })
        .await
        .unwrap_err();
    let malformed =
        alice.get_conversation(pb::GetConversationRequest { id: "nope".into() }).await.unwrap_err();
    let anonymous = pb::conversation_service_client::ConversationServiceClient::new(channel)
        .get_conversation(pb::GetConversationRequest { id: Uuid::new_v4().to_string() })
        .await
        .unwrap_err();
    let burst = (0..40).map(|_| {
        let mut bob = bob.clone();
        async move {
            let request = pb::GetConversationRequest { id: Uuid::new_v4().to_string() };
            bob.get_conversation(request).await.unwrap_err().code()
        }
    });
    let burst_codes = futures::future::join_all(burst).await;
    let limited = burst_codes.iter().filter(|code| **code == Code::ResourceExhausted).count();

    let list = pb::ListConversationsRequest { page_size: 1, ..Default::default() };
    let mut pages = alice.list_conversations(list).await.unwrap().into_inner();
    pages.message().await.unwrap().expect("a first page");
    let while_open = wait_for_metrics(metrics, |scrape| {
        scrape.value("grpc_server_streams_in_flight", &[("grpc_method", "ListConversations")])
            == Some(1.0)
    })
    .await;
    let mut later_pages = 0;
    while pages.message().await.unwrap().is_some() {
        later_pages += 1;
    }
    let after = wait_for_metrics(metrics, |scrape| {
        let handled = [("grpc_method", "ListConversations"), ("grpc_code", "OK")];
        scrape.value("grpc_server_handled_total", &handled) == Some(1.0)
            && scrape.value("conversation_db_pool_max_connections", &[]).is_some()
    })
    .await;

    let handled = |method: &str, code: &str| {
        after.value("grpc_server_handled_total", &[("grpc_method", method), ("grpc_code", code)])
    };
    assert_eq!((missing.code(), malformed.code()), (Code::NotFound, Code::InvalidArgument));
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert!(limited > 0, "a burst of 40 against a burst allowance of 10 is limited");
    assert_eq!(later_pages, 3);
    assert_eq!(handled("CreateConversation", "OK"), Some(4.0));
    assert_eq!(handled("GetConversation", "NotFound"), Some(1.0 + (40 - limited) as f64));
    assert_eq!(handled("GetConversation", "InvalidArgument"), Some(1.0));
    assert_eq!(handled("GetConversation", "Unauthenticated"), Some(1.0));
    assert_eq!(handled("GetConversation", "ResourceExhausted"), Some(limited as f64));
    assert_eq!(after.value("conversation_rate_limited_total", &[]), Some(limited as f64));
    assert_eq!(
        after.value("grpc_server_started_total", &[("grpc_method", "CreateConversation")]),
        Some(4.0)
    );
    assert_eq!(
        after.value(
            "grpc_server_handling_seconds_count",
            &[("grpc_method", "CreateConversation"), ("grpc_service", API)]
        ),
        Some(4.0)
    );
    assert_eq!(
        while_open.value("grpc_server_streams_in_flight", &[("grpc_method", "ListConversations")]),
        Some(1.0)
    );
    assert_eq!(
        after.value("grpc_server_streams_in_flight", &[("grpc_method", "ListConversations")]),
        Some(0.0)
    );
    assert_eq!(after.value("conversation_db_pool_max_connections", &[]), Some(5.0));
    assert!(after.value("conversation_db_pool_connections", &[("state", "idle")]).is_some());
    assert_eq!(after.value("conversation_db_pool_waiting", &[]), Some(0.0));
    assert_eq!(after.value("conversation_database_up", &[]), Some(1.0));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(after.value("conversation_build_info", &[("version", version)]), Some(1.0));
}

#[tokio::test]
async fn a_made_up_method_is_counted_as_unknown_rather_than_by_its_path() {
    let metrics_port = free_port();
    let mut options = ServiceOptions::new(fresh_database().await);
    options.env = vec![("CONVERSATION_METRICS_LISTEN_ADDR", format!("127.0.0.1:{metrics_port}"))];
    let service = ServiceProcess::start(options).await;
    let metrics = SocketAddr::from((Ipv4Addr::LOCALHOST, metrics_port));

    let mut grpc = tonic::client::Grpc::new(service.endpoint().connect().await.unwrap());
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/made.Up/Path123");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let refused = grpc.unary(tonic::Request::new(()), path, codec).await.unwrap_err();

    let scrape = wait_for_metrics(metrics, |scrape| {
        scrape.value("grpc_server_handled_total", &[("grpc_method", "unknown")]) == Some(1.0)
    })
    .await;
    assert_eq!(refused.code(), Code::Unimplemented);
    assert!(!scrape.text.contains("Path123"), "a client's path became a label value");
    let unknown = [("grpc_method", "unknown"), ("grpc_code", "Unimplemented")];
    assert_eq!(scrape.value("grpc_server_handled_total", &unknown), Some(1.0));
}

#[tokio::test]
async fn traces_reach_the_collector_with_a_span_per_call_and_per_statement() {
    let collector = Collector::start().await;
    let mut options = ServiceOptions::new(fresh_database().await);
    options.env = vec![
        ("CONVERSATION_OTLP_ENDPOINT", format!("http://{}", collector.address)),
        // Export batches every 100 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ];
    let service = ServiceProcess::start(options).await;
    let user_id = Uuid::new_v4();
    let mut client = signed_in_client(service.endpoint().connect().await.unwrap(), user_id);
    let (callers_trace, callers_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");

    let mut create = tonic::Request::new(pb::CreateConversationRequest {
        conversation: Some(pb::Conversation { title: "traced".into(), ..Default::default() }),
        ..Default::default()
    });
    let traceparent = format!("00-{callers_trace}-{callers_span}-01");
    create.metadata_mut().insert("traceparent", MetadataValue::try_from(traceparent).unwrap());
    client.create_conversation(create).await.unwrap();
    let missing = pb::GetConversationRequest { id: Uuid::new_v4().to_string() };
    client.get_conversation(missing).await.unwrap_err();

    let spans = collector
        .wait_for(|spans| {
            spans.iter().any(|span| span.name == format!("{API}/GetConversation"))
                && spans
                    .iter()
                    .any(|span| span.name == "COMMIT" && hex(&span.trace_id) == callers_trace)
        })
        .await;
    let in_callers_trace: Vec<&Span> =
        spans.iter().filter(|span| hex(&span.trace_id) == callers_trace).collect();
    let call = in_callers_trace
        .iter()
        .find(|span| span.name == format!("{API}/CreateConversation"))
        .expect("a span for the call, in the caller's trace");
    let get = spans.iter().find(|span| span.name == format!("{API}/GetConversation")).unwrap();
    let statements: Vec<&str> = in_callers_trace
        .iter()
        .filter(|span| descends_from(span, call, &in_callers_trace))
        .filter(|span| attribute(span, "db.system").as_deref() == Some("postgresql"))
        .map(|span| span.name.as_str())
        .collect();

    assert_eq!(hex(&call.parent_span_id), callers_span);
    assert_eq!(attribute(call, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(attribute(get, "rpc.grpc.status_code").as_deref(), Some("5"));
    let hashed = attribute(call, "user.hash").expect("the caller, hashed");
    assert_eq!(hashed.len(), 16);
    for expected in ["BEGIN", "INSERT users", "INSERT conversations", "COMMIT"] {
        assert!(
            statements.contains(&expected),
            "no {expected} span under the call: {statements:?}"
        );
    }
    let raw_id = user_id.to_string();
    let leaked = spans.iter().any(|span| {
        span.attributes.iter().any(|pair| format!("{:?}", pair.value).contains(&raw_id))
    });
    assert!(!leaked, "a span carries the caller's user id as it is");
}

/// Whether `span` is `ancestor` or below it, following parent ids through `spans`.
fn descends_from(span: &Span, ancestor: &Span, spans: &[&Span]) -> bool {
    let mut current = span;
    for _ in 0..spans.len() {
        if current.span_id == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|parent| parent.span_id == current.parent_span_id) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span.attributes.iter().find(|pair| pair.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(number) => Some(number.to_string()),
        Value::BoolValue(flag) => Some(flag.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An OTLP trace collector that keeps every span it receives.
struct Collector {
    address: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let service = TraceServiceServer::new(Receiver { spans: Arc::clone(&spans) });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        Self { address, spans }
    }

    async fn wait_for(&self, arrived: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let give_up_at = Instant::now() + ARRIVAL_BOUND;
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if arrived(&spans) {
                return spans;
            }
            let names: Vec<String> = spans.iter().map(|span| span.name.clone()).collect();
            assert!(Instant::now() < give_up_at, "the spans never arrived; got {names:?}");
            sleep(Duration::from_millis(100)).await;
        }
    }
}

struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let received = request.into_inner().resource_spans.into_iter();
        let spans =
            received.flat_map(|resource| resource.scope_spans).flat_map(|scope| scope.spans);
        self.spans.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// One scrape of `/metrics`.
struct Scrape {
    text: String,
}

impl Scrape {
    /// The sum of the series named `name` that carry every label in `labels`; `None` when no
    /// series matches.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut total = None;
        for line in self.text.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            let wanted = labels
                .iter()
                .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")));
            if series_name == name && wanted {
                *total.get_or_insert(0.0) += value.parse::<f64>().unwrap();
            }
        }
        total
    }
}

async fn scrape(address: SocketAddr) -> Option<Scrape> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: metrics\r\n\r\n").await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    status_line.contains(" 200 ").then(|| Scrape { text: body.to_owned() })
}

/// Scrapes until `ready` holds, within a generous bound.
async fn wait_for_metrics(address: SocketAddr, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let give_up_at = Instant::now() + ARRIVAL_BOUND;
    loop {
        if let Some(scrape) = scrape(address).await
            && ready(&scrape)
        {
            return scrape;
        }
        assert!(Instant::now() < give_up_at, "the metrics never showed what was expected");
        sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}
