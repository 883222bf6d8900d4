//! The world each test owns: a fresh database cloned from a migrated template, a real server
//! on a free loopback port, and tonic clients that sign in as users of their own.
//!
//! One throwaway PostgreSQL cluster serves the whole test binary; it is deleted when the
//! binary exits. Set CONVERSATION_TEST_DATABASE_URL to a server's admin URL to use that
//! server instead, and TEST_LOG=1 (or a RUST_LOG filter) to see the service's logs.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use conversation_service::auth::{JwtSettings, TokenIssuer};
use conversation_service::database::{
    MIGRATOR, RUNTIME_ROLE, create_database_if_missing, ensure_runtime_role,
};
use conversation_service::domain::PageTokenKey;
use conversation_service::embedded::{self, ClusterOptions, EmbeddedPostgres};
use conversation_service::pb;
use conversation_service::pb::conversation_service_client::ConversationServiceClient;
use conversation_service::server::{self, ServerConfig, ServerLimits};
use conversation_service::store::Store;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

pub const SECRET: &[u8] = b"a test secret that is at least thirty-two bytes long";
pub const ISSUER: &str = "tradecoach";
pub const AUDIENCE: &str = "conversation-service";
const TEMPLATE: &str = "template_conversations";

pub type Client = ConversationServiceClient<InterceptedService<Channel, Credentials>>;

/// The PostgreSQL server shared by every test of this binary.
struct SharedServer {
    admin: PgConnectOptions,
    _cluster: Option<EmbeddedPostgres>,
}

static SHARED: OnceLock<SharedServer> = OnceLock::new();

fn shared() -> &'static SharedServer {
    SHARED.get_or_init(|| {
        // Tests run on many runtimes; the setup runs on a thread and runtime of its own so
        // that no pool outlives the runtime it was made on.
        std::thread::spawn(start_shared_server).join().expect("test database setup panicked")
    })
}

fn start_shared_server() -> SharedServer {
    init_test_logs();

    let (admin, cluster) = match std::env::var("CONVERSATION_TEST_DATABASE_URL") {
        Ok(url) => (PgConnectOptions::from_str(&url).expect("a valid test database URL"), None),
        Err(_) => {
            let cluster = EmbeddedPostgres::start(throwaway_cluster_options())
                .expect("the embedded test PostgreSQL starts");
            (cluster.connect_options("postgres"), Some(cluster))
        }
    };

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let pool = PgPool::connect_with(admin.clone()).await.expect("admin connection");
        ensure_runtime_role(&pool).await.expect("the runtime role exists");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {TEMPLATE}")))
            .execute(&pool)
            .await
            .unwrap();
        create_database_if_missing(&pool, TEMPLATE).await.unwrap();
        pool.close().await;

        let template = PgPool::connect_with(admin.clone().database(TEMPLATE)).await.unwrap();
        MIGRATOR.run(&template).await.expect("migrations apply to the template");
        template.close().await;
    });

    SharedServer { admin, _cluster: cluster }
}

/// A cluster in a fresh temporary directory, fast and deleted when stopped.
pub fn throwaway_cluster_options() -> ClusterOptions {
    let root = std::env::temp_dir().join(format!("conversation-service-test-{}", Uuid::new_v4()));
    ClusterOptions {
        root,
        bin_dir: embedded::find_bin_dir(None).expect("PostgreSQL server programs are installed"),
        durable: false,
        remove_when_stopped: true,
    }
}

fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() || std::env::var_os("RUST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "debug".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Creates a database of its own for one test, already migrated.
/// A served app on a fresh database, and beside it a store of its own over a pool of `size`
/// connections as the runtime role, for tests that watch what the store does with its
/// connections.
pub async fn store_with_pool_of(size: u32) -> (TestApp, PgPool, Store) {
    let database = fresh_database().await;
    let app = TestApp::spawn_on(database.clone(), AppOptions::default()).await;
    let pool = PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(database.username(RUNTIME_ROLE))
        .await
        .unwrap();
    let store = Store::new(pool.clone());
    (app, pool, store)
}

pub async fn fresh_database() -> PgConnectOptions {
    let shared = shared();
    let name = format!("test_{}", Uuid::new_v4().simple());
    let admin = PgPool::connect_with(shared.admin.clone()).await.unwrap();

    let statement = format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}");
    for attempt in 0.. {
        match sqlx::query(sqlx::AssertSqlSafe(statement.clone())).execute(&admin).await {
            Ok(_) => break,
            // Two clones of one template at the same instant can collide; try again.
            Err(error) if attempt < 20 => {
                tracing::debug!(%error, "retrying CREATE DATABASE");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot create a test database: {error}"),
        }
    }
    admin.close().await;

    shared.admin.clone().database(&name)
}

pub fn jwt_settings() -> JwtSettings {
    JwtSettings {
        secret: Some(SECRET.to_vec()),
        public_keys_file: None,
        jwks_file: None,
        algorithms: Vec::new(),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        roles_claim: "roles".into(),
        leeway: Duration::from_secs(30),
        keys_reload_interval: Duration::from_secs(30),
    }
}

/// Adds credentials to every call of a client.
#[derive(Clone)]
pub struct Credentials {
    headers: Vec<(&'static str, String)>,
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (name, value) in &self.headers {
            let value = MetadataValue::try_from(value.as_str()).expect("a valid header value");
            request.metadata_mut().insert(*name, value);
        }
        Ok(request)
    }
}

/// A running service on a database of its own.
pub struct TestApp {
    pub address: SocketAddr,
    /// A direct connection to the service's database, for arranging and checking state.
    pub db: PgPool,
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Options of a test server that differ from the defaults.
#[derive(Clone, Default)]
pub struct AppOptions {
    pub trust_user_id_header: bool,
    pub pool_size: Option<u32>,
    pub acquire_timeout: Option<Duration>,
    pub limits: Option<ServerLimits>,
    pub tls: Option<conversation_service::tls::TlsMaterial>,
    /// Token verification other than [`jwt_settings`], such as public keys.
    pub jwt: Option<JwtSettings>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(AppOptions::default()).await
    }

    pub async fn spawn_with(options: AppOptions) -> Self {
        Self::spawn_on(fresh_database().await, options).await
    }

    /// Starts a server on the given database.
    pub async fn spawn_on(database: PgConnectOptions, options: AppOptions) -> Self {
        init_test_logs();
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.unwrap_or(8))
            .acquire_timeout(options.acquire_timeout.unwrap_or(Duration::from_secs(2)))
            // The service connects as the runtime role, as in production, so that row-level
            // security is in force in every test.
            .connect_lazy_with(database.clone().username(RUNTIME_ROLE));
        let db = PgPoolOptions::new().max_connections(2).connect_lazy_with(database);

        let config = ServerConfig {
            store: Store::new(pool),
            jwt: options.jwt.clone().unwrap_or_else(jwt_settings),
            page_tokens: PageTokenKey::new(b"page token test key"),
            trust_user_id_header: options.trust_user_id_header,
            health_interval: Duration::from_millis(100),
            continue_callers_traces: false,
            shutdown_pause: Duration::ZERO,
            shutdown_grace: Duration::from_secs(5),
            tls: options.tls.clone(),
            health_listener: None,
            limits: options.limits.unwrap_or(ServerLimits {
                // Tests send bursts far above any real user's; they opt into the limit.
                rate_per_second: 0,
                ..ServerLimits::default()
            }),
        };

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, config, async {
            let _ = stop.await;
        }));

        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("the test server accepts connections");

        Self { address, db, channel, shutdown: Some(shutdown), server: Some(server) }
    }

    /// A new user with a valid token.
    pub fn user(&self) -> TestUser {
        let id = Uuid::new_v4();
        let token = bearer_token(id);
        TestUser {
            id,
            client: self.client_with(vec![("authorization", format!("Bearer {token}"))]),
        }
    }

    /// A client that sends exactly these headers.
    pub fn client_with(&self, headers: Vec<(&'static str, String)>) -> Client {
        ConversationServiceClient::with_interceptor(self.channel.clone(), Credentials { headers })
            .max_decoding_message_size(8 * 1024 * 1024)
            .max_encoding_message_size(8 * 1024 * 1024)
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Inserts `user`'s row directly, as the service does on a user's first write, for tests
    /// that arrange conversations with SQL.
    pub async fn ensure_user_row(&self, user: &TestUser) {
        sqlx::query("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(user.id)
            .execute(&self.db)
            .await
            .unwrap();
    }

    /// Every row the service owns, in a stable order: equal snapshots mean nothing changed.
    pub async fn snapshot(&self) -> String {
        let mut snapshot = String::new();
        for table in ["users", "conversations", "messages", "request_ids"] {
            let sql = format!(
                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"
            );
            let rows: String =
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.db).await.unwrap();
            snapshot.push_str(&format!("-- {table}\n{rows}\n"));
        }
        snapshot
    }

    /// Sends the shutdown signal and waits for the server to finish draining.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub fn bearer_token(user_id: Uuid) -> String {
    TokenIssuer::new(jwt_settings()).issue(user_id, &[], Duration::from_secs(600)).unwrap()
}

/// A client on `channel` signed in as `user_id`, for servers that are not a [`TestApp`], such
/// as the binary run as a child process.
pub fn signed_in_client(channel: Channel, user_id: Uuid) -> Client {
    let headers = vec![("authorization", format!("Bearer {}", bearer_token(user_id)))];
    ConversationServiceClient::with_interceptor(channel, Credentials { headers })
        .max_decoding_message_size(8 * 1024 * 1024)
        .max_encoding_message_size(8 * 1024 * 1024)
}

/// A signed-in user of a test server.
pub struct TestUser {
    pub id: Uuid,
    pub client: Client,
}

impl TestUser {
    pub async fn create(&mut self, conversation: pb::Conversation) -> pb::Conversation {
        self.client
            .create_conversation(pb::CreateConversationRequest {
                conversation: Some(conversation),
                request_id: String::new(),
            })
            .await
            .expect("create succeeds")
            .into_inner()
    }

    pub async fn create_titled(&mut self, title: &str) -> pb::Conversation {
        self.create(pb::Conversation { title: title.into(), ..Default::default() }).await
    }

    pub async fn append(&mut self, conversation_id: &str, content: &str) -> pb::Message {
        self.client
            .append_message(pb::AppendMessageRequest {
                conversation_id: conversation_id.into(),
                message: Some(user_message(content)),
                request_id: String::new(),
            })
            .await
            .expect("append succeeds")
            .into_inner()
    }

    pub async fn archive(&mut self, id: &str) -> pb::Conversation {
        let request = pb::ArchiveConversationRequest { id: id.into(), etag: String::new() };
        self.client.archive_conversation(request).await.expect("archive succeeds").into_inner()
    }

    pub async fn delete(&mut self, id: &str) -> pb::Conversation {
        let request = pb::DeleteConversationRequest { id: id.into(), etag: String::new() };
        self.client.delete_conversation(request).await.expect("delete succeeds").into_inner()
    }

    pub async fn get(&mut self, id: &str) -> Result<pb::Conversation, tonic::Status> {
        self.client
            .get_conversation(pb::GetConversationRequest { id: id.into() })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every page of a listing, following the stream to its end.
    pub async fn list_pages(
        &mut self,
        request: pb::ListConversationsRequest,
    ) -> Result<Vec<pb::ListConversationsResponse>, tonic::Status> {
        let mut stream = self.client.list_conversations(request).await?.into_inner();
        let mut pages = Vec::new();
        while let Some(page) = stream.message().await? {
            pages.push(page);
        }
        Ok(pages)
    }

    pub async fn list_all(
        &mut self,
        request: pb::ListConversationsRequest,
    ) -> Vec<pb::Conversation> {
        let pages = self.list_pages(request).await.expect("listing succeeds");
        pages.into_iter().flat_map(|page| page.conversations).collect()
    }

    pub async fn message_pages(
        &mut self,
        request: pb::ListMessagesRequest,
    ) -> Result<Vec<pb::ListMessagesResponse>, tonic::Status> {
        let mut stream = self.client.list_messages(request).await?.into_inner();
        let mut pages = Vec::new();
        while let Some(page) = stream.message().await? {
            pages.push(page);
        }
        Ok(pages)
    }
}

pub fn user_message(content: &str) -> pb::Message {
    pb::Message {
        r#type: pb::MessageType::User.into(),
        content: content.into(),
        ..Default::default()
    }
}

/// The fields named by a status's BadRequest details.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad_request| {
            bad_request.field_violations.into_iter().map(|violation| violation.field).collect()
        })
        .unwrap_or_default()
}

/// JSON to `google.protobuf.Struct`, for writing context data in tests.
pub fn context(json: serde_json::Value) -> prost_types::Struct {
    fn value(json: serde_json::Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match json {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
            serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap()),
            serde_json::Value::String(text) => Kind::StringValue(text),
            serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
                values: items.into_iter().map(value).collect(),
            }),
            serde_json::Value::Object(_) => Kind::StructValue(context(json)),
        };
        prost_types::Value { kind: Some(kind) }
    }
    let serde_json::Value::Object(object) = json else { panic!("context must be an object") };
    prost_types::Struct { fields: object.into_iter().map(|(k, v)| (k, value(v))).collect() }
}

/// A protobuf timestamp as a comparable instant.
pub fn at(timestamp: &Option<prost_types::Timestamp>) -> chrono::DateTime<chrono::Utc> {
    let timestamp = timestamp.as_ref().expect("the timestamp is set");
    chrono::DateTime::from_timestamp(timestamp.seconds, timestamp.nanos as u32).unwrap()
}

/// An hour in seconds, for token lifetimes.
pub const AN_HOUR: u64 = 60 * 60;

/// Claims the service accepts for `user_id`, valid for an hour.
pub fn good_claims(user_id: Uuid) -> serde_json::Value {
    let now = jsonwebtoken::get_current_timestamp();
    serde_json::json!({
        "sub": user_id.to_string(),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + AN_HOUR,
    })
}

/// `claims` signed with an HMAC `secret` under `algorithm`.
pub fn signed(
    claims: &serde_json::Value,
    secret: &[u8],
    algorithm: jsonwebtoken::Algorithm,
) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret).expect("a secret that is not empty");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), claims, &key)
        .expect("the claims encode")
}

/// A token that claims to need no signature: `{"alg":"none"}`, the claims and an empty
/// signature, built by hand since no library signs it.
pub fn unsigned(claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.")
}
