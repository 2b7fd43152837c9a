//! Time. Everything that depends on "now" asks a [`Clock`], so tests can move time forward
//! (token and session expiry) instead of sleeping.

use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The system clock plus an offset that tests can advance. Advancing notifies
/// [`Clock::changes`] subscribers, so timers (session expiry) re-arm at once.
#[derive(Debug, Clone)]
pub struct Clock {
    offset_micros: Arc<tokio::sync::watch::Sender<i64>>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset_micros: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::microseconds(*self.offset_micros.borrow())
    }

    /// Fires whenever the clock is advanced.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<i64> {
        self.offset_micros.subscribe()
    }

    /// Microseconds since the Unix epoch: how the store keeps times.
    pub fn now_micros(&self) -> i64 {
        to_micros(self.now())
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros
            .send_modify(|offset| *offset = offset.saturating_add(micros));
    }
}

pub fn to_micros(t: OffsetDateTime) -> i64 {
    // Fits in i64 for hundreds of thousands of years.
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The control plane's `Time`: RFC 3339 UTC with milliseconds, e.g. `2022-09-14T17:48:00.653Z`.
pub fn format_time_millis(micros: i64) -> String {
    let t = from_micros(micros);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Chat frames' `SendTime`: RFC 3339 UTC with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano).
pub fn format_time_nanos(t: OffsetDateTime) -> String {
    // `Rfc3339` formatting already trims trailing zeros of the fraction; it cannot fail for UTC
    // years 0..=9999.
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_format_is_rfc3339_utc() {
        assert_eq!(
            format_time_millis(1_663_177_680_653_123),
            "2022-09-14T17:48:00.653Z"
        );
        assert_eq!(format_time_millis(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn nanos_format_trims_zeros() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_672_929_212_894_089_757).unwrap();
        assert_eq!(format_time_nanos(t), "2023-01-05T14:33:32.894089757Z");
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_755_150_520_415_514_370).unwrap();
        assert_eq!(format_time_nanos(t), "2025-08-14T05:48:40.41551437Z");
    }

    #[test]
    fn advancing_moves_all_clones() {
        let c = Clock::system();
        let d = c.clone();
        let before = d.now_micros();
        c.advance(std::time::Duration::from_secs(3600));
        assert!(d.now_micros() - before >= 3_600_000_000);
    }
}
