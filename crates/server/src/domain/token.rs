//! Chat tokens: what CreateChatToken returns and the WebSocket handshake presents
//! (`docs/protocol/messaging.md` §1.3).
//!
//! A token is `base64url(version ‖ nonce ‖ XChaCha20-Poly1305(claims))` without padding, so it
//! is an RFC 7230 `token` that browsers accept as a WebSocket subprotocol. The associated data
//! binds it to this server's region and account, so a token minted for another deployment
//! does not open here. Changing any byte makes decryption fail. Single use is enforced where
//! tokens are redeemed (the chat handshake), not here.

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ivschat_proto::control::{ChatTokenCapability, StringMap};
use rand::RngCore;
use serde::{Deserialize, Serialize};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Longest token we bother decrypting: claims are bounded by the API's own limits
/// (user id 128, attributes ~1 KB), so anything far larger is garbage.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Room id (12 characters).
    pub room: String,
    /// The key of the account the token was minted in (`domain::account`); the handshake
    /// opens the room only in that account. Absent for the server's own account (`''`), so
    /// those tokens read exactly as before accounts existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    pub user_id: String,
    pub capabilities: Vec<ChatTokenCapability>,
    pub attributes: StringMap,
    /// Microseconds since the epoch after which the token no longer opens a connection.
    pub token_expires: i64,
    /// Microseconds since the epoch at which a connection opened with it ends.
    pub session_expires: i64,
    /// Unique per token: the key for single-use enforcement.
    pub token_id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the chat token is malformed")]
    Malformed,
    #[error("the chat token is not valid for this service")]
    Invalid,
}

/// The symmetric key that seals tokens. `Debug` does not print it.
#[derive(Clone)]
pub struct TokenKey {
    cipher: XChaCha20Poly1305,
    associated_data: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    pub fn new(key: [u8; 32], region: &str, account_id: &str) -> TokenKey {
        TokenKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
            associated_data: format!("ivschat-token-v1:{region}:{account_id}").into_bytes(),
        }
    }

    /// A key given as 64 hex characters (`--token-key`, the key file, or the cluster's keys in
    /// PostgreSQL: `token_keys.rs`).
    pub fn from_hex(hex_key: &str, region: &str, account_id: &str) -> anyhow::Result<TokenKey> {
        Ok(TokenKey::new(parse_key(hex_key)?, region, account_id))
    }

    pub fn seal(&self, claims: &TokenClaims) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Serialising plain strings and integers cannot fail; encrypting cannot fail for
        // inputs under 256 GiB.
        let plaintext = serde_json::to_vec(claims).unwrap_or_default();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &self.associated_data,
                },
            )
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decrypts and authenticates a token. Expiry and single use are the caller's checks.
    pub fn open(&self, token: &str) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() < 1 + NONCE_LEN + 16 || bytes[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let (nonce, sealed) = bytes[1..].split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &self.associated_data,
                },
            )
            .map_err(|_| TokenError::Invalid)?;
        serde_json::from_slice(&plaintext).map_err(|_| TokenError::Invalid)
    }
}

fn parse_key(hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).context("the token key must be hexadecimal")?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the token key must be 32 bytes (64 hex characters)"))?;
    Ok(key)
}

/// A new random key as 64 hex characters.
pub fn random_key_hex() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    hex::encode(key)
}

/// Total size of attributes as the API counts it: bytes of every key and value.
pub fn attributes_size(attributes: &StringMap) -> usize {
    attributes.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// "Attributes … maximum length 1 KB total" (CreateChatToken, SendEvent).
pub const MAX_ATTRIBUTES_BYTES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TokenClaims {
        TokenClaims {
            room: "g1H2I3j4k5L6".into(),
            account: String::new(),
            user_id: "user-1 ✓".into(),
            capabilities: vec![ChatTokenCapability::SendMessage],
            attributes: [("displayName".to_string(), "sam".to_string())].into(),
            token_expires: 60_000_000,
            session_expires: 3_600_000_000,
            token_id: "abc".into(),
        }
    }

    fn key() -> TokenKey {
        TokenKey::new([7u8; 32], "us-east-1", "000000000000")
    }

    #[test]
    fn round_trips_and_uses_only_tchar() {
        let token = key().seal(&claims());
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(key().open(&token).unwrap(), claims());
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let token = key().seal(&claims());
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert!(
                key().open(&URL_SAFE_NO_PAD.encode(&bad)).is_err(),
                "byte {i}"
            );
        }
        assert_eq!(key().open("not base64!"), Err(TokenError::Malformed));
        assert_eq!(key().open(""), Err(TokenError::Malformed));
    }

    /// The server's own account's claims serialise as before accounts existed; another
    /// account's carry it.
    #[test]
    fn the_account_claim_is_kept_and_absent_for_the_server_account() {
        let json = serde_json::to_string(&claims()).unwrap();
        assert!(!json.contains("account"), "{json}");
        let mut other = claims();
        other.account = "111111111111".into();
        assert_eq!(key().open(&key().seal(&other)).unwrap(), other);
    }

    #[test]
    fn foreign_keys_and_scopes_are_refused() {
        let token = key().seal(&claims());
        let other_key = TokenKey::new([8u8; 32], "us-east-1", "000000000000");
        let other_account = TokenKey::new([7u8; 32], "us-east-1", "111111111111");
        assert_eq!(other_key.open(&token), Err(TokenError::Invalid));
        assert_eq!(other_account.open(&token), Err(TokenError::Invalid));
    }
}
