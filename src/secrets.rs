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
/// first use so that `conversation-service token` and the service agree without setup.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.jwt_secret {
        if secret.len() < 32 {
            bail!("CONVERSATION_JWT_SECRET must be at least 32 bytes");
        }
        return Ok(secret.as_bytes().to_vec());
    }

    if settings.database_url.is_some() {
        bail!("set CONVERSATION_JWT_SECRET (or --jwt-secret) when DATABASE_URL is set");
    }

    read_or_create(&settings.data_dir().join(SECRET_FILE))
}

/// The key of page tokens: configured, or derived from the JWT secret so that replicas that
/// share one share the other.
pub fn page_token_key(settings: &Settings, jwt_secret: &[u8]) -> PageTokenKey {
    if let Some(secret) = &settings.page_token_secret {
        return PageTokenKey::new(secret.as_bytes());
    }
    let mut derive =
        Hmac::<Sha256>::new_from_slice(jwt_secret).expect("HMAC accepts keys of any length");
    derive.update(b"conversation-service page tokens");
    PageTokenKey::new(&derive.finalize().into_bytes())
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
