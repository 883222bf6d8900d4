//! Identity. A conversation RPC runs only for a caller with a valid bearer token or, where the
//! mesh is trusted, an `x-user-id` header; anything else is UNAUTHENTICATED before the service
//! reads or writes a row. Health answers without credentials.
//!
//! Bad tokens are made from the claims of a good one with exactly one thing changed, so that
//! each refusal can only be for that one thing.

use std::time::{Duration, Instant};

use conversation_service::pb;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use uuid::Uuid;

use crate::support::{AN_HOUR, AppOptions, Client, SECRET, TestApp, good_claims, signed, unsigned};

type Headers = Vec<(&'static str, String)>;

/// Good claims with `name` set to `value`.
fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = good_claims(Uuid::new_v4());
    claims[name] = value;
    claims
}

/// Good claims without `name`.
fn claims_without(name: &str) -> Value {
    let mut claims = good_claims(Uuid::new_v4());
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn signed_with_the_secret(claims: &Value) -> String {
    signed(claims, SECRET, Algorithm::HS256)
}

fn authorization(value: &str) -> Headers {
    vec![("authorization", value.to_owned())]
}

fn bearer(token: &str) -> Headers {
    authorization(&format!("Bearer {token}"))
}

fn x_user_id(value: &str) -> Headers {
    vec![("x-user-id", value.to_owned())]
}

/// A create request that any signed-in caller would succeed with.
async fn create(client: &mut Client) -> Result<pb::Conversation, Status> {
    let request = pb::CreateConversationRequest {
        conversation: Some(pb::Conversation { title: "Morning plan".into(), ..Default::default() }),
        request_id: String::new(),
    };
    client.create_conversation(request).await.map(tonic::Response::into_inner)
}

/// How a call that should have been UNAUTHENTICATED went wrong, if it did.
fn not_unauthenticated<T>(outcome: Result<T, Status>) -> Option<String> {
    match outcome {
        Ok(_) => Some("accepted".into()),
        Err(status) if status.code() == Code::Unauthenticated => None,
        Err(status) => Some(format!("{:?} ({:?})", status.code(), status.message())),
    }
}

#[tokio::test]
async fn a_hand_made_token_with_every_claim_right_is_accepted() {
    let app = TestApp::spawn().await;
    let user_id = Uuid::new_v4();
    let token = signed_with_the_secret(&good_claims(user_id));

    let created = create(&mut app.client_with(bearer(&token))).await;

    assert_eq!(created.expect("a good token is accepted").user_id, user_id.to_string());
}

#[tokio::test]
async fn each_kind_of_bad_credentials_is_unauthenticated_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let now = jsonwebtoken::get_current_timestamp();
    let another_secret = b"another secret that is also at least thirty-two bytes long";
    let good = || good_claims(Uuid::new_v4());
    let sent = |claims: Value| bearer(&signed_with_the_secret(&claims));
    let cases: Vec<(&str, Headers)> = vec![
        ("no credentials", Vec::new()),
        ("a Basic authorization", authorization("Basic x")),
        ("a bearer that is not a JWT", authorization("Bearer garbage")),
        ("a bearer without a token", authorization("Bearer")),
        ("a token without a scheme", authorization(&signed_with_the_secret(&good()))),
        ("an expired token", sent(claims_with("exp", json!(now - AN_HOUR)))),
        ("a wrong audience", sent(claims_with("aud", json!("billing-service")))),
        ("a wrong issuer", sent(claims_with("iss", json!("mallory")))),
        ("a sub that is not a UUID", sent(claims_with("sub", json!("alice@example.com")))),
        ("no exp", sent(claims_without("exp"))),
        ("no sub", sent(claims_without("sub"))),
        ("no iss", sent(claims_without("iss"))),
        ("no aud", sent(claims_without("aud"))),
        ("a wrong secret", bearer(&signed(&good(), another_secret, Algorithm::HS256))),
        ("an algorithm other than HS256", bearer(&signed(&good(), SECRET, Algorithm::HS512))),
        ("alg none", bearer(&unsigned(&good()))),
    ];
    let before = app.snapshot().await;

    let mut wrong = Vec::new();
    for (what, headers) in cases {
        if let Some(problem) = not_unauthenticated(create(&mut app.client_with(headers)).await) {
            wrong.push(format!("{what}: {problem}"));
        }
    }

    assert!(wrong.is_empty(), "credentials not refused as UNAUTHENTICATED:\n{}", wrong.join("\n"));
    assert_eq!(app.snapshot().await, before, "a refused caller changed the database");
}

#[tokio::test]
async fn a_token_that_is_not_valid_yet_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let an_hour_from_now = jsonwebtoken::get_current_timestamp() + AN_HOUR;
    let token = signed_with_the_secret(&claims_with("nbf", json!(an_hour_from_now)));

    let outcome = create(&mut app.client_with(bearer(&token))).await;

    assert_eq!(not_unauthenticated(outcome), None);
}

#[tokio::test]
async fn every_rpc_refuses_a_caller_without_credentials() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let id = alice.create_titled("Opening range breakouts").await.id;
    alice.append(&id, "I chased the first candle again").await;
    let before = app.snapshot().await;
    let mut anonymous = app.client_with(Vec::new());

    let outcomes = [
        ("CreateConversation", create(&mut anonymous).await.map(drop)),
        (
            "GetConversation",
            anonymous
                .get_conversation(pb::GetConversationRequest { id: id.clone() })
                .await
                .map(drop),
        ),
        (
            "UpdateConversation",
            anonymous
                .update_conversation(pb::UpdateConversationRequest {
                    conversation: Some(pb::Conversation {
                        id: id.clone(),
                        title: "Taken over".into(),
                        ..Default::default()
                    }),
                    update_mask: None,
                })
                .await
                .map(drop),
        ),
        (
            "ArchiveConversation",
            anonymous
                .archive_conversation(pb::ArchiveConversationRequest {
                    id: id.clone(),
                    etag: String::new(),
                })
                .await
                .map(drop),
        ),
        (
            "UnarchiveConversation",
            anonymous
                .unarchive_conversation(pb::UnarchiveConversationRequest {
                    id: id.clone(),
                    etag: String::new(),
                })
                .await
                .map(drop),
        ),
        (
            "DeleteConversation",
            anonymous
                .delete_conversation(pb::DeleteConversationRequest {
                    id: id.clone(),
                    etag: String::new(),
                })
                .await
                .map(drop),
        ),
        (
            "UndeleteConversation",
            anonymous
                .undelete_conversation(pb::UndeleteConversationRequest {
                    id: id.clone(),
                    etag: String::new(),
                })
                .await
                .map(drop),
        ),
        (
            "ListConversations",
            anonymous.list_conversations(pb::ListConversationsRequest::default()).await.map(drop),
        ),
        (
            "AppendMessage",
            anonymous
                .append_message(pb::AppendMessageRequest {
                    conversation_id: id.clone(),
                    message: Some(crate::support::user_message("Injected")),
                    request_id: String::new(),
                })
                .await
                .map(drop),
        ),
        (
            "ListMessages",
            anonymous
                .list_messages(pb::ListMessagesRequest {
                    conversation_id: id.clone(),
                    ..Default::default()
                })
                .await
                .map(drop),
        ),
    ];

    let wrong: Vec<String> = outcomes
        .into_iter()
        .filter_map(|(rpc, outcome)| not_unauthenticated(outcome).map(|p| format!("{rpc}: {p}")))
        .collect();
    assert!(wrong.is_empty(), "RPCs not refused as UNAUTHENTICATED:\n{}", wrong.join("\n"));
    assert_eq!(app.snapshot().await, before, "an anonymous caller changed the database");
}

/// Asks for `service`'s health until it is SERVING, for at most a few seconds: the server
/// reports SERVING once its first database probe succeeds.
async fn health_once_settled(app: &TestApp, service: &str) -> ServingStatus {
    let mut health = HealthClient::new(app.channel());
    let give_up_at = Instant::now() + Duration::from_secs(5);
    loop {
        let request = HealthCheckRequest { service: service.into() };
        let response = health.check(request).await.expect("health answers without credentials");
        let status = response.into_inner().status();
        if status == ServingStatus::Serving || Instant::now() > give_up_at {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn health_answers_serving_without_credentials() {
    let app = TestApp::spawn().await;

    let overall = health_once_settled(&app, "").await;
    let conversations = health_once_settled(&app, pb::SERVICE_NAME).await;

    assert_eq!(overall, ServingStatus::Serving);
    assert_eq!(conversations, ServingStatus::Serving);
}

#[tokio::test]
async fn the_x_user_id_header_is_ignored_unless_trusted() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;

    let outcome = create(&mut app.client_with(x_user_id(&Uuid::new_v4().to_string()))).await;

    assert_eq!(not_unauthenticated(outcome), None);
    assert_eq!(app.snapshot().await, before);
}

fn trusting_user_id_header() -> AppOptions {
    AppOptions { trust_user_id_header: true, ..Default::default() }
}

#[tokio::test]
async fn a_trusted_x_user_id_header_identifies_the_caller() {
    let app = TestApp::spawn_with(trusting_user_id_header()).await;
    let user_id = Uuid::new_v4();
    let mut client = app.client_with(x_user_id(&user_id.to_string()));

    let created = create(&mut client).await.expect("a trusted x-user-id is accepted");
    let read = client.get_conversation(pb::GetConversationRequest { id: created.id.clone() }).await;

    assert_eq!(created.user_id, user_id.to_string());
    assert_eq!(read.expect("the caller reads back its conversation").into_inner(), created);
}

#[tokio::test]
async fn a_trusted_x_user_id_that_is_not_a_uuid_is_unauthenticated() {
    let app = TestApp::spawn_with(trusting_user_id_header()).await;
    let before = app.snapshot().await;

    let mut wrong = Vec::new();
    for value in ["not-a-uuid", "", "alice@example.com", "00000000-0000-0000-0000-00000000000"] {
        if let Some(problem) =
            not_unauthenticated(create(&mut app.client_with(x_user_id(value))).await)
        {
            wrong.push(format!("x-user-id {value:?}: {problem}"));
        }
    }

    assert!(wrong.is_empty(), "x-user-id not refused as UNAUTHENTICATED:\n{}", wrong.join("\n"));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_bad_token_is_not_rescued_by_a_trusted_x_user_id_header() {
    let app = TestApp::spawn_with(trusting_user_id_header()).await;
    let mut headers = authorization("Bearer garbage");
    headers.extend(x_user_id(&Uuid::new_v4().to_string()));

    let outcome = create(&mut app.client_with(headers)).await;

    assert_eq!(not_unauthenticated(outcome), None);
}
