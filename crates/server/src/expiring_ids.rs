//! A set of chat token ids, each remembered until its token expires: what single use of chat
//! tokens needs ("Each token can be used only once to establish a connection",
//! `docs/protocol/messaging.md` §1.3). A token's id is kept until the token expires (60 s),
//! after which the token is refused for being expired anyway. Used by the in-process bus's
//! redeemed set (`bus/local.rs`, the authority on one node) and by the hub's cheap first look
//! (`chat/spent.rs`).
//!
//! Memory follows the connect rate of the last minute, not its peak nor the number of
//! connections ever opened (issue 26), and is small per id: a minute at 4,000 connections/s is
//! 240,000 ids in each of the two sets.
//! * An id is kept as a 64-bit keyed hash (SipHash with this set's random key,
//!   `std::hash::RandomState`), 8 bytes and one control byte per slot of a hash table at most
//!   7/8 full: 10-21 bytes per id, where a 128-bit id with its own 64-bit expiry took 29-57.
//! * There is no expiry per id: ids are kept in one table per [`BUCKET`] of expiry times, and a
//!   table is dropped whole once the last expiry it holds has passed. Sweeping is a look at the
//!   oldest table on each insert (and by a background sweeper while no connection comes in), so
//!   it is O(1) amortised, and a burst's tables are gone (not only emptied) a minute later.
//!
//! What this costs single use: nothing an attacker can use. A token is refused as used when
//! its hash equals a remembered one's; for a token never used this happens with probability
//! n/2^64 for n ids remembered (about 10^-14 at 240,000), and only refuses that legitimate
//! token (its client gets a fresh one), never accepts a used one. The key is random per set and
//! per process and never leaves it, so nobody can craft ids that collide (nor choose ids at
//! all: the server mints them, `api/messaging.rs`). An id may be kept up to [`BUCKET`] past its
//! own expiry, while the handshake refuses its token as expired anyway.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// How often the background sweeper drops expired tables while no insert comes to do it.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// The span of expiry times that share one table.
pub const BUCKET: Duration = Duration::from_secs(5);
/// How long after its token expires an id is gone at the latest: the rest of its bucket, then
/// the next sweep.
pub const KEPT_AFTER_EXPIRY: Duration =
    Duration::from_secs(BUCKET.as_secs() + SWEEP_INTERVAL.as_secs());

const BUCKET_MICROS: i64 = BUCKET.as_micros() as i64;

#[derive(Debug)]
pub struct ExpiringIds {
    // std Mutex: never held across .await; each critical section is a few table look-ups, plus
    // dropping the tables whose ids have all expired.
    inner: Arc<Mutex<Inner>>,
    /// Ids remembered at most; when full (and none has expired) nothing new is remembered.
    limit: usize,
    /// This set's secret SipHash key (random per set and per process): see the module doc.
    key: RandomState,
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
    /// Ids the tables have room for: their memory, which must shrink again after a burst.
    pub capacity: usize,
}

/// A token id as the tables keep it: its keyed 64-bit hash (see the module doc).
type Key = u64;

/// The ids whose tokens expire within one [`BUCKET`].
#[derive(Debug)]
struct Table {
    /// `expires.div_euclid(BUCKET_MICROS)` of every id here.
    bucket: i64,
    /// The latest expiry among the ids here: the table goes once it has passed.
    last_expiry: i64,
    ids: HashSet<Key, BuildHasherDefault<KeyIsHash>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Oldest bucket first. A bucket's expiries all come before the next one's, so the tables
    /// whose ids have all expired are always at the front.
    tables: VecDeque<Table>,
    /// Ids in all tables.
    len: usize,
    /// The background sweeper runs (started by the first insert inside a tokio runtime).
    sweeper: bool,
}

impl Inner {
    fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
        inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the tables whose ids have all expired, memory and all.
    fn sweep(&mut self, now_micros: i64) {
        while let Some(oldest) = self.tables.front() {
            if oldest.last_expiry > now_micros {
                break;
            }
            self.len -= oldest.ids.len();
            self.tables.pop_front();
        }
        if self.tables.is_empty() && self.tables.capacity() > 64 {
            self.tables.shrink_to_fit();
        }
    }

    fn contains(&self, key: Key) -> bool {
        self.tables.iter().any(|table| table.ids.contains(&key))
    }

    /// The table for ids expiring at `expires_micros`, made if there is none.
    fn table_for(&mut self, expires_micros: i64) -> &mut Table {
        let bucket = expires_micros.div_euclid(BUCKET_MICROS);
        // Tokens expire a fixed time after they are minted, so it is nearly always the newest.
        let at = self
            .tables
            .iter()
            .rposition(|table| table.bucket <= bucket)
            .map_or(0, |i| i + 1);
        if at == 0 || self.tables[at - 1].bucket != bucket {
            let table = Table {
                bucket,
                last_expiry: expires_micros,
                ids: HashSet::default(),
            };
            self.tables.insert(at, table);
            return &mut self.tables[at];
        }
        &mut self.tables[at - 1]
    }
}

impl ExpiringIds {
    /// A set that remembers at most `limit` ids at a time.
    pub fn bounded(limit: usize) -> ExpiringIds {
        ExpiringIds {
            inner: Arc::default(),
            limit,
            key: RandomState::new(),
        }
    }

    /// Remembers `token_id` until `expires_micros` (or up to [`BUCKET`] later). Returns false
    /// if it is remembered already. A full set remembers nothing new and returns true.
    pub fn insert(&self, token_id: &str, expires_micros: i64, now_micros: i64) -> bool {
        let key = self.key_of(token_id);
        let mut inner = Inner::lock(&self.inner);
        inner.sweep(now_micros);
        if !inner.sweeper {
            inner.sweeper = self.start_sweeper();
        }
        if inner.contains(key) {
            return false;
        }
        if inner.len < self.limit {
            let table = inner.table_for(expires_micros);
            table.ids.insert(key);
            table.last_expiry = table.last_expiry.max(expires_micros);
            inner.len += 1;
        }
        true
    }

    /// Whether `token_id` is remembered (expired ones included until the next sweep).
    pub fn contains(&self, token_id: &str) -> bool {
        Inner::lock(&self.inner).contains(self.key_of(token_id))
    }

    /// Ids remembered now (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        Inner::lock(&self.inner).len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids the tables have room for (their memory), to check that it shrinks after a burst.
    pub fn capacity(&self) -> usize {
        Inner::lock(&self.inner)
            .tables
            .iter()
            .map(|table| table.ids.capacity())
            .sum()
    }

    pub fn held(&self) -> Held {
        Held {
            ids: self.len(),
            capacity: self.capacity(),
        }
    }

    /// The heap memory of the tables in bytes (hashbrown's layout: see [`table_bytes`]).
    pub fn table_bytes(&self) -> usize {
        Inner::lock(&self.inner)
            .tables
            .iter()
            .map(|table| table_bytes(table.ids.capacity(), size_of::<Key>()))
            .sum()
    }

    /// Drops the ids expired at `now_micros`, as the periodic sweep does.
    pub fn sweep(&self, now_micros: i64) {
        Inner::lock(&self.inner).sweep(now_micros);
    }

    fn key_of(&self, token_id: &str) -> Key {
        self.key.hash_one(token_id)
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

/// The bytes a std `HashMap`/`HashSet` (hashbrown) of `capacity` allocates for entries of
/// `entry` bytes: a power-of-two number of slots, at most 7/8 of them usable (all below 8),
/// each with its entry and one control byte, plus one SIMD group (16) of control bytes.
pub fn table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let slots = if capacity < 8 {
        capacity + 1
    } else {
        capacity / 7 * 8
    };
    slots * (entry + 1) + 16
}

/// The set's hasher for keys that are already keyed SipHash values: they are used as they
/// are, rather than hashed a second time on each of the look-ups an insert makes.
#[derive(Debug, Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    /// Not called for `u64` keys; folds anything else in rather than lose it.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
        // Once every id of its table has expired, the id may be taken again (the handshake
        // refuses its token as expired before it asks).
        assert!(r.insert(&id(7), 300, 100));
    }

    /// Ids are hashed with a key of the set's own: another set (or process) hashes them
    /// differently, so no one can compute ids that meet in a set.
    #[test]
    fn each_set_has_its_own_key() {
        let (a, b) = (ExpiringIds::default(), ExpiringIds::default());
        assert_eq!(a.key_of("token"), a.key_of("token"));
        assert_ne!(a.key_of("token"), b.key_of("token"));
        assert_ne!(a.key_of("a"), a.key_of("b"));
    }

    /// Issue 26: a minute of ids at 4,000 connections/s, in their 5 s tables, takes at most
    /// 21 bytes per id. The previous layout (a 128-bit id and its 64-bit expiry in one table,
    /// 24 bytes and a control byte per slot) took at least 25 × 8/7 = 28.6, 54 at its worst
    /// (measured in BENCHMARKS §8): the same ids in it are checked to fail this bound.
    #[test]
    fn an_id_takes_at_most_21_bytes() {
        let rate = 4_000;
        let second = 1_000_000i64;
        let r = ExpiringIds::default();
        let mut old_layout: HashMap<[u64; 2], i64> = HashMap::new();
        for i in 0..60 * rate {
            let now = i as i64 * second / rate as i64;
            let expires = now + 60 * second;
            assert!(r.insert(&id(i), expires, now));
            old_layout.insert([0, i as u64], expires);
        }
        assert_eq!(r.len(), 60 * rate);
        let per_id = |bytes: usize| bytes as f64 / (60 * rate) as f64;
        let new = per_id(r.table_bytes());
        let old = per_id(table_bytes(
            old_layout.capacity(),
            size_of::<([u64; 2], i64)>(),
        ));
        assert!(new <= 21.0, "{new:.1} bytes per id");
        assert!(old > 21.0, "{old:.1} bytes per id in the old layout");
        // And the ids of any one second of them are still refused.
        assert!(!r.insert(&id(30 * rate + 17), 100 * second, 60 * second));
    }

    /// Expired ids go at the first insert after their table's last expiry (the redeemed set
    /// used to sweep only when it had doubled since its last sweep, so it held up to twice a
    /// minute's worth of tokens; the spent set only when full).
    #[test]
    fn expired_ids_are_swept_at_the_next_insert() {
        let r = ExpiringIds::default();
        let step = BUCKET_MICROS;
        for i in 0..3000 {
            assert!(r.insert(&id(i), 10, 0));
        }
        assert_eq!(r.len(), 3000);
        // Not expired yet: nothing is swept, and an id seen is still refused.
        assert!(!r.insert(&id(5), 10, 5));
        assert!(r.insert(&id(5000), step + 100, 10));
        assert_eq!(r.len(), 1, "every expired id is gone");
    }

    /// After a burst the tables give their memory back: they are dropped, not only emptied.
    #[test]
    fn the_tables_shrink_after_a_burst() {
        let r = ExpiringIds::default();
        for i in 0..50_000 {
            r.insert(&id(i), 10 + (i as i64 % 20) * BUCKET_MICROS, 0);
        }
        let burst = r.capacity();
        assert!(burst >= 50_000);
        r.sweep(10 + 19 * BUCKET_MICROS - 1);
        assert_eq!(r.len(), 2_500, "the last bucket's ids are left");
        assert!(
            r.capacity() < 2 * 2_500,
            "{} after a burst of {burst}",
            r.capacity()
        );
        r.sweep(10 + 19 * BUCKET_MICROS);
        assert!(r.is_empty());
        assert_eq!(r.capacity(), 0, "after a burst of {burst}");
        assert_eq!(r.table_bytes(), 0);
    }

    /// Tables are kept in expiry order whatever order ids come in.
    #[test]
    fn ids_expiring_out_of_order_go_when_they_expire() {
        let r = ExpiringIds::default();
        let b = BUCKET_MICROS;
        assert!(r.insert("late", 10 * b, 0));
        assert!(r.insert("early", 2 * b, 0));
        assert!(r.insert("middle", 5 * b, 0));
        assert!(r.insert("early too", 2 * b + 1, 0));
        r.sweep(3 * b);
        assert!(!r.contains("early") && !r.contains("early too"));
        assert!(r.contains("middle") && r.contains("late"));
        r.sweep(6 * b);
        assert!(!r.contains("middle") && r.contains("late"));
        assert_eq!(r.len(), 1);
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
        assert_eq!(r.capacity(), 0);
    }
}
