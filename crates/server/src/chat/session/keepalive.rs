//! A chat connection's liveness (`[chat] ping_interval_ms`, `pong_timeout_ms`). A client that
//! vanishes without a FIN (a phone that lost its network) sends nothing more, and a viewer
//! sends nothing anyway; without pings such a connection kept its socket, its quota slot and
//! its per-address slot until its session expired, up to 180 minutes.
//!
//! The session pings the client every `ping_interval_ms`; once a ping is out, anything from
//! the client (its pong, any frame) within `pong_timeout_ms` proves it alive, and silence
//! ends the session. Browsers and Node's `ws` (under the JS SDK) answer pings by themselves
//! and never show them as messages.
//!
//! No work per frame on the fan-out path: the session's one timer, which already waits for
//! session expiry, also wakes for these deadlines ([`Keepalive::next_at`]); a frame read
//! from the client only sets a flag, looked at when the timer fires.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::ChatLimits;

#[derive(Debug)]
pub struct Keepalive {
    /// `ZERO`: no pings.
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    /// A ping is out with nothing heard since it: the client must answer by then.
    answer_by: Option<Instant>,
    /// Something arrived from the client since the timer last fired.
    heard: bool,
}

/// What the session does when its timer fires.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    Nothing,
    Ping,
    /// No answer to a ping within the timeout: end the session.
    Unanswered,
}

impl Keepalive {
    pub fn new(now: Instant, limits: &ChatLimits) -> Keepalive {
        let interval = Duration::from_millis(limits.ping_interval_ms);
        Keepalive {
            interval,
            timeout: Duration::from_millis(limits.pong_timeout_ms),
            next_ping: now + interval,
            answer_by: None,
            heard: false,
        }
    }

    /// A frame (pong or anything else) arrived from the client.
    #[inline]
    pub fn heard(&mut self) {
        self.heard = true;
    }

    /// When the session's timer must fire next for these deadlines; `None`: never.
    pub fn next_at(&self) -> Option<Instant> {
        if self.interval.is_zero() {
            return None;
        }
        Some(match self.answer_by {
            Some(by) => by.min(self.next_ping),
            None => self.next_ping,
        })
    }

    /// The timer fired at `now` (for these deadlines or another reason): what is due.
    pub fn on_timer(&mut self, now: Instant) -> Due {
        if self.interval.is_zero() {
            return Due::Nothing;
        }
        // Whatever was heard came after the ping that is out (the flag is cleared below, when
        // a ping goes out), so it answers that ping.
        if std::mem::take(&mut self.heard) {
            self.answer_by = None;
        }
        if self.answer_by.is_some_and(|by| now >= by) {
            return Due::Unanswered;
        }
        if now >= self.next_ping {
            self.next_ping = now + self.interval;
            self.answer_by.get_or_insert(now + self.timeout);
            return Due::Ping;
        }
        Due::Nothing
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive(start: Instant) -> Keepalive {
        let limits = ChatLimits {
            ping_interval_ms: 30_000,
            pong_timeout_ms: 60_000,
            ..ChatLimits::default()
        };
        Keepalive::new(start, &limits)
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_silent_client_is_pinged_then_given_up_on_after_the_timeout() {
        let t0 = Instant::now();
        let mut k = keepalive(t0);
        assert_eq!(k.next_at(), Some(t0 + S(30)));
        assert_eq!(k.on_timer(t0 + S(30)), Due::Ping);
        // The next ping comes first, then the deadline of the first.
        assert_eq!(k.next_at(), Some(t0 + S(60)));
        assert_eq!(k.on_timer(t0 + S(60)), Due::Ping);
        assert_eq!(k.next_at(), Some(t0 + S(90)));
        assert_eq!(k.on_timer(t0 + S(90)), Due::Unanswered);
    }

    #[test]
    fn any_frame_after_a_ping_answers_it() {
        let t0 = Instant::now();
        let mut k = keepalive(t0);
        assert_eq!(k.on_timer(t0 + S(30)), Due::Ping);
        k.heard();
        assert_eq!(k.on_timer(t0 + S(60)), Due::Ping);
        // Heard before the second ping went out: that one is still unanswered.
        assert_eq!(k.on_timer(t0 + S(90)), Due::Ping);
        assert_eq!(k.on_timer(t0 + S(120)), Due::Unanswered);
    }

    #[test]
    fn the_timer_firing_for_another_reason_changes_nothing() {
        let t0 = Instant::now();
        let mut k = keepalive(t0);
        assert_eq!(k.on_timer(t0 + S(10)), Due::Nothing);
        assert_eq!(k.next_at(), Some(t0 + S(30)));
    }

    #[test]
    fn an_interval_of_zero_sends_no_pings() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(
            t0,
            &ChatLimits {
                ping_interval_ms: 0,
                ..ChatLimits::default()
            },
        );
        assert_eq!(k.next_at(), None);
        assert_eq!(k.on_timer(t0 + S(3600)), Due::Nothing);
    }
}
