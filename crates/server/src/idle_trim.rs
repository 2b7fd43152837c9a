//! Gives the heap memory the server has freed back to the system once the node's connections
//! stop coming and going (issue 26: memory must not grow with every connection ever opened;
//! figures in BENCHMARKS.md §8).
//!
//! glibc's allocator keeps what a program frees for reuse and returns pages to the system only
//! from the top of a heap. After a burst of connections the pages their buffers used stay
//! resident although nothing uses them: over 10 MB after a million connections, a third of
//! the idle server's memory. `malloc_trim(0)` returns every free page. It walks each heap
//! under that heap's lock, for a time that grows with the heap (4 ms for a fragmented 30 MB,
//! 0.7 s for 1.3 GB: BENCHMARKS.md §8), so it runs only when
//! * no chat connection has been opened or closed for `[memory] idle_trim_after_ms` (30 s by
//!   default): never on a node whose connections churn; and
//! * at most a quarter of the connections open at the peak since the last trim are still
//!   open: what they used has been freed, and few are left to wait on the lock. A node whose
//!   connections stay never trims (it has nothing much to give back);
//!
//! and once more when the single-use token ids of the last connections have expired and
//! been swept (`expiring_ids.rs`), so that their table is returned too. Then not again until
//! connections come or go. Glibc (Linux, gnu) only: other allocators return memory their
//! own way, and there the task does not run.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::TOKEN_LIFETIME_MICROS;
use crate::chat::ChatStats;
use crate::expiring_ids::KEPT_AFTER_EXPIRY;
use crate::metrics::Metrics;

/// Whether this build can trim: glibc's allocator, the only one with `malloc_trim`.
pub const SUPPORTED: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// How long after the last connection came or went every single-use token id it used has
/// expired and been swept (a token's 60 s, then the rest of its bucket and the next sweep).
pub fn token_ids_gone_after() -> Duration {
    Duration::from_micros(TOKEN_LIFETIME_MICROS as u64) + KEPT_AFTER_EXPIRY
}

/// The chat side's connection counts at one check: any change means connections came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Chat connections opened since the start.
    pub opened: u64,
    /// Chat connections open now (with `opened`, tells a close apart).
    pub open: u64,
}

impl Activity {
    pub fn of(stats: &ChatStats) -> Activity {
        Activity {
            opened: stats.connections_opened.load(Ordering::Relaxed),
            open: stats.connections_open.load(Ordering::Relaxed),
        }
    }
}

/// When to trim: the node's quiet time (since its connections last changed) passing each of
/// [`Schedule::due`]'s ages once. Pure, so that the tests drive it with their own clock.
#[derive(Debug)]
pub struct Schedule {
    /// The quiet ages at which to trim, ascending.
    due: Vec<Duration>,
    last: Activity,
    /// The most connections seen open at a check since the last trim.
    peak_open: u64,
    quiet_since: Instant,
    /// How many of `due` have been done in this quiet period.
    done: usize,
}

impl Schedule {
    /// Trims after `after` of quiet, and again once the token ids are gone if that is later.
    pub fn new(after: Duration, activity: Activity, now: Instant) -> Schedule {
        let mut due = vec![after, token_ids_gone_after()];
        due.retain(|age| *age >= after);
        due.sort();
        due.dedup();
        Schedule {
            due,
            last: activity,
            peak_open: activity.open,
            quiet_since: now,
            done: 0,
        }
    }

    /// Called at each check: whether to trim now.
    pub fn check(&mut self, activity: Activity, now: Instant) -> bool {
        self.peak_open = self.peak_open.max(activity.open);
        if activity != self.last {
            self.last = activity;
            self.quiet_since = now;
            self.done = 0;
            return false;
        }
        let quiet = now.saturating_duration_since(self.quiet_since);
        // Past several ages at once (a late check): one trim does for all of them.
        let passed = self.due.iter().filter(|age| quiet >= **age).count();
        // Whether enough have left is asked at the quiet period's first trim; the token ids'
        // trim follows it.
        let few_left = self.done > 0 || activity.open.saturating_mul(4) <= self.peak_open;
        if passed > self.done && few_left {
            if self.done == 0 {
                self.peak_open = activity.open;
            }
            self.done = passed;
            return true;
        }
        false
    }
}

/// How often the node looks at its connection counts: a few times per `after`, so that a
/// trim comes at most a third late; at least every 10 s.
pub fn check_interval(after: Duration) -> Duration {
    (after / 3).clamp(Duration::from_millis(10), Duration::from_secs(10))
}

/// Checks the connection counts until `stop`, trimming when the [`Schedule`] says so; each
/// trim is counted in `metrics` (`ivschat_heap_trims`).
pub async fn run(
    stats: Arc<ChatStats>,
    metrics: Arc<Metrics>,
    after: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(check_interval(after));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut schedule = Schedule::new(after, Activity::of(&stats), Instant::now());
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if schedule.check(Activity::of(&stats), Instant::now()) {
            // Off the runtime's threads: on a large heap it takes milliseconds, or more.
            let began = Instant::now();
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            metrics.heap_trimmed(released);
            tracing::debug!(
                released,
                millis = began.elapsed().as_millis() as u64,
                "free heap memory given back to the system"
            );
        }
    }
}

/// Returns the free pages of every heap to the system; whether any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the server's one use of `unsafe` (crates/server/Cargo.toml)
fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointer and touches only glibc's own allocator state,
    // under that allocator's locks; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(30);

    fn at(opened: u64, open: u64) -> Activity {
        Activity { opened, open }
    }

    /// The checks of `schedule` from `start` every 10 s for `seconds`, with `activity(t)`:
    /// the times (s after `start`) it trimmed at.
    fn trims(
        schedule: &mut Schedule,
        start: Instant,
        seconds: u64,
        activity: impl Fn(u64) -> Activity,
    ) -> Vec<u64> {
        (10..=seconds)
            .step_by(10)
            .filter(|&t| schedule.check(activity(t), start + Duration::from_secs(t)))
            .collect()
    }

    #[test]
    fn trims_after_quiet_and_again_once_the_token_ids_are_gone_then_stops() {
        let start = Instant::now();
        let mut schedule = Schedule::new(AFTER, at(0, 0), start);
        // Connections come and go for 100 s, then none for 300 s.
        let churn = |t: u64| if t <= 100 { at(t, t % 3) } else { at(100, 0) };
        // Quiet from 110 s: +30 s, and +65 s (checked at +70 s); nothing after that.
        assert_eq!(trims(&mut schedule, start, 400, churn), vec![140, 180]);
    }

    #[test]
    fn never_trims_while_connections_come_or_go() {
        let start = Instant::now();
        let mut schedule = Schedule::new(AFTER, at(0, 0), start);
        assert_eq!(
            trims(&mut schedule, start, 600, |t| at(t / 10, 0)),
            Vec::<u64>::new()
        );
        // A close alone is a change too.
        let mut schedule = Schedule::new(AFTER, at(9, 0), start);
        assert_eq!(
            trims(&mut schedule, start, 600, |t| at(9, (t / 20) % 2)),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn a_node_whose_connections_stay_does_not_trim() {
        let start = Instant::now();
        let mut schedule = Schedule::new(AFTER, at(5, 5), start);
        assert_eq!(
            trims(&mut schedule, start, 300, |_| at(5, 5)),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn trims_once_most_connections_have_left() {
        let start = Instant::now();
        let mut schedule = Schedule::new(AFTER, at(0, 0), start);
        // 100 join, stay 100 s; 70 leave (30 are more than a quarter); 10 more leave at 200 s.
        let leaving = |t: u64| match t {
            0..=100 => at(100, 100),
            101..=200 => at(100, 30),
            _ => at(100, 20),
        };
        assert_eq!(trims(&mut schedule, start, 400, leaving), vec![240, 280]);
        // After those, the 20 left are the new peak: 5 must go before the next trim.
        let mut schedule = Schedule::new(AFTER, at(0, 0), start);
        let later = |t: u64| match t {
            0..=100 => at(100, 100),
            101..=200 => at(100, 20),
            201..=300 => at(100, 15),
            _ => at(100, 5),
        };
        assert_eq!(
            trims(&mut schedule, start, 500, later),
            vec![140, 180, 340, 380]
        );
    }

    #[test]
    fn new_activity_starts_a_new_quiet_period() {
        let start = Instant::now();
        let mut schedule = Schedule::new(AFTER, at(1, 0), start);
        let twice = |t: u64| if t < 200 { at(1, 0) } else { at(2, 0) };
        // Quiet from the start (30, 70), then from 200 s (230, 270).
        assert_eq!(
            trims(&mut schedule, start, 400, twice),
            vec![30, 70, 230, 270]
        );
    }

    #[test]
    fn a_late_check_trims_once_for_every_age_it_passed() {
        let start = Instant::now();
        let mut schedule = Schedule::new(AFTER, at(0, 0), start);
        assert!(schedule.check(at(0, 0), start + Duration::from_secs(500)));
        assert!(!schedule.check(at(0, 0), start + Duration::from_secs(510)));
    }

    #[test]
    fn a_long_delay_trims_once() {
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(300), at(0, 0), start);
        assert_eq!(trims(&mut schedule, start, 900, |_| at(0, 0)), vec![300]);
    }

    #[test]
    fn checks_often_enough_for_the_delay() {
        assert_eq!(check_interval(AFTER), Duration::from_secs(10));
        assert_eq!(
            check_interval(Duration::from_millis(300)),
            Duration::from_millis(100)
        );
        assert_eq!(
            check_interval(Duration::from_secs(3600)),
            Duration::from_secs(10)
        );
    }
}
