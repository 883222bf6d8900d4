//! TLS and mutual TLS on the gRPC port, with certificates made at test time, and the
//! plaintext health port for probes.

use std::time::Duration;

use conversation_service::database::RUNTIME_ROLE;
use conversation_service::domain::PageTokenKey;
use conversation_service::pb;
use conversation_service::pb::conversation_service_client::ConversationServiceClient;
use conversation_service::server::{self, ServerConfig, ServerLimits};
use conversation_service::store::Store;
use conversation_service::tls::TlsMaterial;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{bearer_token, fresh_database, jwt_settings};

/// A certificate authority and certificates it signed, all in PEM.
struct TestPki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn make_pki() -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };

    TestPki {
        ca: ca_cert.pem(),
        server: leaf(vec!["localhost".into()]),
        client: leaf(vec!["a-calling-service".into()]),
    }
}

struct TlsServer {
    address: std::net::SocketAddr,
    health_address: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn spawn_tls_server(pki: &TestPki, mutual: bool) -> TlsServer {
    let database = fresh_database().await;
    let pool = PgPoolOptions::new().connect_lazy_with(database.username(RUNTIME_ROLE));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (address, health_address) =
        (listener.local_addr().unwrap(), health_listener.local_addr().unwrap());

    let config = ServerConfig {
        store: Store::new(pool),
        jwt: jwt_settings(),
        page_tokens: PageTokenKey::new(b"tls test"),
        trust_user_id_header: false,
        health_interval: Duration::from_millis(100),
        continue_callers_traces: false,
        shutdown_pause: Duration::ZERO,
        shutdown_grace: Duration::from_secs(5),
        limits: ServerLimits { rate_per_second: 0, ..ServerLimits::default() },
        tls: Some(TlsMaterial {
            certificate_chain: pki.server.0.clone().into_bytes(),
            private_key: pki.server.1.clone().into_bytes(),
            client_ca: mutual.then(|| pki.ca.clone().into_bytes()),
        }),
        health_listener: Some(health_listener),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, config, async {
        let _ = stopped.await;
    }));

    TlsServer { address, health_address, _stop: stop }
}

async fn tls_channel(
    server: &TlsServer,
    pki: &TestPki,
    client_identity: bool,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    if client_identity {
        tls = tls.identity(Identity::from_pem(&pki.client.0, &pki.client.1));
    }
    Channel::from_shared(format!("https://localhost:{}", server.address.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

async fn create_with(channel: Channel) -> Result<pb::Conversation, tonic::Status> {
    let token = bearer_token(uuid::Uuid::new_v4());
    let mut client = ConversationServiceClient::new(channel);
    let mut request = tonic::Request::new(pb::CreateConversationRequest::default());
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    client.create_conversation(request).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_tls_client_is_served_and_a_plaintext_one_is_not() {
    let pki = make_pki();
    let server = spawn_tls_server(&pki, false).await;

    let over_tls = create_with(tls_channel(&server, &pki, false).await.unwrap()).await;
    let plaintext =
        Channel::from_shared(format!("http://{}", server.address)).unwrap().connect().await;
    let plaintext_call = match plaintext {
        Ok(channel) => create_with(channel).await.map(drop),
        Err(_) => Err(tonic::Status::unavailable("refused at connect")),
    };

    assert!(over_tls.is_ok(), "{over_tls:?}");
    assert!(plaintext_call.is_err());
}

#[tokio::test]
async fn mutual_tls_serves_a_client_with_a_certificate_and_refuses_one_without() {
    let pki = make_pki();
    let server = spawn_tls_server(&pki, true).await;

    let with_certificate = create_with(tls_channel(&server, &pki, true).await.unwrap()).await;
    let without_certificate = match tls_channel(&server, &pki, false).await {
        Ok(channel) => create_with(channel).await.map(drop),
        Err(_) => Err(tonic::Status::unavailable("refused at the handshake")),
    };

    assert!(with_certificate.is_ok(), "{with_certificate:?}");
    assert!(without_certificate.is_err());
}

#[tokio::test]
async fn health_is_served_in_plaintext_on_its_own_port_when_tls_is_on() {
    let pki = make_pki();
    let server = spawn_tls_server(&pki, true).await;
    let channel = Channel::from_shared(format!("http://{}", server.health_address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());

    let mut serving = false;
    for _ in 0..100 {
        let response = health.check(HealthCheckRequest { service: String::new() }).await;
        if response.is_ok_and(|response| response.into_inner().status == 1) {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let conversations_there = create_with(channel).await;

    assert!(serving, "the plaintext port reports SERVING");
    assert_eq!(conversations_there.unwrap_err().code(), tonic::Code::Unimplemented);
}
