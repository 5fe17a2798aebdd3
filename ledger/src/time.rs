//! The two kinds of time: `Date` for valid time (when a fact applies) and `Timestamp` for record
//! time (when the ledger learned it).
//!
//! Both serialize as text (`YYYY-MM-DD`, RFC 3339 UTC) in human-readable formats such as JSON and as
//! plain integers in the ledger's binary encoding, where they are pinned by golden bytes.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date (valid time), proleptic Gregorian, no time zone, from 0000-01-01 to
/// 9999-12-31: the dates `YYYY-MM-DD` can write, so every `Date` prints as text that reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

/// Why a text is not a date or an instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTime {
    /// Not a `YYYY-MM-DD` calendar date.
    #[error("invalid date {0:?}: expected YYYY-MM-DD, e.g. 2022-09-05")]
    Date(String),
    /// Not an RFC 3339 instant.
    #[error("invalid instant {0:?}: expected RFC 3339, e.g. 2022-06-20T09:12:44Z")]
    Instant(String),
    /// A date outside the range the ledger stores.
    #[error("date out of range")]
    OutOfRange,
}

impl Date {
    /// The first date: 0000-01-01.
    pub const MIN: Date = Date(NaiveDate::from_yo_opt(0, 1).expect("0000-01-01 is a date"));
    /// The last date: 9999-12-31.
    pub const MAX: Date = Date(NaiveDate::from_ymd_opt(9999, 12, 31).expect("9999-12-31 is a date"));

    /// Within the range, or `None`.
    fn checked(date: NaiveDate) -> Option<Self> {
        let date = Self(date);
        (Self::MIN..=Self::MAX).contains(&date).then_some(date)
    }

    /// A date from its parts; `None` if it does not exist or lies outside 0000–9999.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).and_then(Self::checked)
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// The month, 1–12.
    pub fn month(self) -> u32 {
        self.0.month()
    }

    /// The day of month, 1–31.
    pub fn day(self) -> u32 {
        self.0.day()
    }

    /// The day after; saturates at [`Date::MAX`].
    pub fn next_day(self) -> Self {
        self.0.succ_opt().and_then(Self::checked).unwrap_or(self)
    }

    /// The day before; saturates at [`Date::MIN`].
    pub fn previous_day(self) -> Self {
        self.0.pred_opt().and_then(Self::checked).unwrap_or(self)
    }

    /// Adds calendar months keeping the day of month, clamped to the month's end
    /// (2022-02-10 + 3 = 2022-05-10; 2023-11-30 + 3 = 2024-02-29). Saturates at [`Date::MAX`].
    pub fn add_months(self, months: u32) -> Self {
        self.0.checked_add_months(chrono::Months::new(months)).and_then(Self::checked).unwrap_or(Self::MAX)
    }

    /// Days since 0001-01-01 (which is day 1): the binary encoding.
    fn to_days(self) -> i32 {
        self.0.num_days_from_ce()
    }

    fn from_days(days: i32) -> Option<Self> {
        NaiveDate::from_num_days_from_ce_opt(days).and_then(Self::checked)
    }

    /// Today in UTC.
    pub fn today_utc() -> Self {
        Self(Utc::now().date_naive())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `%Y-%m-%d` written directly: chrono's `format` parses its pattern at every call, which
        // showed in an import's profile (every event's date is written for its Merkle leaf and its
        // interchange check). A year outside 0000–9999 (never one a `Date` holds) goes to chrono.
        let year = self.0.year();
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}-{:02}-{:02}", self.0.month(), self.0.day())
        } else {
            write!(f, "{}", self.0.format("%Y-%m-%d"))
        }
    }
}

impl FromStr for Date {
    type Err = InvalidTime;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Exactly ten characters: chrono alone would accept "2022-9-5" and five-digit years.
        let well_formed = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        if !well_formed {
            return Err(InvalidTime::Date(s.to_owned()));
        }
        // The digits read directly (chrono's `parse_from_str` parsed its pattern at every call: a
        // tenth of an import's reading thread). A test holds the two equal.
        let number = |range: std::ops::Range<usize>| {
            s.as_bytes()[range].iter().fold(0u32, |n, digit| n * 10 + u32::from(digit - b'0'))
        };
        let year = i32::try_from(number(0..4)).map_err(|_| InvalidTime::Date(s.to_owned()))?;
        NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))
            .map(Self)
            .ok_or_else(|| InvalidTime::Date(s.to_owned()))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i32(self.to_days())
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            let days = i32::deserialize(deserializer)?;
            Self::from_days(days).ok_or_else(|| serde::de::Error::custom(InvalidTime::OutOfRange))
        }
    }
}

/// An instant of record time, in whole microseconds since the Unix epoch, UTC.
///
/// Microseconds, not nanoseconds: the JSON export must round-trip exactly, and RFC 3339 text with
/// six fractional digits does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The current time of the system clock, truncated to microseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The first instant of a date (midnight UTC).
    pub fn start_of(date: Date) -> Self {
        let midnight = date.0.and_hms_opt(0, 0, 0).map(|dt| Utc.from_utc_datetime(&dt));
        Self(midnight.map_or(0, |dt| dt.timestamp_micros()))
    }

    /// The date of this instant in UTC.
    pub fn date_utc(self) -> Date {
        Date(self.to_chrono().date_naive())
    }

    fn to_chrono(self) -> chrono::DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // AutoSi prints no fraction for whole seconds and 3, 6 or 9 digits otherwise: exact for
        // microseconds and readable for the common case.
        f.write_str(&self.to_chrono().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl FromStr for Timestamp {
    type Err = InvalidTime;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| InvalidTime::Instant(s.to_owned()))?;
        let utc = parsed.with_timezone(&Utc);
        if utc.timestamp_subsec_nanos() % 1000 != 0 {
            // Sub-microsecond precision would not survive a round trip.
            return Err(InvalidTime::Instant(s.to_owned()));
        }
        Ok(Self(utc.timestamp_micros()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() { serializer.collect_str(self) } else { serializer.serialize_i64(self.0) }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(deserializer).map(Self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().expect("valid date")
    }

    #[test]
    fn a_date_is_written_as_chrono_writes_it() {
        let mut day = NaiveDate::from_ymd_opt(0, 1, 1).expect("year 0");
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("year 9999");
        while day <= last {
            assert_eq!(Date(day).to_string(), day.format("%Y-%m-%d").to_string());
            day = day.checked_add_days(chrono::Days::new(13)).expect("in range");
        }
        assert_eq!(Date(last).to_string(), "9999-12-31");
        assert_eq!(Date(NaiveDate::from_ymd_opt(7, 3, 9).expect("year 7")).to_string(), "0007-03-09");
    }

    #[test]
    fn month_arithmetic_keeps_the_day_and_clamps_to_month_end() {
        assert_eq!(d("2022-02-10").add_months(3), d("2022-05-10"));
        assert_eq!(d("2023-11-30").add_months(3), d("2024-02-29"));
        assert_eq!(d("2022-09-05").add_months(24), d("2024-09-05"));
    }

    #[test]
    fn dates_stay_within_0000_to_9999_and_arithmetic_saturates_there() {
        assert_eq!(Date::MIN.to_string(), "0000-01-01");
        assert_eq!(Date::MAX.to_string(), "9999-12-31");
        assert_eq!(Date::from_ymd(10_000, 1, 1), None);
        assert_eq!(Date::from_ymd(-1, 12, 31), None);
        assert_eq!(Date::MAX.next_day(), Date::MAX);
        assert_eq!(Date::MIN.previous_day(), Date::MIN);
        assert_eq!(d("9999-06-30").add_months(6), d("9999-12-30"));
        assert_eq!(d("9999-07-31").add_months(6), Date::MAX);
        assert_eq!(d("2022-09-05").add_months(u32::MAX), Date::MAX);
        assert_eq!(Date::from_days(Date::MAX.to_days() + 1), None);
        assert_eq!(Date::from_days(Date::MIN.to_days() - 1), None);
        assert_eq!(Date::from_days(Date::MAX.to_days()), Some(Date::MAX));
        for date in [Date::MIN, Date::MAX] {
            assert_eq!(date.to_string().parse::<Date>().ok(), Some(date));
        }
    }

    #[test]
    fn the_first_and_last_dates_are_written_with_four_digit_years() {
        assert_eq!(Date::MIN.to_string(), "0000-01-01");
        assert_eq!(Date::MAX.to_string(), "9999-12-31");
        assert_eq!(d("0042-03-09").to_string(), "0042-03-09");
    }

    #[test]
    fn a_date_is_read_as_chrono_reads_it() {
        // Every year, with days that exist and days that do not.
        let days = ["01-01", "02-28", "02-29", "02-30", "04-30", "04-31", "12-31", "00-10", "13-01", "01-00", "01-32"];
        for year in 0..=9999 {
            for day in days {
                let text = format!("{year:04}-{day}");
                let chrono = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
                assert_eq!(text.parse::<Date>().ok().map(|d| d.0), chrono, "{text}");
            }
        }
    }

    #[test]
    fn dates_reject_malformed_text() {
        for bad in ["2022-9-5", "2022-02-30", "22-09-05", "2022/09/05", "", "20220-09-05", "2022-09-05 "] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_round_trip_through_text() {
        for s in ["2022-06-20T09:12:44Z", "2022-06-20T09:12:44.123456Z", "1970-01-01T00:00:00Z"] {
            let t: Timestamp = s.parse().expect("valid");
            assert_eq!(t.to_string(), s);
        }
        let offset: Timestamp = "2022-06-20T11:12:44+02:00".parse().expect("valid");
        assert_eq!(offset.to_string(), "2022-06-20T09:12:44Z");
        assert!("2022-06-20".parse::<Timestamp>().is_err());
        assert!("2022-06-20T09:12:44.1234567Z".parse::<Timestamp>().is_err());
    }
}
