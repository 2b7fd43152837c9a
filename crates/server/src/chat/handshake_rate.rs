//! The per-address rate of chat WebSocket upgrade attempts (`[limits]
//! handshakes_per_second`, `handshake_burst`): each client address has a token bucket, and an
//! attempt without a token is answered 429 before anything else is looked at.
//!
//! The table stays bounded: a bucket that has refilled is the same as no bucket, so when the
//! table reaches [`MAX_ADDRESSES`] the full ones are dropped; if every one is still in use
//! (an attacker with many addresses), the table is cleared, which only forgives, never
//! refuses an address that did nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::token_bucket::TokenBucket;

/// Addresses tracked at most; a few MB at worst.
const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug)]
pub struct HandshakeRate {
    per_second: u32,
    burst: u32,
    // std Mutex: never held across .await; each section is one map operation (or a prune).
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
    max_addresses: usize,
}

impl HandshakeRate {
    /// `per_second == 0` means no limit.
    pub fn new(per_second: u32, burst: u32) -> HandshakeRate {
        HandshakeRate::bounded(per_second, burst, MAX_ADDRESSES)
    }

    fn bounded(per_second: u32, burst: u32, max_addresses: usize) -> HandshakeRate {
        HandshakeRate {
            per_second,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
            max_addresses,
        }
    }

    /// Takes one attempt for `ip`; false if it must be refused.
    pub fn try_take(&self, ip: IpAddr) -> bool {
        self.try_take_at(ip, Instant::now())
    }

    fn try_take_at(&self, ip: IpAddr, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&ip) && buckets.len() >= self.max_addresses {
            buckets.retain(|_, bucket| !bucket.is_full_at(now));
            if buckets.len() >= self.max_addresses {
                buckets.clear();
            }
        }
        buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::with_burst(self.per_second, self.burst))
            .try_take_at(now)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn an_address_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let rate = HandshakeRate::new(10, 3);
        let start = Instant::now();
        assert_eq!((0..5).filter(|_| rate.try_take_at(ip(1), start)).count(), 3);
        assert!(rate.try_take_at(ip(2), start));
        assert!(rate.try_take_at(ip(1), start + Duration::from_millis(150)));
        assert!(!rate.try_take_at(ip(1), start + Duration::from_millis(150)));
    }

    #[test]
    fn the_table_stays_bounded() {
        let rate = HandshakeRate::bounded(1, 1, 4);
        let start = Instant::now();
        for n in 0..100 {
            rate.try_take_at(ip(n), start);
            assert!(rate.tracked() <= 4);
        }
        // Refilled buckets are dropped first; a busy address keeps its state.
        let later = start + Duration::from_secs(5);
        assert!(rate.try_take_at(ip(1000), later));
        assert!(!rate.try_take_at(ip(1000), later));
        assert_eq!(rate.tracked(), 1);
    }

    #[test]
    fn zero_means_no_limit() {
        let rate = HandshakeRate::new(0, 0);
        assert!((0..1000).all(|_| rate.try_take(ip(1))));
    }
}
