//! When and how soon the client connects again: exponential backoff with jitter, a bound on
//! consecutive failed attempts, and whether a kick ends the client.

use std::time::Duration;

use rand::Rng;

/// The reconnect policy.
///
/// The delay before attempt *n* (1, 2, …; reset once a connection opens) is drawn uniformly
/// from `[d/2, d]` with `d = min(initial_delay × 2^(n-1), max_delay)`: "equal jitter", so that
/// many clients dropped at once by a restarting server do not come back in step.
///
/// ```
/// use std::time::Duration;
/// use ivschat_client::Reconnect;
/// let policy = Reconnect::default()
///     .max_attempts(Some(10))
///     .delays(Duration::from_millis(100), Duration::from_secs(5));
/// assert!(policy.delay(1) <= Duration::from_millis(100));
/// assert!(policy.delay(30) >= Duration::from_millis(2500));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    max_attempts: Option<u32>,
    initial_delay: Duration,
    max_delay: Duration,
    after_kick: bool,
}

impl Default for Reconnect {
    /// Up to 5 attempts in a row, from 250 ms doubling to at most 30 s; a kick is final.
    fn default() -> Self {
        Reconnect {
            max_attempts: Some(5),
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            after_kick: false,
        }
    }
}

impl Reconnect {
    /// No reconnection: the first disconnection ends the client.
    pub fn never() -> Reconnect {
        Reconnect::default().max_attempts(Some(0))
    }

    /// Consecutive failed attempts before giving up; `None` never gives up.
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Reconnect {
        self.max_attempts = attempts;
        self
    }

    /// The first delay and the largest.
    pub fn delays(mut self, initial: Duration, max: Duration) -> Reconnect {
        self.initial_delay = initial;
        self.max_delay = max.max(initial);
        self
    }

    /// Reconnect after this user was disconnected by a moderator (DisconnectUser). Off by
    /// default, as in the official SDK: a kicked bot should not come straight back (a ban,
    /// though, is the token issuer's business: `docs/protocol/messaging.md` §2.3).
    pub fn after_kick(mut self, reconnect: bool) -> Reconnect {
        self.after_kick = reconnect;
        self
    }

    pub(crate) fn reconnects_after_kick(&self) -> bool {
        self.after_kick
    }

    /// Whether attempt `attempt` (1-based, consecutive) may be made.
    pub(crate) fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }

    /// The delay before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .initial_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let half = ceiling / 2;
        let jitter_ms = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_bounds_with_jitter() {
        let policy =
            Reconnect::default().delays(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..40 {
            let ceiling = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20)))
                .min(Duration::from_secs(1));
            let d = policy.delay(attempt);
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
        }
        assert!(policy.allows(5) && !policy.allows(6));
        assert!(Reconnect::default().max_attempts(None).allows(u32::MAX));
        assert!(!Reconnect::never().allows(1));
    }
}
