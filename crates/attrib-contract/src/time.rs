//! Instants and calendar dates of the wire contract.
//!
//! Timestamps are RFC 3339 with an explicit offset (`Z` or `±HH:MM`); they are
//! normalised to UTC nanoseconds so ordering and window arithmetic are exact.

use std::fmt;

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// An instant in UTC with nanosecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

/// A length of time in nanoseconds (lookback windows, half-lives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i128);

impl Duration {
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs as i128 * NANOS_PER_SEC)
    }
    pub const fn from_days(days: i64) -> Self {
        Duration::from_secs(days * SECS_PER_DAY)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
    pub const fn as_nanos(self) -> i128 {
        self.0
    }
}

impl Timestamp {
    pub const fn from_unix_nanos(nanos: i128) -> Self {
        Timestamp(nanos)
    }
    pub const fn from_unix_secs(secs: i64) -> Self {
        Timestamp(secs as i128 * NANOS_PER_SEC)
    }
    pub const fn unix_nanos(self) -> i128 {
        self.0
    }
    pub const fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis as i128 * 1_000_000)
    }
    /// Whole milliseconds since the epoch, rounded towards negative infinity.
    pub fn unix_millis(self) -> i64 {
        self.0.div_euclid(1_000_000) as i64
    }
    /// Whole seconds since the epoch, rounded towards negative infinity.
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC) as i64
    }
    pub fn date(self) -> Date {
        Date(self.unix_secs().div_euclid(SECS_PER_DAY) as i32)
    }
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.0))
    }
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }
    /// `self - earlier`, negative when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0 - earlier.0)
    }

    /// Parses RFC 3339 `full-date "T" full-time` with a mandatory offset, by the `time` crate's
    /// RFC 3339 parser (faster than the hand-written one it replaced, and it knows the leap
    /// second rules): `T` and `Z` may be lower case (§5.6 note); a leap second (`23:59:60` UTC on
    /// a month's last day) is the last nanosecond before the next second; fraction digits past
    /// nanoseconds are truncated. The space separator `time` also takes is refused: the grammar
    /// says `T`, and the contract makes no other agreement.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
            return None;
        }
        let parsed = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        Some(Timestamp(parsed.unix_timestamp_nanos()))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with the shortest of 0, 3, 6 or 9 fractional digits that is exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc3339().as_str())
    }
}

impl Timestamp {
    /// The `Display` text, formatted on the stack: ledgers write millions of timestamps, and
    /// going through `fmt` for each of their seven numbers was a tenth of a batch run.
    pub fn rfc3339(self) -> Text {
        let secs = self.unix_secs();
        let nanos = self.0.rem_euclid(NANOS_PER_SEC) as u32;
        let mut out = Date(secs.div_euclid(SECS_PER_DAY) as i32).text();
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        out.push(b'T');
        out.digits(sod / 3600, 2);
        out.push(b':');
        out.digits((sod / 60) % 60, 2);
        out.push(b':');
        out.digits(sod % 60, 2);
        if nanos == 0 {
        } else if nanos.is_multiple_of(1_000_000) {
            out.push(b'.');
            out.digits(nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            out.push(b'.');
            out.digits(nanos / 1_000, 6);
        } else {
            out.push(b'.');
            out.digits(nanos, 9);
        }
        out.push(b'Z');
        out
    }
}

/// A date's or timestamp's text on the stack (ASCII, at most 40 bytes); empty by default.
#[derive(Clone, Copy)]
pub struct Text {
    buf: [u8; 40],
    len: usize,
}

impl Default for Text {
    fn default() -> Text {
        Text { buf: [0; 40], len: 0 }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Text {
    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `n` zero-padded to `width` digits (more if it needs them).
    fn digits(&mut self, n: u32, width: usize) {
        let mut tmp = [b'0'; 10];
        let mut i = tmp.len();
        let mut n = n;
        while n > 0 || i > tmp.len() - width {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        for b in &tmp[i..] {
            self.push(*b);
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// A calendar date (days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    pub const fn from_days_since_epoch(days: i32) -> Self {
        Date(days)
    }
    pub const fn days_since_epoch(self) -> i32 {
        self.0
    }
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date(days_from_civil(year, month, day)))
    }
    /// The month, `YYYY-MM`.
    pub fn year_month(self) -> String {
        let (y, m, _) = self.ymd();
        format!("{y:04}-{m:02}")
    }
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }
    pub fn start(self) -> Timestamp {
        Timestamp::from_unix_secs(self.0 as i64 * SECS_PER_DAY)
    }
    /// `YYYY-MM-DD`, the only form the contract accepts.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 {
            return None;
        }
        Date::parse_bytes(b)
    }
    fn parse_bytes(b: &[u8]) -> Option<Date> {
        if b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = two_digits(&b[0..2])? * 100 + two_digits(&b[2..4])?;
        let month = two_digits(&b[5..7])?;
        let day = two_digits(&b[8..10])?;
        Date::from_ymd(year as i32, month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl Date {
    /// `YYYY-MM-DD` (a year before 0 with a leading `-`, as `{:04}` writes it).
    pub fn text(self) -> Text {
        let (y, m, d) = self.ymd();
        let mut out = Text::default();
        if y < 0 {
            out.push(b'-');
            out.digits(y.unsigned_abs(), 3);
        } else {
            out.digits(y as u32, 4);
        }
        out.push(b'-');
        out.digits(m, 2);
        out.push(b'-');
        out.digits(d, 2);
        out
    }
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => Some((a - b'0') as u32 * 10 + (c - b'0') as u32),
        _ => None,
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian calendar).
fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400) as u32;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe as i32 + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).expect(s)
    }

    #[test]
    fn offsets_normalise_to_utc() {
        assert_eq!(ts("2026-03-01T10:00:00+02:00"), ts("2026-03-01T08:00:00Z"));
        assert_eq!(ts("2026-03-01T00:30:00-01:00"), ts("2026-03-01T01:30:00z"));
        assert_eq!(ts("1970-01-01T00:00:01Z").unix_nanos(), 1_000_000_000);
    }

    /// The text as `fmt` writes it, for checking the stack formatter.
    fn reference(t: Timestamp) -> String {
        let secs = t.unix_secs();
        let nanos = t.0.rem_euclid(NANOS_PER_SEC) as u32;
        let (y, m, d) = Date(secs.div_euclid(SECS_PER_DAY) as i32).ymd();
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let mut s = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, (sod / 60) % 60, sod % 60);
        if nanos == 0 {
        } else if nanos.is_multiple_of(1_000_000) {
            s += &format!(".{:03}", nanos / 1_000_000);
        } else if nanos.is_multiple_of(1_000) {
            s += &format!(".{:06}", nanos / 1_000);
        } else {
            s += &format!(".{nanos:09}");
        }
        s + "Z"
    }

    proptest::proptest! {
        #[test]
        fn stack_text_is_the_formatted_text(secs in -80_000_000_000i64..300_000_000_000, nanos in 0i64..1_000_000_000, unit in 0usize..4) {
            let nanos = [0, nanos / 1_000_000 * 1_000_000, nanos / 1_000 * 1_000, nanos][unit];
            let t = Timestamp(secs as i128 * NANOS_PER_SEC + nanos as i128);
            proptest::prop_assert_eq!(t.to_string(), reference(t));
            proptest::prop_assert_eq!(t.date().to_string(), reference(t)[..reference(t).find('T').unwrap_or(0)].to_string());
        }
    }

    #[test]
    fn years_at_the_edges_of_four_digits() {
        assert_eq!(ts("0000-01-01T00:00:00Z").to_string(), "0000-01-01T00:00:00Z");
        assert_eq!(ts("9999-12-31T23:59:59.999999999Z").to_string(), "9999-12-31T23:59:59.999999999Z");
        let after = Timestamp(ts("9999-12-31T23:59:59Z").0 + NANOS_PER_SEC);
        assert_eq!(after.to_string(), "10000-01-01T00:00:00Z");
        let before = Timestamp(ts("0000-01-01T00:00:00Z").0 - NANOS_PER_SEC);
        assert_eq!(before.to_string(), reference(before));
        // As `{:04}` writes -1: RFC 3339 has no years before 0, and parsing refuses them.
        assert!(before.to_string().starts_with("-001-12-31"), "{before}");
    }

    #[test]
    fn fractions_order_correctly() {
        assert!(ts("2026-03-01T10:00:00.1Z") > ts("2026-03-01T10:00:00.099999Z"));
        assert_eq!(ts("2026-03-01T10:00:00.5Z").to_string(), "2026-03-01T10:00:00.500Z");
    }

    #[test]
    fn rejects_what_is_not_rfc3339_with_offset() {
        for bad in [
            "2026-03-01T10:00:00",
            "2026-03-01 10:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T10:00:60Z",
            "2026-03-01T10:00:00.Z",
            "2026-03-01T10:00:00+0200",
            "2026-03-01T10:00:00+24:00",
            "2026-03-01",
            "1772359200",
            "",
            "2026-03-01T10:00:00Zjunk",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn leap_seconds_are_accepted_where_they_can_occur() {
        let leap = ts("2016-12-31T23:59:60Z");
        assert_eq!(leap, ts("2016-12-31T18:59:60-05:00"));
        assert!(ts("2016-12-31T23:59:59.9Z") < leap && leap < ts("2017-01-01T00:00:00Z"));
        assert_eq!(leap.to_string(), "2016-12-31T23:59:59.999999999Z");
        assert!(Timestamp::parse_rfc3339("2026-06-15T23:59:60Z").is_none(), "not a month's last day");
    }

    #[test]
    fn leap_days_and_round_trip() {
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2025-02-29").is_none());
        assert!(Date::parse("2000-02-29").is_some());
        assert!(Date::parse("1900-02-29").is_none());
        for days in [-100_000, -1, 0, 1, 20_000, 2_000_000] {
            let d = Date::from_days_since_epoch(days);
            assert_eq!(Date::parse(&d.to_string()), Some(d));
        }
        let t = ts("2026-11-23T05:01:02.123456789Z");
        assert_eq!(t.to_string(), "2026-11-23T05:01:02.123456789Z");
        assert_eq!(t.date().to_string(), "2026-11-23");
    }
}
