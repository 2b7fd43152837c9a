//! The two date formats SigV4 accepts, parsed strictly and without panics.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Parses ISO 8601 basic format as SigV4 uses it: `20150830T123600Z`.
pub(crate) fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[4..6])?;
    let day = digits(&b[6..8])?;
    let hour = digits(&b[9..11])?;
    let minute = digits(&b[11..13])?;
    let second = digits(&b[13..15])?;
    utc(year, month, day, hour, minute, second)
}

/// Parses the HTTP `Date` header's preferred form (RFC 9110 IMF-fixdate, the RFC 1123 form):
/// `Sun, 30 Aug 2015 12:36:00 GMT`. The weekday is not checked against the date.
pub(crate) fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let mut parts = s.split(' ');
    let weekday = parts.next()?;
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let hms = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() || weekday.len() != 4 || !weekday.ends_with(',') || zone != "GMT" {
        return None;
    }
    if day.len() != 2 || year.len() != 4 || hms.len() != 8 {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let hms = hms.as_bytes();
    if hms[2] != b':' || hms[5] != b':' {
        return None;
    }
    utc(
        digits(year.as_bytes())?,
        u32::try_from(month).ok()?,
        digits(day.as_bytes())?,
        digits(&hms[0..2])?,
        digits(&hms[3..5])?,
        digits(&hms[6..8])?,
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats as ISO 8601 basic format in UTC, as the string to sign and error messages use it.
pub(crate) fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// ASCII digits only (no sign, no spaces) as a number; `None` otherwise.
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |n, d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn utc(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amz_date_round_trips() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, datetime!(2015-08-30 12:36:00 UTC));
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        let other_offset = datetime!(2015-08-30 14:36:00 +02:00);
        assert_eq!(format_amz_date(other_offset), "20150830T123600Z");
    }

    #[test]
    fn amz_date_rejects_near_misses() {
        for bad in [
            "",
            "20150830T123600",
            "20150830T123600z",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "+0150830T123600Z",
            "20150830 123600Z",
            "２0150830T123600Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap(),
            datetime!(2015-08-30 12:36:00 UTC)
        );
        for bad in [
            "Sun, 30 Aug 2015 12:36:00 UTC",
            "Sun, 30 Aug 2015 12:36:00",
            "Sunday, 30-Aug-15 12:36:00 GMT",
            "Sun Aug 30 12:36:00 2015",
            "Sun, 30 Foo 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12-36-00 GMT",
            "Sun, 3 Aug 2015 12:36:00 GMT",
        ] {
            assert!(parse_http_date(bad).is_none(), "{bad}");
        }
    }
}
