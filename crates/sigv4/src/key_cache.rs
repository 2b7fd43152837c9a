//! Derived signing keys, kept between requests.
//!
//! The signing key `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service),
//! "aws4_request")` depends only on the secret and the credential scope, which change once a
//! day per access key. Deriving it is four HMAC-SHA256 computations (16 SHA-256 blocks), more
//! than the rest of a verification's hashing together (the payload hash, the canonical
//! request hash and the signature are about 6 blocks for a small request), so a server that
//! sees many requests derives each key once and reuses it ([`crate::verify_with_cache`]).
//!
//! Nothing about the comparison changes: the signature computed with the cached key is still
//! compared with the client's in constant time. An entry is used only if the secret it was
//! derived from equals (constant-time) the credential's current secret, so a cache shared
//! across credential stores, or kept across a secret rotation, can never accept a signature
//! made with an old secret.

use std::collections::HashMap;
use std::sync::Mutex;

use subtle::ConstantTimeEq;

use crate::credentials::SecretKey;
use crate::signing;

/// Entries kept at most; when full the cache starts over. Keys are per access key and day,
/// so this is far more than a deployment uses at once.
const CAPACITY: usize = 256;

/// A cache of derived SigV4 signing keys, keyed by access key id and credential scope.
///
/// Cheap to share between threads (one short lock per verification).
#[derive(Default)]
pub struct SigningKeyCache {
    keys: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The secret the key was derived from.
    secret: SecretKey,
    key: [u8; 32],
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.keys.lock().map_or(0, |k| k.len());
        f.debug_struct("SigningKeyCache")
            .field("entries", &len)
            .finish_non_exhaustive()
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signing key for `secret` in scope `date/region/service`, derived on first use.
    pub(crate) fn signing_key(
        &self,
        access_key_id: &str,
        secret: &SecretKey,
        date: &str,
        region: &str,
        service: &str,
    ) -> [u8; 32] {
        let mut id = String::with_capacity(
            access_key_id.len() + date.len() + region.len() + service.len() + 3,
        );
        for (i, part) in [access_key_id, date, region, service]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                id.push('/');
            }
            id.push_str(part);
        }
        // Never held across anything but a lookup; a poisoned lock only means another thread
        // panicked mid-insert, which leaves the map valid.
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = keys.get(&id) {
            if bool::from(
                entry
                    .secret
                    .expose()
                    .as_bytes()
                    .ct_eq(secret.expose().as_bytes()),
            ) {
                return entry.key;
            }
        }
        drop(keys);
        let key = signing::signing_key(secret, date, region, service);
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        keys.insert(
            id,
            Entry {
                secret: secret.clone(),
                key,
            },
        );
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_keys_equal_derived_ones_and_follow_the_secret() {
        let cache = SigningKeyCache::new();
        let s1 = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let s2 = SecretKey::new("another secret");
        let want = signing::signing_key(&s1, "20150830", "us-east-1", "iam");
        assert_eq!(
            cache.signing_key("AK", &s1, "20150830", "us-east-1", "iam"),
            want
        );
        // A hit.
        assert_eq!(
            cache.signing_key("AK", &s1, "20150830", "us-east-1", "iam"),
            want
        );
        // Same access key and scope, another secret (rotation): derived again, not reused.
        assert_eq!(
            cache.signing_key("AK", &s2, "20150830", "us-east-1", "iam"),
            signing::signing_key(&s2, "20150830", "us-east-1", "iam")
        );
        // Another day.
        assert_eq!(
            cache.signing_key("AK", &s1, "20150831", "us-east-1", "iam"),
            signing::signing_key(&s1, "20150831", "us-east-1", "iam")
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = SigningKeyCache::new();
        let s = SecretKey::new("s");
        for i in 0..=CAPACITY {
            cache.signing_key(&format!("AK{i}"), &s, "20150830", "us-east-1", "iam");
        }
        assert_eq!(cache.keys.lock().unwrap().len(), 1);
    }
}
