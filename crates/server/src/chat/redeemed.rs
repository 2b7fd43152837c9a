//! Single use of chat tokens: "Each token can be used only once to establish a connection"
//! (`docs/protocol/messaging.md` §1.3). A token's id is remembered until the token expires (60 s),
//! after which the token is refused for being expired anyway, so memory stays bounded by the
//! connection rate × 60 s.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct RedeemedTokens {
    // std Mutex: never held across .await; each critical section is a map insert, plus an
    // occasional sweep of expired entries.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// token id → expiry (µs since the epoch)
    seen: HashMap<String, i64>,
    /// Sweep expired entries when the map reaches this size (amortised O(1) per insert).
    sweep_at: usize,
}

impl RedeemedTokens {
    /// Records `token_id` as used. Returns false if it was used before.
    pub fn redeem(&self, token_id: &str, expires_micros: i64, now_micros: i64) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.seen.len() >= inner.sweep_at {
            inner.seen.retain(|_, expires| *expires > now_micros);
            inner.sweep_at = (inner.seen.len() * 2).max(1024);
        }
        let seen = &mut inner.seen;
        match seen.get(token_id) {
            Some(expires) if *expires > now_micros => false,
            _ => {
                seen.insert(token_id.to_string(), expires_micros);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_one_connection() {
        let r = RedeemedTokens::default();
        assert!(r.redeem("a", 100, 0));
        assert!(!r.redeem("a", 100, 50));
        assert!(r.redeem("b", 100, 50));
    }

    #[test]
    fn expired_entries_are_swept() {
        let r = RedeemedTokens::default();
        for i in 0..3000 {
            assert!(r.redeem(&format!("early{i}"), 10, 0));
        }
        for i in 0..2000 {
            assert!(r.redeem(&format!("late{i}"), 100, 20));
        }
        assert!(r.inner.lock().unwrap().seen.len() < 5000);
    }
}
