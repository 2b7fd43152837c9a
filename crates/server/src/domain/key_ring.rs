//! The chat-token keys a node holds at once, and the rules of rotating them, free of I/O
//! (`token_keys.rs` loads, polls and stores them).
//!
//! A key is a [`StoredKey`]: its generation, the time from which it seals new tokens
//! (`activate_micros`) and the time from which it opens none (`retire_micros`, unset while it
//! is current). Rotation ([`plan_rotation`]) adds a key that seals from
//! [`ACTIVATION_DELAY`] later and retires every earlier key [`OVERLAP`] after that:
//!
//! * for the activation delay the new key only **opens** tokens: every node of a cluster learns
//!   of it (they poll every `token_keys::POLL_EVERY`, well within the delay) before any node
//!   seals with it, so a token a node mints with the new key opens on every other node;
//! * the previous key keeps opening tokens for the [`OVERLAP`] after the new one starts sealing:
//!   a token lives 60 s (`docs/protocol/messaging.md` §1.3), so every token sealed with it
//!   before the switch has expired by the time it is retired.
//!
//! [`KeyRing`] is the set a node uses at one moment: it seals with the newest active key and
//! opens with any key not yet retired. Times are microseconds since the epoch, from the node's
//! clock (`Clock`), so tests move them instead of waiting.

use std::time::Duration;

use super::token::{TokenClaims, TokenError, TokenKey};

/// How long a new key only opens tokens before it seals them (see the module documentation).
pub const ACTIVATION_DELAY: Duration = Duration::from_secs(10);
/// How long a replaced key still opens tokens once its successor seals: a token's lifetime.
pub const OVERLAP: Duration = Duration::from_secs(60);

/// `activate_micros` of a key that opens tokens but never seals one (`--accept-token-key`).
pub const NEVER: i64 = i64::MAX;

/// One key as a store (PostgreSQL, or the key file) keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// 1 for the first key, one more for each rotation.
    pub generation: i64,
    /// 64 hex characters.
    pub key_hex: String,
    /// Seals new tokens from this time on (µs since the epoch).
    pub activate_micros: i64,
    /// Opens no token from this time on; `None` while no later key has replaced it.
    pub retire_micros: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("generation", &self.generation)
            .field("key_hex", &"<redacted>")
            .field("activate_micros", &self.activate_micros)
            .field("retire_micros", &self.retire_micros)
            .finish()
    }
}

impl StoredKey {
    /// The first key of a cluster or data directory: seals from the start, never retired.
    pub fn first(key_hex: String) -> StoredKey {
        StoredKey {
            generation: 1,
            key_hex,
            activate_micros: 0,
            retire_micros: None,
        }
    }

    fn is_retired_at(&self, now: i64) -> bool {
        self.retire_micros.is_some_and(|retire| now >= retire)
    }
}

/// What a rotation changes, for a store to write in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Every key after the rotation (the retired ones left out), oldest generation first.
    pub keys: Vec<StoredKey>,
    /// Generations retired before `now`: to delete.
    pub removed: Vec<i64>,
    /// The new key (also the last of `keys`).
    pub added: StoredKey,
}

/// Adds `new_key_hex` as the next generation at `now`: it seals from `now +`
/// [`ACTIVATION_DELAY`], and each key not yet replaced is retired [`OVERLAP`] after that.
pub fn plan_rotation(existing: &[StoredKey], new_key_hex: String, now: i64) -> Rotation {
    let activate = now.saturating_add(micros(ACTIVATION_DELAY));
    let retire = activate.saturating_add(micros(OVERLAP));
    let mut keys = Vec::new();
    let mut removed = Vec::new();
    for key in existing {
        if key.is_retired_at(now) {
            removed.push(key.generation);
            continue;
        }
        let mut key = key.clone();
        key.retire_micros.get_or_insert(retire);
        keys.push(key);
    }
    keys.sort_by_key(|k| k.generation);
    let generation = existing.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
    let added = StoredKey {
        generation,
        key_hex: new_key_hex,
        activate_micros: activate,
        retire_micros: None,
    };
    keys.push(added.clone());
    Rotation {
        keys,
        removed,
        added,
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// One key of a ring, ready to use.
#[derive(Debug, Clone)]
struct RingKey {
    key: TokenKey,
    generation: i64,
    activate_micros: i64,
    retire_micros: Option<i64>,
}

/// The keys one node seals and opens chat tokens with (see the module documentation).
#[derive(Debug, Clone)]
pub struct KeyRing {
    /// Newest first: sealing takes the first active one, opening tries them in turn.
    keys: Vec<RingKey>,
}

impl KeyRing {
    /// The ring of `stored` keys for this region and account; fails on a malformed key or an
    /// empty list.
    pub fn new(stored: &[StoredKey], region: &str, account_id: &str) -> anyhow::Result<KeyRing> {
        if stored.is_empty() {
            anyhow::bail!("no chat-token key");
        }
        let mut keys = stored
            .iter()
            .map(|k| {
                Ok(RingKey {
                    key: TokenKey::from_hex(&k.key_hex, region, account_id).map_err(|e| {
                        anyhow::anyhow!("chat-token key generation {}: {e:#}", k.generation)
                    })?,
                    generation: k.generation,
                    activate_micros: k.activate_micros,
                    retire_micros: k.retire_micros,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        keys.sort_by_key(|k| std::cmp::Reverse((k.activate_micros, k.generation)));
        Ok(KeyRing { keys })
    }

    /// A ring of one key that never changes (`--token-key`, and tests).
    pub fn single(key: TokenKey) -> KeyRing {
        KeyRing {
            keys: vec![RingKey {
                key,
                generation: 1,
                activate_micros: 0,
                retire_micros: None,
            }],
        }
    }

    /// The key that seals at `now`: the most recently activated one still in use. (If every
    /// key is yet to activate, which only a clock set back could cause, the earliest.)
    fn sealing_key(&self, now: i64) -> &RingKey {
        let usable = |k: &&RingKey| k.activate_micros != NEVER && !retired(k, now);
        self.keys
            .iter()
            .filter(usable)
            .find(|k| k.activate_micros <= now)
            .or_else(|| self.keys.iter().rfind(|k| usable(k)))
            .unwrap_or(&self.keys[0])
    }

    /// The generation that seals at `now` (logged when it changes).
    pub fn sealing_generation(&self, now: i64) -> i64 {
        self.sealing_key(now).generation
    }

    pub fn seal(&self, claims: &TokenClaims, now: i64) -> String {
        self.sealing_key(now).key.seal(claims)
    }

    /// Opens a token sealed with any key not retired at `now`. Expiry and single use are the
    /// caller's checks.
    pub fn open(&self, token: &str, now: i64) -> Result<TokenClaims, TokenError> {
        let mut outcome = Err(TokenError::Invalid);
        for key in self.keys.iter().filter(|k| !retired(k, now)) {
            match key.key.open(token) {
                Ok(claims) => return Ok(claims),
                // Malformed is the same for every key: no need to try the others.
                Err(TokenError::Malformed) => return Err(TokenError::Malformed),
                Err(e) => outcome = Err(e),
            }
        }
        outcome
    }
}

fn retired(key: &RingKey, now: i64) -> bool {
    key.retire_micros.is_some_and(|retire| now >= retire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivschat_proto::control::ChatTokenCapability;

    const S: i64 = 1_000_000;

    fn claims() -> TokenClaims {
        TokenClaims {
            room: "g1H2I3j4k5L6".into(),
            account: String::new(),
            user_id: "u".into(),
            capabilities: vec![ChatTokenCapability::SendMessage],
            attributes: Default::default(),
            token_expires: 60 * S,
            session_expires: 3600 * S,
            token_id: "abc".into(),
        }
    }

    fn hex_of(byte: u8) -> String {
        hex::encode([byte; 32])
    }

    fn ring(keys: &[StoredKey]) -> KeyRing {
        KeyRing::new(keys, "us-east-1", "000000000000").unwrap()
    }

    fn only(byte: u8) -> KeyRing {
        ring(&[StoredKey::first(hex_of(byte))])
    }

    #[test]
    fn a_rotation_opens_at_once_seals_after_the_delay_and_retires_the_old_key_after_the_overlap() {
        let t = 1_000 * S;
        let first = [StoredKey::first(hex_of(1))];
        let rotation = plan_rotation(&first, hex_of(2), t);
        assert_eq!(rotation.added.generation, 2);
        assert_eq!(rotation.added.activate_micros, t + 10 * S);
        assert_eq!(rotation.keys[0].retire_micros, Some(t + 70 * S));
        assert!(rotation.removed.is_empty());
        let after = ring(&rotation.keys);

        // Before activation: the old key seals, and a token of the new key already opens.
        let old_token = after.seal(&claims(), t + 9 * S);
        assert!(only(1).open(&old_token, 0).is_ok());
        assert!(after.open(&only(2).seal(&claims(), 0), t).is_ok());
        // From activation: the new key seals; the old one still opens until retired.
        let new_token = after.seal(&claims(), t + 10 * S);
        assert!(only(2).open(&new_token, 0).is_ok());
        assert_eq!(after.sealing_generation(t + 10 * S), 2);
        assert!(after.open(&old_token, t + 70 * S - 1).is_ok());
        assert_eq!(after.open(&old_token, t + 70 * S), Err(TokenError::Invalid));
        assert!(after.open(&new_token, t + 1_000 * S).is_ok());
    }

    #[test]
    fn rotating_again_drops_retired_keys_and_keeps_what_may_still_be_in_use() {
        let t = 1_000 * S;
        let once = plan_rotation(&[StoredKey::first(hex_of(1))], hex_of(2), t);
        // A second rotation within the first one's delay: generation 2 may seal for a moment,
        // so it too stays open for the overlap after generation 3 starts sealing.
        let twice = plan_rotation(&once.keys, hex_of(3), t + 5 * S);
        assert_eq!(
            twice
                .keys
                .iter()
                .map(|k| (k.generation, k.retire_micros))
                .collect::<Vec<_>>(),
            [(1, Some(t + 70 * S)), (2, Some(t + 75 * S)), (3, None)]
        );
        // Much later: generations 1 and 2 are retired and go.
        let later = plan_rotation(&twice.keys, hex_of(4), t + 1_000 * S);
        assert_eq!(later.removed, [1, 2]);
        assert_eq!(
            later.keys.iter().map(|k| k.generation).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    #[test]
    fn an_accepted_key_opens_but_never_seals() {
        let keys = [
            StoredKey::first(hex_of(1)),
            StoredKey {
                generation: 2,
                key_hex: hex_of(2),
                activate_micros: NEVER,
                retire_micros: None,
            },
        ];
        let both = ring(&keys);
        assert_eq!(both.sealing_generation(i64::MAX - 1), 1);
        assert!(both.open(&only(2).seal(&claims(), 0), 5).is_ok());
        assert!(both.open(&only(1).seal(&claims(), 0), 5).is_ok());
        assert_eq!(
            both.open(&only(3).seal(&claims(), 0), 5),
            Err(TokenError::Invalid)
        );
        assert_eq!(both.open("!", 5), Err(TokenError::Malformed));
    }

    #[test]
    fn keys_are_never_printed() {
        let key = StoredKey::first(hex_of(0xab));
        assert!(!format!("{key:?}").contains("abab"));
        assert!(KeyRing::new(&[], "r", "a").is_err());
    }
}
