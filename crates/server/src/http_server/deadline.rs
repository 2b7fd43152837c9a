//! The deadlines of an accepted connection while it speaks HTTP. hyper bounds an HTTP/1
//! request head once it has chosen HTTP/1, but nothing bounded a connection that sends
//! nothing, stops inside the HTTP/2 preface or handshake, or idles on HTTP/2: a handful of
//! addresses could hold every slot of the listener. The connection's task sleeps until
//! [`Activity::check`] finds it over its deadline:
//!
//! | state | deadline | then |
//! |---|---|---|
//! | accepted, no request yet: silent, protocol detection, HTTP/2 handshake, a head on its way | `[limits] header_timeout_ms` after accept | dropped |
//! | a request in progress | none here: its body (`body_timeout_ms`) and handler are bounded where they run | |
//! | between requests | `[limits] idle_timeout_ms` after the last one ended | graceful close (HTTP/2 GOAWAY), dropped if that does not finish in `header_timeout_ms` |
//!
//! The service marks each request with [`Activity::begin`]: two atomic updates and a clock
//! read per request, no timer work. After a WebSocket upgrade the connection leaves hyper and
//! the chat session's pings take over (`chat/session/keepalive.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// `last_end_ms` before any request has ended.
const NO_REQUEST_YET: u64 = u64::MAX;

/// What a connection's requests have done, shared by its task and its service.
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    /// Requests whose handler is running.
    in_flight: AtomicU32,
    /// When the last request ended, in milliseconds after `accepted`.
    last_end_ms: AtomicU64,
    /// Whether any request has begun (one may be in flight before any ended).
    begun: std::sync::atomic::AtomicBool,
}

/// The deadlines a connection is held to (`[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From accept to the first request.
    pub first_request: Duration,
    /// From the end of a request to the start of the next.
    pub idle: Duration,
}

impl Deadlines {
    /// When a new connection's timer first fires: a quick first request may leave the
    /// connection idle before its first-request deadline.
    pub fn first_check(&self) -> Duration {
        self.first_request.min(self.idle)
    }
}

/// What the connection's task does when its timer fires.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Not yet: sleep until then and look again.
    RecheckAt(Instant),
    /// No request ever came in time: drop the connection (there is nothing to finish).
    NeverSpoke,
    /// Idle for too long: close it gracefully.
    Idle,
}

/// One request in progress; dropping it records the request's end.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = self.0.accepted.elapsed().as_millis() as u64;
        self.0.last_end_ms.store(ms, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    pub fn new(accepted: Instant) -> Arc<Activity> {
        Arc::new(Activity {
            accepted,
            in_flight: AtomicU32::new(0),
            last_end_ms: AtomicU64::new(NO_REQUEST_YET),
            begun: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A request's handler starts; hold the guard until it ends.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.begun.store(true, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Whether the connection is over its deadline at `now`, or when to look again.
    pub fn check(&self, now: Instant, deadlines: Deadlines) -> Check {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // The request's own limits bound it; look again later.
            return Check::RecheckAt(now + deadlines.idle);
        }
        let last_end = self.last_end_ms.load(Ordering::Relaxed);
        if last_end == NO_REQUEST_YET && !self.begun.load(Ordering::Relaxed) {
            let deadline = self.accepted + deadlines.first_request;
            return if now >= deadline {
                Check::NeverSpoke
            } else {
                Check::RecheckAt(deadline)
            };
        }
        let ended = if last_end == NO_REQUEST_YET {
            // Begun and ended between the two loads above: it ended just now.
            now
        } else {
            self.accepted + Duration::from_millis(last_end)
        };
        let deadline = ended + deadlines.idle;
        if now >= deadline {
            Check::Idle
        } else {
            Check::RecheckAt(deadline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINES: Deadlines = Deadlines {
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn a_connection_that_never_sends_a_request_is_dropped_at_the_first_request_deadline() {
        let start = Instant::now();
        let activity = Activity::new(start);
        assert_eq!(
            activity.check(start, DEADLINES),
            Check::RecheckAt(start + DEADLINES.first_request)
        );
        assert_eq!(
            activity.check(start + DEADLINES.first_request, DEADLINES),
            Check::NeverSpoke
        );
    }

    #[test]
    fn a_request_in_progress_holds_the_connection_and_idleness_counts_from_its_end() {
        let start = Instant::now();
        let activity = Activity::new(start);
        let request = activity.begin();
        let later = start + Duration::from_secs(100);
        assert_eq!(
            activity.check(later, DEADLINES),
            Check::RecheckAt(later + DEADLINES.idle)
        );
        drop(request);
        let ended = start + Duration::from_millis(activity.last_end_ms.load(Ordering::Relaxed));
        assert_eq!(
            activity.check(ended, DEADLINES),
            Check::RecheckAt(ended + DEADLINES.idle)
        );
        assert_eq!(
            activity.check(ended + DEADLINES.idle, DEADLINES),
            Check::Idle
        );
    }
}
