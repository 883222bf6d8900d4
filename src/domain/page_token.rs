//! Page tokens: where a listing stopped, signed so that a client can only hand back a token
//! the service issued, to the same user, for the same request.
//!
//! A token holds a keyset position (the sort timestamp and id of the last row sent), never an
//! offset, so that resuming deep into a listing costs what the first page costs. The HMAC
//! covers the position together with the caller's user id and a description of the request's
//! filters: a token replayed by another user, or with other filters, fails verification.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::InvalidInput;

const VERSION: u8 = 1;
const MAC_BYTES: usize = 16;
const PAYLOAD_BYTES: usize = 1 + 8 + 16;

/// The last row a page sent, in the listing's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// The last hit a search page sent: its relevance score and id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScorePosition {
    pub score: f64,
    pub id: Uuid,
}

/// A keyset position that fits a token: a 64-bit sort key and a UUID.
pub trait TokenPosition: Sized {
    fn to_key(&self) -> (i64, Uuid);
    fn from_key(key: i64, id: Uuid) -> Option<Self>;
}

impl TokenPosition for Position {
    fn to_key(&self) -> (i64, Uuid) {
        (self.at.timestamp_micros(), self.id)
    }

    fn from_key(key: i64, id: Uuid) -> Option<Self> {
        Some(Self { at: DateTime::from_timestamp_micros(key)?, id })
    }
}

impl TokenPosition for ScorePosition {
    fn to_key(&self) -> (i64, Uuid) {
        (self.score.to_bits() as i64, self.id)
    }

    fn from_key(key: i64, id: Uuid) -> Option<Self> {
        let score = f64::from_bits(key as u64);
        score.is_finite().then_some(Self { score, id })
    }
}

/// The secret that signs page tokens. Every replica behind one address must share it.
#[derive(Clone)]
pub struct PageTokenKey(Vec<u8>);

impl std::fmt::Debug for PageTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokenKey([redacted])")
    }
}

impl PageTokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    /// Encodes `position` for the request described by `binding` of user `user_id`.
    pub fn issue<P: TokenPosition>(&self, user_id: Uuid, binding: &str, position: P) -> String {
        let (key, id) = position.to_key();
        let mut token = Vec::with_capacity(PAYLOAD_BYTES + MAC_BYTES);
        token.push(VERSION);
        token.extend_from_slice(&key.to_be_bytes());
        token.extend_from_slice(id.as_bytes());

        let mac = self.mac(user_id, binding, &token);
        token.extend_from_slice(&mac[..MAC_BYTES]);

        URL_SAFE_NO_PAD.encode(token)
    }

    /// Reads back a token that `issue` made for the same user and binding.
    pub fn verify<P: TokenPosition>(
        &self,
        field: &str,
        user_id: Uuid,
        binding: &str,
        token: &str,
    ) -> Result<P, InvalidInput> {
        let refused = || {
            InvalidInput::field(
                field,
                "is not a page token issued for this request; send the request again without it",
            )
        };

        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
        if bytes.len() != PAYLOAD_BYTES + MAC_BYTES || bytes[0] != VERSION {
            return Err(refused());
        }

        let (payload, mac) = bytes.split_at(PAYLOAD_BYTES);
        let mut verifier = self.keyed(user_id, binding);
        verifier.update(payload);
        verifier.verify_truncated_left(mac).map_err(|_| refused())?;

        let key = i64::from_be_bytes(payload[1..9].try_into().map_err(|_| refused())?);
        let id = Uuid::from_slice(&payload[9..25]).map_err(|_| refused())?;
        P::from_key(key, id).ok_or_else(refused)
    }

    fn mac(&self, user_id: Uuid, binding: &str, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed(user_id, binding);
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }

    fn keyed(&self, user_id: Uuid, binding: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(user_id.as_bytes());
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        }
    }

    #[test]
    fn a_token_reads_back_as_the_position_it_was_issued_for() {
        let key = PageTokenKey::new(b"secret");
        let user = Uuid::new_v4();
        let issued = position();
        let token = key.issue(user, "mode=any", issued);
        let read: Position = key.verify("page_token", user, "mode=any", &token).unwrap();
        assert_eq!(read, issued);
    }

    #[test]
    fn a_token_of_another_user_is_refused() {
        let key = PageTokenKey::new(b"secret");
        let token = key.issue(Uuid::new_v4(), "mode=any", position());
        assert!(key.verify::<Position>("page_token", Uuid::new_v4(), "mode=any", &token).is_err());
    }

    #[test]
    fn a_token_of_other_filters_is_refused() {
        let key = PageTokenKey::new(b"secret");
        let user = Uuid::new_v4();
        let token = key.issue(user, "mode=any", position());
        assert!(key.verify::<Position>("page_token", user, "mode=planning", &token).is_err());
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let key = PageTokenKey::new(b"secret");
        let user = Uuid::new_v4();
        let mut token = key.issue(user, "b", position()).into_bytes();
        token[5] = if token[5] == b'A' { b'B' } else { b'A' };
        let token = String::from_utf8(token).unwrap();
        assert!(key.verify::<Position>("page_token", user, "b", &token).is_err());
    }

    #[test]
    fn a_search_score_survives_a_token_exactly() {
        let key = PageTokenKey::new(b"secret");
        let user = Uuid::new_v4();
        let issued = ScorePosition { score: 0.123_456_789_f64, id: Uuid::now_v7() };
        let token = key.issue(user, "search", issued);
        let read: ScorePosition = key.verify("page_token", user, "search", &token).unwrap();
        assert_eq!(read, issued);
    }
}
