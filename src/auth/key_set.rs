//! The public keys in force, how a token's header picks among them, and the one place they are
//! swapped when a key file changes.

use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::DecodingKey;

use super::public_key::PublicKey;
use super::{TokenAlgorithm, TokenRejection};

#[derive(Default)]
pub(super) struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    pub(super) fn new(keys: Vec<PublicKey>) -> Self {
        Self { keys }
    }

    /// The keys a token signed with `algorithm` is checked against: with a kid, the key it
    /// names and nothing else; without one, every key of that algorithm in turn.
    pub(super) fn candidates(
        &self,
        algorithm: TokenAlgorithm,
        kid: Option<&str>,
    ) -> Result<Vec<&DecodingKey>, TokenRejection> {
        let Some(kid) = kid else {
            let keys = self.of_algorithm(algorithm, |_| true);
            if keys.is_empty() {
                return Err(TokenRejection::NoKeyForAlgorithm(algorithm));
            }
            return Ok(keys);
        };

        if !self.keys.iter().any(|key| key.kid() == kid) {
            return Err(TokenRejection::UnknownKid);
        }

        let keys = self.of_algorithm(algorithm, |key| key.kid() == kid);
        if keys.is_empty() {
            return Err(TokenRejection::KidOfAnotherAlgorithm(algorithm));
        }
        Ok(keys)
    }

    fn of_algorithm(
        &self,
        algorithm: TokenAlgorithm,
        wanted: impl Fn(&PublicKey) -> bool,
    ) -> Vec<&DecodingKey> {
        self.keys
            .iter()
            .filter(|key| key.algorithm() == algorithm && wanted(key))
            .map(PublicKey::decoding_key)
            .collect()
    }
}

/// The current key set, read by the verifier on every request and replaced whole by the key
/// file watcher, so a request sees either the old keys or the new ones, never a mix.
#[derive(Clone, Default)]
pub(super) struct SharedKeySet(Arc<RwLock<Arc<KeySet>>>);

impl SharedKeySet {
    pub(super) fn current(&self) -> Arc<KeySet> {
        // A writer only swaps an `Arc`, which cannot panic halfway: a poisoned lock still
        // holds a whole key set.
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(super) fn replace(&self, keys: KeySet) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es256_key(seed: u8, kid: &str) -> PublicKey {
        let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
        PublicKey::p256(&secret.public_key(), Some(kid.into()))
    }

    fn keys() -> KeySet {
        KeySet::new(vec![es256_key(1, "a"), es256_key(2, "b")])
    }

    #[test]
    fn a_kid_picks_exactly_the_key_it_names() {
        let set = keys();

        let named = set.candidates(TokenAlgorithm::Es256, Some("b")).unwrap();

        assert_eq!(named.len(), 1);
        assert!(std::ptr::eq(named[0], set.keys[1].decoding_key()));
    }

    #[test]
    fn without_a_kid_every_key_of_the_algorithm_is_a_candidate() {
        let set = keys();

        assert_eq!(set.candidates(TokenAlgorithm::Es256, None).unwrap().len(), 2);
    }

    #[test]
    fn a_kid_that_names_no_key_is_refused() {
        let set = keys();

        let outcome = set.candidates(TokenAlgorithm::Es256, Some("c"));

        assert!(matches!(outcome, Err(TokenRejection::UnknownKid)));
    }

    #[test]
    fn a_key_is_never_used_for_another_algorithm() {
        let set = keys();

        let by_kid = set.candidates(TokenAlgorithm::Rs256, Some("a"));
        let without_kid = set.candidates(TokenAlgorithm::Rs256, None);

        assert!(matches!(by_kid, Err(TokenRejection::KidOfAnotherAlgorithm(_))));
        assert!(matches!(without_kid, Err(TokenRejection::NoKeyForAlgorithm(_))));
    }
}
