//! What the server knows about its callers: access keys, their secrets and session tokens.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use subtle::ConstantTimeEq;

/// A secret (a secret access key or a session token).
///
/// `Debug` and `Display` print `<redacted>`, so a `Credential` can be logged. There is no
/// `PartialEq`: the only comparison this crate makes is constant time, inside [`crate::verify`].
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for key derivation. Never log or format it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with bytes taken from a request (e.g. `X-Amz-Security-Token`).
    pub(crate) fn ct_matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the server knows about one access key.
#[derive(Clone, Debug)]
pub struct Credential {
    pub access_key_id: String,
    pub secret: SecretKey,
    /// When set, every request made with this key must carry exactly this
    /// `X-Amz-Security-Token` (as temporary STS credentials do). When unset, a token sent by the
    /// client is not checked (it is still covered by the signature if the client signed it).
    pub session_token: Option<SecretKey>,
}

impl Credential {
    /// A long-term key without a session token.
    pub fn new(access_key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret: SecretKey::new(secret),
            session_token: None,
        }
    }

    /// Requires `token` as the `X-Amz-Security-Token` of every request made with this key.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(SecretKey::new(token));
        self
    }
}

/// Looks up credentials by access key id.
///
/// Access key ids are not secret, so implementations may compare them with `==`.
pub trait CredentialStore {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential>;
}

/// Keyed by access key id (the key must equal `Credential::access_key_id`).
impl<S: BuildHasher> CredentialStore for HashMap<String, Credential, S> {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.get(access_key_id)
    }
}

/// Keyed by access key id (the key must equal `Credential::access_key_id`).
impl CredentialStore for BTreeMap<String, Credential> {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.get(access_key_id)
    }
}

/// A linear scan; fine for the handful of keys a test or a small deployment has.
impl CredentialStore for [Credential] {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.iter().find(|c| c.access_key_id == access_key_id)
    }
}

impl CredentialStore for Vec<Credential> {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.as_slice().lookup(access_key_id)
    }
}

/// A single credential is a store of one.
impl CredentialStore for Credential {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        (self.access_key_id == access_key_id).then_some(self)
    }
}

impl<T: CredentialStore + ?Sized> CredentialStore for &T {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        (**self).lookup(access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let c = Credential::new("AKID", "very-secret").with_session_token("tok-secret");
        let debug = format!("{c:?}");
        assert!(debug.contains("AKID"));
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(!debug.contains("tok-secret"), "{debug}");
        assert_eq!(c.secret.to_string(), "<redacted>");
    }

    #[test]
    fn stores_find_by_access_key_id() {
        let a = Credential::new("A", "s");
        let b = Credential::new("B", "s");
        let v = vec![a.clone(), b.clone()];
        assert_eq!(v.lookup("B").unwrap().access_key_id, "B");
        assert!(v.lookup("C").is_none());
        let m: HashMap<String, Credential> = [("A".to_string(), a.clone())].into();
        assert!(m.lookup("A").is_some());
        assert!(a.lookup("A").is_some());
        assert!(a.lookup("B").is_none());
    }

    #[test]
    fn ct_matches_compares_whole_values() {
        let s = SecretKey::new("abc");
        assert!(s.ct_matches(b"abc"));
        assert!(!s.ct_matches(b"ab"));
        assert!(!s.ct_matches(b"abd"));
        assert!(!s.ct_matches(b""));
    }
}
