//! Reading the public keys of a file an operator configured: PEM with one or more public keys,
//! or a JSON Web Key Set. A file is taken whole or not at all, so a half-written or mistyped
//! file never leaves the service with only some of the keys it was meant to have.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use serde::Deserialize;

use super::public_key::{MIN_RSA_BITS, PublicKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyFileFormat {
    Pem,
    Jwks,
}

#[derive(Debug, Clone)]
pub(super) struct KeyFile {
    pub path: PathBuf,
    pub format: KeyFileFormat,
}

/// A key file that could not be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("key file {path}: {problem}")]
pub struct KeyFileError {
    path: PathBuf,
    problem: KeyProblem,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum KeyProblem {
    #[error("cannot be read: {0}")]
    Unreadable(#[from] std::io::Error),
    #[error("is not valid PEM: {0}")]
    NotPem(#[from] pem::PemError),
    #[error("has a PEM block that is cut short (BEGIN without END)")]
    TruncatedPem,
    #[error("is not a JSON Web Key Set: {0}")]
    NotJwks(#[from] serde_json::Error),
    #[error("holds a private key; give the service public keys only")]
    PrivateKey,
    #[error(
        "holds a certificate; configure its public key instead \
         (openssl x509 -pubkey -noout -in <certificate>)"
    )]
    Certificate,
    #[error("holds a PEM block of type {0}; expected PUBLIC KEY or RSA PUBLIC KEY")]
    UnexpectedPemBlock(String),
    #[error("holds a public key that is neither a valid RSA key nor a valid EC P-256 key")]
    UnsupportedKey,
    #[error("holds an RSA key of {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaKeyTooShort(u32),
    #[error("holds a JWK that cannot be used: {0}")]
    InvalidJwk(String),
    #[error("holds no key for an allowed algorithm ({0})")]
    NoUsableKey(String),
}

impl KeyFile {
    /// Reads the file now, blocking; for startup, before anything is served.
    pub(super) fn read_blocking(&self) -> Result<Vec<PublicKey>, KeyFileError> {
        let contents = std::fs::read(&self.path).map_err(|error| self.error(error.into()))?;
        self.parse(&contents)
    }

    pub(super) async fn read(&self) -> Result<Vec<PublicKey>, KeyFileError> {
        let contents =
            tokio::fs::read(&self.path).await.map_err(|error| self.error(error.into()))?;
        self.parse(&contents)
    }

    fn parse(&self, contents: &[u8]) -> Result<Vec<PublicKey>, KeyFileError> {
        let keys = match self.format {
            KeyFileFormat::Pem => pem_keys(contents),
            KeyFileFormat::Jwks => jwks_keys(contents, &self.path),
        };
        keys.map_err(|problem| self.error(problem))
    }

    pub(super) fn error(&self, problem: KeyProblem) -> KeyFileError {
        KeyFileError { path: self.path.clone(), problem }
    }
}

fn pem_keys(contents: &[u8]) -> Result<Vec<PublicKey>, KeyProblem> {
    let blocks = pem::parse_many(contents)?;

    // The PEM parser skips a block that has no END line; count the BEGIN lines so that a file
    // caught halfway through a rewrite is refused rather than read as fewer keys.
    let begin_lines = contents.windows(b"-----BEGIN ".len()).filter(|w| w == b"-----BEGIN ");
    if begin_lines.count() != blocks.len() {
        return Err(KeyProblem::TruncatedPem);
    }

    blocks.iter().map(pem_key).collect()
}

fn pem_key(block: &pem::Pem) -> Result<PublicKey, KeyProblem> {
    match block.tag() {
        "PUBLIC KEY" => spki_key(block.contents()),
        "RSA PUBLIC KEY" => {
            let public_key = rsa::PublicKey::from_pkcs1_der(block.contents())
                .map_err(|_| KeyProblem::UnsupportedKey)?;
            rsa_key(&public_key, None)
        }
        "CERTIFICATE" => Err(KeyProblem::Certificate),
        tag if tag.contains("PRIVATE KEY") => Err(KeyProblem::PrivateKey),
        tag => Err(KeyProblem::UnexpectedPemBlock(tag.to_owned())),
    }
}

/// A SubjectPublicKeyInfo, the `PUBLIC KEY` of `openssl pkey -pubout`, of either kind.
fn spki_key(der: &[u8]) -> Result<PublicKey, KeyProblem> {
    if let Ok(public_key) = rsa::PublicKey::from_public_key_der(der) {
        return rsa_key(&public_key, None);
    }
    if let Ok(public_key) = p256::PublicKey::from_public_key_der(der) {
        return Ok(PublicKey::p256(&public_key, None));
    }
    Err(KeyProblem::UnsupportedKey)
}

fn rsa_key(public_key: &rsa::PublicKey, kid: Option<String>) -> Result<PublicKey, KeyProblem> {
    use rsa::traits::PublicKeyParts as _;

    let bits = public_key.n().bit_width();
    if bits < MIN_RSA_BITS {
        return Err(KeyProblem::RsaKeyTooShort(bits));
    }
    Ok(PublicKey::rsa(public_key, kid))
}

/// The members of a JWK this service reads (RFC 7517, RFC 7518 section 6).
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    /// Present only in a private key, which does not belong in this file.
    d: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// Keys for signatures that this service verifies. A set may well also hold encryption keys or
/// keys for algorithms used elsewhere; those are passed over, not a reason to refuse the file.
fn jwks_keys(contents: &[u8], path: &Path) -> Result<Vec<PublicKey>, KeyProblem> {
    let set: JwkSet = serde_json::from_slice(contents)?;

    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in set.keys {
        if jwk.d.is_some() {
            return Err(KeyProblem::PrivateKey);
        }
        if jwk.public_key_use.as_deref().is_some_and(|public_key_use| public_key_use != "sig") {
            continue;
        }

        match (jwk.kty.as_str(), jwk.alg.as_deref(), jwk.crv.as_deref()) {
            ("RSA", None | Some("RS256"), _) => keys.push(rsa_jwk(jwk)?),
            ("EC", None | Some("ES256"), Some("P-256")) => keys.push(p256_jwk(jwk)?),
            (kty, alg, crv) => tracing::warn!(
                key_file = %path.display(),
                jwk.kid = jwk.kid.as_deref().unwrap_or(""),
                jwk.kty = kty,
                jwk.alg = alg.unwrap_or(""),
                jwk.crv = crv.unwrap_or(""),
                "skipping a key that is not for RS256 or ES256"
            ),
        }
    }
    Ok(keys)
}

fn rsa_jwk(jwk: Jwk) -> Result<PublicKey, KeyProblem> {
    let modulus = jwk_member(&jwk, "n", &jwk.n)?;
    let exponent = jwk_member(&jwk, "e", &jwk.e)?;

    let public_key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&modulus),
        rsa::BoxedUint::from_be_slice_vartime(&exponent),
    )
    .map_err(|error| invalid_jwk(&jwk, &error.to_string()))?;
    rsa_key(&public_key, jwk.kid)
}

fn p256_jwk(jwk: Jwk) -> Result<PublicKey, KeyProblem> {
    let x = jwk_member(&jwk, "x", &jwk.x)?;
    let y = jwk_member(&jwk, "y", &jwk.y)?;
    if x.len() != 32 || y.len() != 32 {
        return Err(invalid_jwk(&jwk, "x and y must be 32 bytes each"));
    }

    // Parsing the uncompressed point checks that it lies on the curve.
    let point = [&[0x04][..], &x, &y].concat();
    let public_key = p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| invalid_jwk(&jwk, "the point is not on P-256"))?;
    Ok(PublicKey::p256(&public_key, jwk.kid))
}

fn jwk_member(jwk: &Jwk, name: &str, value: &Option<String>) -> Result<Vec<u8>, KeyProblem> {
    let value = value.as_deref().ok_or_else(|| invalid_jwk(jwk, &format!("{name} is missing")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| invalid_jwk(jwk, &format!("{name} is not base64url without padding")))
}

fn invalid_jwk(jwk: &Jwk, reason: &str) -> KeyProblem {
    let kid = jwk.kid.as_deref().unwrap_or("(none)");
    KeyProblem::InvalidJwk(format!("kid {kid}: {reason}"))
}

/// What a key file looked like when it was read. Any difference means it was rewritten:
/// a new modification time, a new length, or a new inode after an atomic rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    pub(super) fn of(metadata: &Metadata) -> Self {
        Self { modified: metadata.modified().ok(), len: metadata.len(), inode: metadata.ino() }
    }
}

#[cfg(test)]
mod tests {
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    use p256::pkcs8::EncodePublicKey as _;

    use super::*;

    fn p256_public_pem(seed: u8) -> String {
        let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
        secret.public_key().to_public_key_pem(Default::default()).unwrap()
    }

    #[test]
    fn a_pem_file_may_hold_several_keys_and_explanatory_text() {
        let contents = format!("old key\n{}\nnew key\n{}", p256_public_pem(1), p256_public_pem(2));

        let keys = pem_keys(contents.as_bytes()).unwrap();

        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0].kid(), keys[1].kid());
    }

    #[test]
    fn a_pem_block_cut_short_fails_the_whole_file() {
        let whole = p256_public_pem(1);
        let contents = format!("{whole}{}", &whole[..whole.len() / 2]);

        let outcome = pem_keys(contents.as_bytes());

        assert!(matches!(outcome, Err(KeyProblem::TruncatedPem)));
    }

    #[test]
    fn private_keys_and_certificates_are_refused() {
        let block = |tag: &str| pem::encode(&pem::Pem::new(tag, vec![0x30, 0x00]));

        let private = pem_keys(block("PRIVATE KEY").as_bytes());
        let ec_private = pem_keys(block("EC PRIVATE KEY").as_bytes());
        let certificate = pem_keys(block("CERTIFICATE").as_bytes());

        assert!(matches!(private, Err(KeyProblem::PrivateKey)));
        assert!(matches!(ec_private, Err(KeyProblem::PrivateKey)));
        assert!(matches!(certificate, Err(KeyProblem::Certificate)));
    }

    #[test]
    fn a_jwks_passes_over_keys_for_other_uses_and_algorithms() {
        let secret = p256::SecretKey::from_slice(&[3; 32]).unwrap();
        let point = secret.public_key().to_sec1_point(false);
        let x = URL_SAFE_NO_PAD.encode(point.x().unwrap());
        let y = URL_SAFE_NO_PAD.encode(point.y().unwrap());
        let set = serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "sig", "use": "sig", "x": x, "y": y },
            { "kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": x, "y": y },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": x },
        ]});

        let keys = jwks_keys(set.to_string().as_bytes(), Path::new("jwks.json")).unwrap();

        let kids: Vec<&str> = keys.iter().map(PublicKey::kid).collect();
        assert_eq!(kids, ["sig"]);
    }

    #[test]
    fn a_jwk_with_a_point_off_the_curve_fails_the_file() {
        let set = serde_json::json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "kid": "bad",
            "x": URL_SAFE_NO_PAD.encode([1; 32]), "y": URL_SAFE_NO_PAD.encode([2; 32]),
        }]});

        let outcome = jwks_keys(set.to_string().as_bytes(), Path::new("jwks.json"));

        assert!(matches!(outcome, Err(KeyProblem::InvalidJwk(_))));
    }

    #[test]
    fn a_private_jwk_fails_the_file() {
        let set =
            serde_json::json!({ "keys": [{ "kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "x" }]});

        let outcome = jwks_keys(set.to_string().as_bytes(), Path::new("jwks.json"));

        assert!(matches!(outcome, Err(KeyProblem::PrivateKey)));
    }
}
