//! The service's secrets: the HS256 key of bearer tokens and the key of page tokens.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::Settings;
use crate::domain::PageTokenKey;

const SECRET_FILE: &str = "jwt-secret";

/// The configured JWT secret; in the embedded mode, the one in the data directory, created on
/// first use so that `conversation-service token` and the service agree without setup. None
/// when tokens are verified with public keys only.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(secret) = &settings.jwt_secret {
        if secret.len() < 32 {
            bail!("CONVERSATION_JWT_SECRET must be at least 32 bytes");
        }
        return Ok(Some(secret.as_bytes().to_vec()));
    }

    // With public keys configured, a generated secret would only widen what is accepted.
    if settings.jwt_public_keys_file.is_some() || settings.jwks_file.is_some() {
        return Ok(None);
    }

    if settings.database_url.is_some() {
        bail!(
            "set CONVERSATION_JWT_SECRET, CONVERSATION_JWT_PUBLIC_KEYS_FILE or \
             CONVERSATION_JWKS_FILE (or --jwt-secret, --jwt-public-keys-file, --jwks-file) \
             when DATABASE_URL is set"
        );
    }

    read_or_create(&settings.data_dir().join(SECRET_FILE)).map(Some)
}

/// The key of page tokens: configured, or derived from the JWT secret so that replicas that
/// share one share the other.
pub fn page_token_key(
    settings: &Settings,
    jwt_secret: Option<&[u8]>,
) -> anyhow::Result<PageTokenKey> {
    if let Some(secret) = &settings.page_token_secret {
        if secret.len() < 32 {
            bail!("CONVERSATION_PAGE_TOKEN_SECRET must be at least 32 bytes");
        }
        return Ok(PageTokenKey::new(secret.as_bytes()));
    }
    let Some(jwt_secret) = jwt_secret else {
        bail!(
            "set CONVERSATION_PAGE_TOKEN_SECRET (or --page-token-secret): page tokens are \
             signed with a key derived from the JWT secret, and tokens are verified with \
             public keys only"
        );
    };
    let mut derive =
        Hmac::<Sha256>::new_from_slice(jwt_secret).expect("HMAC accepts keys of any length");
    derive.update(b"conversation-service page tokens");
    Ok(PageTokenKey::new(&derive.finalize().into_bytes()))
}

fn read_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(secret) = fs::read_to_string(path) {
        return Ok(secret.trim().as_bytes().to_vec());
    }

    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }

    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();

    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a token signing secret");

    Ok(secret.into_bytes())
}
