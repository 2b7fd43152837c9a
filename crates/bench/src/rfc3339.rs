//! The one timestamp format the generator reads: IVS Chat's `SendTime`, RFC 3339 in UTC
//! (`2023-01-05T14:33:32.894089757Z`, up to nine fraction digits), as nanoseconds since the
//! Unix epoch. A parser of its own because it runs once per delivery and needs no time zone.

/// `None` for anything that is not `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with a year from 1970.
pub fn parse_utc_nanos(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = num(20..20 + digits.len())?;
            value * 10u64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let seconds = days as u64 * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ivs_send_times() {
        // `date -u -d 2023-01-05T14:33:32Z +%s` = 1672929212
        assert_eq!(
            parse_utc_nanos("2023-01-05T14:33:32.894089757Z"),
            Some(1_672_929_212_894_089_757)
        );
        // Trailing zeros of the fraction are trimmed by the server.
        assert_eq!(
            parse_utc_nanos("2026-11-21T21:00:28.66927975Z"),
            Some(1_795_294_828_669_279_750)
        );
        assert_eq!(parse_utc_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_utc_nanos("2024-02-29T23:59:59.5Z"),
            Some(1_709_251_199_500_000_000)
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for bad in [
            "",
            "2023-01-05 14:33:32Z",
            "2023-01-05T14:33:32+01:00",
            "2023-01-05T14:33:32.Z",
            "2023-01-05T14:33:32.1234567890Z",
            "2023-13-05T14:33:32Z",
            "1969-12-31T23:59:59Z",
            "2023-01-05T14:3a:32Z",
        ] {
            assert_eq!(parse_utc_nanos(bad), None, "{bad}");
        }
    }
}
