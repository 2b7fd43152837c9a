//! Chat tokens this node has seen redeemed, so that replaying one is refused before the
//! handshake reads the store, joins the room or asks the bus (`docs/protocol/messaging.md`
//! §1: a token opens one connection). The bus's redeemed set stays the authority across nodes;
//! this is only a cheap first look. An entry lives until its token expires (60 s), and the set
//! is bounded: when full, expired entries go, and if none has, nothing new is remembered (the
//! bus still refuses the replay, at the old cost).

use std::collections::HashMap;
use std::sync::Mutex;

/// Tokens remembered at most (about 100 bytes each).
const MAX_SPENT: usize = 100_000;

#[derive(Debug, Default)]
pub struct SpentTokens {
    // std Mutex: never held across .await; each section is one map operation (or a prune).
    expires_by_id: Mutex<HashMap<String, i64>>,
}

impl SpentTokens {
    /// Whether the token is known to be used already (and not yet expired, after which the
    /// handshake refuses it anyway).
    pub fn contains(&self, token_id: &str) -> bool {
        self.lock().contains_key(token_id)
    }

    /// Remembers a redeemed token until `expires` (µs); `now` prunes expired ones when full.
    pub fn insert(&self, token_id: &str, expires: i64, now: i64) {
        let mut spent = self.lock();
        if spent.len() >= MAX_SPENT {
            spent.retain(|_, expires| *expires > now);
            if spent.len() >= MAX_SPENT {
                return;
            }
        }
        spent.insert(token_id.to_string(), expires);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.expires_by_id.lock().unwrap_or_else(|e| e.into_inner())
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
