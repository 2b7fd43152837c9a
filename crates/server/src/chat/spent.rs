//! Chat tokens this node has seen redeemed, so that replaying one is refused before the
//! handshake reads the store, joins the room or asks the bus (`docs/protocol/messaging.md`
//! §1: a token opens one connection). The bus's redeemed set stays the authority across nodes;
//! this is only a cheap first look. An entry lives until its token expires (60 s) and is swept
//! within a few seconds after (`expiring_ids.rs`), and the set is bounded: when full, expired
//! entries go, and if none has, nothing new is remembered (the bus still refuses the replay,
//! at the old cost).

use crate::expiring_ids::{ExpiringIds, Held};

/// Tokens remembered at most (a 64-bit keyed hash each, in tables of 5 s of expiries).
const MAX_SPENT: usize = 100_000;

#[derive(Debug)]
pub struct SpentTokens {
    /// Swept every few seconds and shrunk after a burst (`expiring_ids.rs`, issue 26).
    ids: ExpiringIds,
}

impl Default for SpentTokens {
    fn default() -> SpentTokens {
        SpentTokens {
            ids: ExpiringIds::bounded(MAX_SPENT),
        }
    }
}

impl SpentTokens {
    /// Whether the token is known to be used already (and not yet expired, after which the
    /// handshake refuses it anyway).
    pub fn contains(&self, token_id: &str) -> bool {
        self.ids.contains(token_id)
    }

    /// Remembers a redeemed token until `expires` (µs); `now` prunes expired ones.
    pub fn insert(&self, token_id: &str, expires: i64, now: i64) {
        self.ids.insert(token_id, expires, now);
    }

    /// What the set holds now.
    pub fn held(&self) -> Held {
        self.ids.held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_full_then_drops_expired_ones() {
        let spent = SpentTokens::default();
        for n in 0..MAX_SPENT {
            spent.insert(&n.to_string(), 10, 0);
        }
        assert!(spent.contains("0"));
        // Full, nothing expired: not remembered.
        spent.insert("new", 10, 5);
        assert!(!spent.contains("new"));
        // Full, everything expired: pruned, then remembered.
        spent.insert("new", 30, 20);
        assert!(spent.contains("new") && !spent.contains("0"));
    }
}
