//! The in-memory token bucket: a live room's `maximumMessageRatePerSecond` (shared by all its
//! clients), a connection's 10 requests per second, and the account rates on one node (the
//! Redis bus keeps the shared ones in Redis). A bucket holds up to one second of requests and
//! refills continuously, so short bursts up to the limit pass and a sustained excess gets 429.
//! A bucket may also hold more than one second's worth ([`TokenBucket::with_burst`]): a
//! connection's frame budget and the per-address handshake rate.

use std::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    rate_per_second: f64,
    /// The most tokens it holds: the rate, unless built [`TokenBucket::with_burst`].
    capacity: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_second: u32) -> TokenBucket {
        TokenBucket::with_burst(rate_per_second, rate_per_second)
    }

    /// A bucket that starts full with `burst` tokens and refills at `rate_per_second`.
    pub fn with_burst(rate_per_second: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate_per_second: f64::from(rate_per_second),
            capacity: f64::from(burst),
            tokens: f64::from(burst),
            last_refill: Instant::now(),
        }
    }

    /// Whether the bucket is full at `now`: it then behaves exactly like a new one, so a
    /// table of buckets may forget it.
    pub fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens + elapsed * self.rate_per_second >= self.capacity
    }

    /// Changes the rate (UpdateRoom); tokens already earned are kept, up to the new capacity.
    pub fn set_rate(&mut self, rate_per_second: u32) {
        self.refill(Instant::now());
        self.rate_per_second = f64::from(rate_per_second);
        self.capacity = self.rate_per_second;
        self.tokens = self.tokens.min(self.capacity);
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    pub fn try_take_at(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_second).min(self.capacity);
        self.last_refill = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_a_burst_of_the_rate_then_refills() {
        let start = Instant::now();
        let mut b = TokenBucket {
            rate_per_second: 10.0,
            capacity: 10.0,
            tokens: 10.0,
            last_refill: start,
        };
        assert_eq!((0..15).filter(|_| b.try_take_at(start)).count(), 10);
        assert!(!b.try_take_at(start + Duration::from_millis(50)));
        assert!(b.try_take_at(start + Duration::from_millis(100)));
        assert_eq!(
            (0..15)
                .filter(|_| b.try_take_at(start + Duration::from_secs(5)))
                .count(),
            10
        );
    }

    #[test]
    fn a_burst_bucket_holds_its_burst_and_refills_at_its_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::with_burst(2, 5);
        b.last_refill = start;
        assert_eq!((0..10).filter(|_| b.try_take_at(start)).count(), 5);
        assert!(!b.is_full_at(start + Duration::from_secs(2)));
        assert!(b.is_full_at(start + Duration::from_millis(2500)));
        assert_eq!(
            (0..10)
                .filter(|_| b.try_take_at(start + Duration::from_secs(1)))
                .count(),
            2
        );
    }

    #[test]
    fn lowering_the_rate_caps_saved_tokens() {
        let mut b = TokenBucket::new(100);
        b.set_rate(2);
        assert_eq!((0..10).filter(|_| b.try_take()).count(), 2);
    }
}
