//! Tokens signed with private keys. RS256 and ES256 tokens verify against the public keys of a
//! PEM file or a JWKS file; the kid picks the key; the algorithm allow-list holds, and neither
//! `alg: none` nor an HS256 token keyed with a public key gets through; a key file rewritten
//! while the server runs takes effect without a restart, unless the rewrite is broken.
//!
//! The key pairs are generated when the tests run, so no key material lives in the repository.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use conversation_service::auth::{Authenticator, JwtSettings, TokenAlgorithm};
use conversation_service::pb;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p256::elliptic_curve::Generate as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use tempfile::TempDir;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::support::{self, AUDIENCE, AppOptions, Client, ISSUER, SECRET, TestApp};

/// A key pair of the identity provider the service trusts.
struct KeyPair {
    algorithm: Algorithm,
    signing_key: EncodingKey,
    public_pem: String,
    /// The public key as a JWK, without a kid.
    jwk: Value,
}

/// RSA generation takes a while without optimisations, so each pair is made once per run.
fn rsa_key(slot: usize) -> &'static KeyPair {
    static KEYS: [OnceLock<KeyPair>; 2] = [OnceLock::new(), OnceLock::new()];
    KEYS[slot].get_or_init(|| {
        let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("an RSA key");
        let public = private.to_public_key();
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
        KeyPair {
            algorithm: Algorithm::RS256,
            signing_key: EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
            public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
            jwk: json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(public.n_bytes()),
                "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
            }),
        }
    })
}

fn ec_key() -> KeyPair {
    let secret = p256::SecretKey::generate();
    let public = secret.public_key();
    let point = public.to_sec1_point(false);
    let private_pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    KeyPair {
        algorithm: Algorithm::ES256,
        signing_key: EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        jwk: json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        }),
    }
}

fn good_claims() -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "sub": Uuid::new_v4().to_string(),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    })
}

fn signed_with(key: &KeyPair, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.signing_key).expect("the token signs")
}

fn token(key: &KeyPair, kid: Option<&str>) -> String {
    signed_with(key, kid, &good_claims())
}

/// A JWKS document of `(kid, key)` pairs.
fn jwks(keys: &[(&str, &KeyPair)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, key)| {
            let mut jwk = key.jwk.clone();
            jwk["kid"] = json!(kid);
            jwk
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn pem_file(keys: &[&KeyPair]) -> String {
    keys.iter().map(|key| key.public_pem.as_str()).collect::<Vec<_>>().join("\n")
}

/// The key files of one test, in a directory of their own.
struct KeyFiles {
    dir: TempDir,
}

impl KeyFiles {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary directory") }
    }

    fn pem(&self) -> PathBuf {
        self.dir.path().join("public-keys.pem")
    }

    fn jwks(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// Replaces `path` the way a careful operator or a secret mounter does: write a new file
    /// beside it, then rename it over the old one.
    fn write(&self, path: &Path, contents: &str) {
        let staged = self.dir.path().join(format!("staged-{}", Uuid::new_v4()));
        std::fs::write(&staged, contents).unwrap();
        std::fs::rename(&staged, path).unwrap();
    }
}

/// Token settings with public keys only, reloading quickly so that tests need not wait long.
fn public_key_settings(pem: Option<PathBuf>, jwks: Option<PathBuf>) -> JwtSettings {
    JwtSettings {
        secret: None,
        public_keys_file: pem,
        jwks_file: jwks,
        keys_reload_interval: Duration::from_millis(50),
        ..support::jwt_settings()
    }
}

async fn spawn(jwt: JwtSettings) -> TestApp {
    TestApp::spawn_with(AppOptions { jwt: Some(jwt), ..Default::default() }).await
}

async fn spawn_with_pem(files: &KeyFiles, keys: &[&KeyPair]) -> TestApp {
    files.write(&files.pem(), &pem_file(keys));
    spawn(public_key_settings(Some(files.pem()), None)).await
}

async fn spawn_with_jwks(files: &KeyFiles, keys: &[(&str, &KeyPair)]) -> TestApp {
    files.write(&files.jwks(), &jwks(keys));
    spawn(public_key_settings(None, Some(files.jwks()))).await
}

fn client(app: &TestApp, token: &str) -> Client {
    app.client_with(vec![("authorization", format!("Bearer {token}"))])
}

async fn create(app: &TestApp, token: &str) -> Result<pb::Conversation, Status> {
    let request = pb::CreateConversationRequest {
        conversation: Some(pb::Conversation { title: "Risk plan".into(), ..Default::default() }),
        request_id: String::new(),
    };
    let response = client(app, token).create_conversation(request).await;
    response.map(tonic::Response::into_inner)
}

/// The reason a call was refused as UNAUTHENTICATED; anything else fails the test.
async fn refusal(app: &TestApp, token: &str) -> String {
    match create(app, token).await {
        Ok(_) => panic!("the token was accepted"),
        Err(status) if status.code() == Code::Unauthenticated => status.message().to_owned(),
        Err(status) => panic!("expected UNAUTHENTICATED, got {status:?}"),
    }
}

/// Calls with `token` until it is accepted, for at most ten seconds: the server sees a
/// rewritten key file only on its next poll.
async fn accepted_eventually(app: &TestApp, token: &str) -> bool {
    let give_up_at = Instant::now() + Duration::from_secs(10);
    loop {
        if create(app, token).await.is_ok() {
            return true;
        }
        if Instant::now() > give_up_at {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_rs256_token_signed_with_a_key_of_the_pem_file_is_accepted() {
    let files = KeyFiles::new();
    let app = spawn_with_pem(&files, &[rsa_key(0)]).await;
    let claims = good_claims();

    let created = create(&app, &signed_with(rsa_key(0), None, &claims)).await;

    assert_eq!(created.expect("an RS256 token is accepted").user_id, claims["sub"]);
}

#[tokio::test]
async fn an_es256_token_signed_with_a_key_of_the_pem_file_is_accepted() {
    let files = KeyFiles::new();
    let ec = ec_key();
    let app = spawn_with_pem(&files, &[rsa_key(0), &ec]).await;
    let claims = good_claims();

    let created = create(&app, &signed_with(&ec, None, &claims)).await;

    assert_eq!(created.expect("an ES256 token is accepted").user_id, claims["sub"]);
}

#[tokio::test]
async fn a_jwks_file_verifies_rs256_and_es256_tokens() {
    let files = KeyFiles::new();
    let ec = ec_key();
    let app = spawn_with_jwks(&files, &[("rsa-1", rsa_key(0)), ("ec-1", &ec)]).await;

    let rs256 = create(&app, &token(rsa_key(0), Some("rsa-1"))).await;
    let es256 = create(&app, &token(&ec, Some("ec-1"))).await;
    let es256_without_kid = create(&app, &token(&ec, None)).await;

    rs256.expect("an RS256 token with its kid is accepted");
    es256.expect("an ES256 token with its kid is accepted");
    es256_without_kid.expect("an ES256 token without a kid is accepted");
}

#[tokio::test]
async fn a_kid_selects_the_one_key_it_names() {
    let files = KeyFiles::new();
    let app = spawn_with_jwks(&files, &[("a", rsa_key(0)), ("b", rsa_key(1))]).await;

    let signed_by_b = create(&app, &token(rsa_key(1), Some("b"))).await;
    let signed_by_a_naming_b = refusal(&app, &token(rsa_key(0), Some("b"))).await;

    signed_by_b.expect("a token verifies with the key its kid names");
    assert!(signed_by_a_naming_b.contains("signature"), "{signed_by_a_naming_b}");
}

#[tokio::test]
async fn a_kid_that_names_no_key_is_refused() {
    let files = KeyFiles::new();
    let app = spawn_with_jwks(&files, &[("a", rsa_key(0))]).await;

    let reason = refusal(&app, &token(rsa_key(0), Some("retired-2019"))).await;

    assert!(reason.contains("kid names no key"), "{reason}");
}

#[tokio::test]
async fn a_key_from_a_pem_file_is_named_by_its_thumbprint() {
    let files = KeyFiles::new();
    let app = spawn_with_pem(&files, &[rsa_key(0), rsa_key(1)]).await;
    let public_key = DecodingKey::from_rsa_pem(rsa_key(1).public_pem.as_bytes()).unwrap();
    let thumbprint =
        Jwk::from_decoding_key(&public_key, None).unwrap().thumbprint(ThumbprintHash::SHA256);
    let thumbprint = thumbprint.unwrap();

    let named = create(&app, &token(rsa_key(1), Some(&thumbprint))).await;
    let misnamed = refusal(&app, &token(rsa_key(0), Some(&thumbprint))).await;

    named.expect("the thumbprint names the key");
    assert!(misnamed.contains("signature"), "{misnamed}");
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let files = KeyFiles::new();
    let app = spawn_with_pem(&files, &[rsa_key(0)]).await;
    let forger_key = EncodingKey::from_secret(rsa_key(0).public_pem.as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &good_claims(), &forger_key);

    let reason = refusal(&app, &forged.unwrap()).await;

    assert!(reason.contains("alg (HS256) is not accepted"), "{reason}");
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused_where_hs256_is_allowed() {
    let files = KeyFiles::new();
    files.write(&files.pem(), &pem_file(&[rsa_key(0)]));
    let jwt = JwtSettings {
        secret: Some(SECRET.to_vec()),
        ..public_key_settings(Some(files.pem()), None)
    };
    let app = spawn(jwt).await;
    let forger_key = EncodingKey::from_secret(rsa_key(0).public_pem.as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &good_claims(), &forger_key);

    let reason = refusal(&app, &forged.unwrap()).await;

    assert!(reason.contains("signature"), "{reason}");
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let files = KeyFiles::new();
    let app = spawn_with_pem(&files, &[rsa_key(0)]).await;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(good_claims().to_string());

    let reason = refusal(&app, &format!("{header}.{claims}.")).await;

    assert!(reason.contains("unsigned"), "{reason}");
}

#[tokio::test]
async fn an_algorithm_outside_the_allow_list_is_refused() {
    let files = KeyFiles::new();
    let ec = ec_key();
    files.write(&files.pem(), &pem_file(&[rsa_key(0), &ec]));
    let jwt = JwtSettings {
        algorithms: vec![TokenAlgorithm::Rs256],
        ..public_key_settings(Some(files.pem()), None)
    };
    let app = spawn(jwt).await;

    let reason = refusal(&app, &token(&ec, None)).await;
    let rs256 = create(&app, &token(rsa_key(0), None)).await;

    assert!(reason.contains("alg (ES256) is not accepted"), "{reason}");
    rs256.expect("the allowed algorithm still verifies");
}

#[tokio::test]
async fn the_claims_of_a_public_key_token_are_checked_as_strictly() {
    let files = KeyFiles::new();
    let ec = ec_key();
    let app = spawn_with_pem(&files, &[&ec]).await;
    let with = |name: &str, value: Value| {
        let mut claims = good_claims();
        claims[name] = value;
        signed_with(&ec, None, &claims)
    };
    let an_hour_ago = jsonwebtoken::get_current_timestamp() - 3600;

    let expired = refusal(&app, &with("exp", json!(an_hour_ago))).await;
    let other_audience = refusal(&app, &with("aud", json!("billing-service"))).await;
    let email_subject = refusal(&app, &with("sub", json!("alice@example.com"))).await;

    assert!(expired.contains("expired"), "{expired}");
    assert!(other_audience.contains("audience"), "{other_audience}");
    assert!(email_subject.contains("UUID"), "{email_subject}");
}

#[tokio::test]
async fn a_rotated_key_file_is_picked_up_without_a_restart() {
    let files = KeyFiles::new();
    let app = spawn_with_pem(&files, &[rsa_key(0)]).await;
    let old_key_token = token(rsa_key(0), None);
    let new_key_token = token(rsa_key(1), None);
    create(&app, &old_key_token).await.expect("the first key verifies before the rotation");

    files.write(&files.pem(), &pem_file(&[rsa_key(1)]));

    assert!(accepted_eventually(&app, &new_key_token).await, "the new key never took effect");
    let reason = refusal(&app, &old_key_token).await;
    assert!(reason.contains("signature"), "{reason}");
}

/// Two files, so that the server's progress shows: once two later changes to the JWKS file
/// have taken effect, the broken PEM file was read at least once as well.
#[tokio::test]
async fn a_broken_rewrite_keeps_the_previous_keys() {
    let files = KeyFiles::new();
    let (pem_key, first, second, third) = (ec_key(), ec_key(), ec_key(), ec_key());
    files.write(&files.pem(), &pem_file(&[&pem_key]));
    files.write(&files.jwks(), &jwks(&[("first", &first)]));
    let app = spawn(public_key_settings(Some(files.pem()), Some(files.jwks()))).await;
    let pem_key_token = token(&pem_key, None);
    create(&app, &pem_key_token).await.expect("the PEM key verifies before the rewrite");

    let half_written = &second.public_pem[..second.public_pem.len() / 2];
    files.write(&files.pem(), &format!("{}\n{half_written}", third.public_pem));
    files.write(&files.jwks(), &jwks(&[("second", &second)]));
    let second_seen = accepted_eventually(&app, &token(&second, Some("second"))).await;
    files.write(&files.jwks(), &jwks(&[("third", &third)]));
    let third_seen = accepted_eventually(&app, &token(&third, Some("third"))).await;

    assert!(second_seen && third_seen, "the JWKS rewrites never took effect");
    create(&app, &pem_key_token).await.expect("the PEM file's previous key still verifies");
}

#[test]
fn a_private_key_in_the_key_file_stops_the_service_from_starting() {
    let files = KeyFiles::new();
    let secret = p256::SecretKey::generate();
    files.write(&files.pem(), &secret.to_pkcs8_pem(LineEnding::LF).unwrap());

    let outcome = Authenticator::new(&public_key_settings(Some(files.pem()), None), false);

    let error = outcome.err().expect("a private key is refused").to_string();
    assert!(error.contains("private key"), "{error}");
}
