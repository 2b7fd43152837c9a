//! A set of chat token ids, each remembered until its token expires: what single use of chat
//! tokens needs ("Each token can be used only once to establish a connection",
//! `docs/protocol/messaging.md` §1.3). A token's id is kept until the token expires (60 s),
//! after which the token is refused for being expired anyway. Used by the in-process bus's
//! redeemed set (`bus/local.rs`, the authority on one node) and by the hub's cheap first look
//! (`chat/spent.rs`).
//!
//! Memory follows the connect rate of the last minute, not its peak nor the number of
//! connections ever opened (issue 26): expired ids are swept every [`SWEEP_INTERVAL`] (on the
//! next insert, and by a background sweeper while no connection comes in), and the table gives
//! its memory back once it is mostly empty. Ids are kept as 128-bit numbers, not strings: no
//! allocation per token, which would otherwise be scattered for a minute among the
//! connections' own short-lived allocations and keep their pages from being returned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// How often expired ids are dropped. Entries live at most a token's 60 s plus this.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// The table is not shrunk below room for this many ids (small tables are not worth it).
pub const MIN_CAPACITY: usize = 1024;

#[derive(Debug)]
pub struct ExpiringIds {
    // std Mutex: never held across .await; each critical section is a map operation, plus a
    // sweep of expired entries every SWEEP_INTERVAL.
    inner: Arc<Mutex<Inner>>,
    /// Ids remembered at most; when full (and none has expired) nothing new is remembered.
    limit: usize,
}

impl Default for ExpiringIds {
    fn default() -> ExpiringIds {
        ExpiringIds::bounded(usize::MAX)
    }
}

/// What a set holds, for tests that check it empties and shrinks (`introspect.rs`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Ids remembered.
    pub ids: usize,
    /// Ids the table has room for: its memory, which must shrink again after a burst.
    pub capacity: usize,
}

/// A token id as the table keeps it: 128 bits as two words, so that an entry (with its
/// expiry) takes 24 bytes, where a `u128` key's 16-byte alignment would pad it to 32.
type Key = [u64; 2];

#[derive(Debug, Default)]
struct Inner {
    /// token id (see [`key_of`]) → expiry (µs since the epoch)
    seen: HashMap<Key, i64>,
    /// When the next sweep is due (µs since the epoch, the caller's clock).
    next_sweep: i64,
    /// The background sweeper runs (started by the first insert inside a tokio runtime).
    sweeper: bool,
}

impl Inner {
    fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
        inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops expired ids; gives memory back when the table is less than a quarter full, so a
    /// burst's table does not stay after the burst (halving it at a time keeps this amortised
    /// O(1) per insert).
    fn sweep(&mut self, now_micros: i64) {
        self.seen.retain(|_, expires| *expires > now_micros);
        let keep = (self.seen.len() * 2).max(MIN_CAPACITY);
        if self.seen.capacity() > 2 * keep {
            self.seen.shrink_to(keep);
        }
        self.next_sweep = now_micros.saturating_add(SWEEP_INTERVAL.as_micros() as i64);
    }
}

impl ExpiringIds {
    /// A set that remembers at most `limit` ids at a time.
    pub fn bounded(limit: usize) -> ExpiringIds {
        ExpiringIds {
            inner: Arc::default(),
            limit,
        }
    }

    /// Remembers `token_id` until `expires_micros`. Returns false if it was remembered
    /// already (and has not expired). A full set remembers nothing new and returns true.
    pub fn insert(&self, token_id: &str, expires_micros: i64, now_micros: i64) -> bool {
        let key = key_of(token_id);
        let mut inner = Inner::lock(&self.inner);
        if now_micros >= inner.next_sweep {
            inner.sweep(now_micros);
        }
        if !inner.sweeper {
            inner.sweeper = self.start_sweeper();
        }
        match inner.seen.get(&key) {
            Some(expires) if *expires > now_micros => false,
            _ => {
                if inner.seen.len() >= self.limit {
                    inner.sweep(now_micros);
                }
                if inner.seen.len() < self.limit {
                    inner.seen.insert(key, expires_micros);
                }
                true
            }
        }
    }

    /// Whether `token_id` is remembered (expired ones included until the next sweep).
    pub fn contains(&self, token_id: &str) -> bool {
        Inner::lock(&self.inner)
            .seen
            .contains_key(&key_of(token_id))
    }

    /// Ids remembered now (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        Inner::lock(&self.inner).seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids the table has room for (its memory), to check that it shrinks after a burst.
    pub fn capacity(&self) -> usize {
        Inner::lock(&self.inner).seen.capacity()
    }

    pub fn held(&self) -> Held {
        let inner = Inner::lock(&self.inner);
        Held {
            ids: inner.seen.len(),
            capacity: inner.seen.capacity(),
        }
    }

    /// Drops the ids expired at `now_micros`, as the periodic sweep does.
    pub fn sweep(&self, now_micros: i64) {
        Inner::lock(&self.inner).sweep(now_micros);
    }

    /// Sweeps every [`SWEEP_INTERVAL`] while the set exists, so that ids go away while no
    /// connection comes in to sweep them. False outside a tokio runtime (unit tests).
    ///
    /// It sweeps by the system clock. The server's clock never runs behind it (tests only
    /// advance it), so an id this removes has expired by the server's clock too: a token is
    /// never accepted twice because of it.
    fn start_sweeper(&self) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let inner: Weak<Mutex<Inner>> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let now = crate::domain::clock::to_micros(time::OffsetDateTime::now_utc());
                Inner::lock(&inner).sweep(now);
            }
        });
        true
    }
}

/// The map key of a token id. Ids are a UUID's 32 lowercase hex digits (`api/messaging.rs`),
/// which are its 128 bits exactly; any other id (none is issued) is hashed to 128 bits with
/// SHA-256, where a collision is out of reach.
fn key_of(token_id: &str) -> Key {
    let value = value_of(token_id);
    [(value >> 64) as u64, value as u64]
}

fn value_of(token_id: &str) -> u128 {
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if token_id.len() == 32 && token_id.bytes().all(lower_hex) {
        if let Ok(value) = u128::from_str_radix(token_id, 16) {
            return value;
        }
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: usize) -> String {
        format!("{i:032x}")
    }

    #[test]
    fn an_id_is_taken_once_until_it_expires() {
        let r = ExpiringIds::default();
        assert!(r.insert("a", 100, 0));
        assert!(!r.insert("a", 100, 50));
        assert!(r.insert("b", 100, 50));
        assert!(r.insert(&id(7), 100, 50));
        assert!(!r.insert(&id(7), 100, 60));
        assert!(r.contains(&id(7)) && !r.contains(&id(8)));
    }

    /// An entry is the id's 16 bytes and the expiry's 8, with no padding.
    #[test]
    fn an_entry_takes_24_bytes() {
        assert_eq!(std::mem::size_of::<(Key, i64)>(), 24);
    }

    #[test]
    fn ids_map_to_distinct_keys() {
        assert_eq!(key_of(&id(0xabc)), [0, 0xabc]);
        assert_eq!(key_of(&format!("{:016x}{:016x}", 7, 0xabc)), [7, 0xabc]);
        // Not the 32-lowercase-hex form: hashed, so no other spelling meets the same key.
        assert_ne!(key_of(&format!("{:032X}", 0xabc)), [0, 0xabc]);
        assert_ne!(key_of(&format!("+{:031x}", 0xabc)), [0, 0xabc]);
        assert_ne!(key_of("a"), key_of("b"));
    }

    /// Expired ids go at the next sweep, due every SWEEP_INTERVAL, whatever the table's size
    /// (the redeemed set used to sweep only when it had doubled since its last sweep, so it
    /// held up to twice a minute's worth of tokens; the spent set only when full).
    #[test]
    fn expired_ids_are_swept_every_interval() {
        let r = ExpiringIds::default();
        let step = SWEEP_INTERVAL.as_micros() as i64;
        for i in 0..3000 {
            assert!(r.insert(&id(i), 10, 0));
        }
        assert_eq!(r.len(), 3000);
        // Not due yet: nothing is swept, and an id seen is still refused.
        assert!(!r.insert(&id(5), 10, 5));
        assert!(r.insert(&id(5000), step + 100, step));
        assert_eq!(r.len(), 1, "every expired id is gone");
    }

    /// After a burst the table gives its memory back.
    #[test]
    fn the_table_shrinks_after_a_burst() {
        let r = ExpiringIds::default();
        for i in 0..50_000 {
            r.insert(&id(i), 10, 0);
        }
        let burst = r.capacity();
        assert!(burst >= 50_000);
        r.sweep(20);
        assert!(r.is_empty());
        assert!(
            r.capacity() <= 2 * MIN_CAPACITY,
            "{} after a burst of {burst}",
            r.capacity()
        );
    }

    /// A bounded set: when full, expired ids go; if none has, nothing new is remembered.
    #[test]
    fn a_full_set_drops_expired_ids_or_remembers_nothing_new() {
        let r = ExpiringIds::bounded(100);
        for i in 0..100 {
            r.insert(&id(i), 10, 0);
        }
        assert!(r.insert(&id(1000), 30, 5));
        assert!(!r.contains(&id(1000)) && r.contains(&id(0)));
        assert!(r.insert(&id(1000), 30, 20));
        assert!(r.contains(&id(1000)) && !r.contains(&id(0)));
    }

    /// With no connection coming in, the background sweeper still empties the set.
    #[tokio::test(start_paused = true)]
    async fn the_sweeper_empties_the_set_while_nothing_comes_in() {
        let r = ExpiringIds::default();
        let now = crate::domain::clock::to_micros(time::OffsetDateTime::now_utc());
        for i in 0..5000 {
            // Expired by the system clock already (the sweeper's clock), not by the caller's.
            assert!(r.insert(&id(i), now - 1, now - 1_000));
        }
        assert_eq!(r.len(), 5000);
        // Paused time jumps to the sweeper's next tick, then to this deadline.
        tokio::time::sleep(SWEEP_INTERVAL * 2).await;
        assert!(r.is_empty());
        assert!(r.capacity() <= 2 * MIN_CAPACITY);
    }
}
