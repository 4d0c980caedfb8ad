//! Time: a clock that can be replaced in tests, and the hospital's calendar arithmetic
//! (local dates) without a timezone database; working days are in [`crate::calendar`].
//!
//! Times are milliseconds since the Unix epoch (UTC). Dates that people read (a birth date, a
//! re-settlement due date) are civil dates in the hospital's fixed UTC offset.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type UnixMs = i64;

/// Where the store reads the time from.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now_ms(&self) -> UnixMs;
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMs {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(now_ms: UnixMs) -> Self {
        ManualClock(Arc::new(AtomicI64::new(now_ms)))
    }
    pub fn set(&self, now_ms: UnixMs) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> UnixMs {
        self.0.load(Ordering::SeqCst)
    }
}

/// A civil (calendar) date.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A string that is not a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a date (expected YYYY-MM-DD)")]
pub struct DateError {
    pub value: String,
}

const MS_PER_DAY: i64 = 86_400_000;

impl Date {
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// The date at `at_ms` in a zone `utc_offset_min` minutes east of UTC.
    pub fn at(at_ms: UnixMs, utc_offset_min: i32) -> Date {
        let local = at_ms + i64::from(utc_offset_min) * 60_000;
        civil_from_days(local.div_euclid(MS_PER_DAY))
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// 0 = Monday .. 6 = Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (3).
        u8::try_from((self.days_since_epoch() + 3).rem_euclid(7)).unwrap_or(0)
    }

    pub fn is_weekend(self) -> bool {
        self.weekday() >= 5
    }

    pub fn add_days(self, days: i64) -> Date {
        civil_from_days(self.days_since_epoch() + days)
    }

    /// Midnight at the start of this date in a zone `utc_offset_min` minutes east of UTC.
    pub fn start_ms(self, utc_offset_min: i32) -> UnixMs {
        self.days_since_epoch() * MS_PER_DAY - i64::from(utc_offset_min) * 60_000
    }

    /// Whole years and months from this date (a birth date) to `on`; `None` if `on` comes
    /// first.
    pub fn age_on(self, on: Date) -> Option<(u32, u32)> {
        if on < self {
            return None;
        }
        let mut months = (on.year - self.year) * 12 + i32::from(on.month) - i32::from(self.month);
        if on.day < self.day {
            months -= 1;
        }
        let months = u32::try_from(months.max(0)).unwrap_or(0);
        Some((months / 12, months % 12))
    }
}

/// A patient's age as staff read it wherever a patient is shown: years and months under 3
/// years (a children's hospital doses by it), whole years from 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Age {
    pub years: u32,
    pub months: u32,
    /// `2岁6个月`, `8个月`, `5岁`.
    pub text: String,
}

impl Age {
    /// The age on `on` of someone born on `birth`; `None` if `on` comes first.
    pub fn of(birth: Date, on: Date) -> Option<Age> {
        let (years, months) = birth.age_on(on)?;
        let text = match (years, months) {
            (y, _) if y >= 3 => format!("{y}岁"),
            (0, m) => format!("{m}个月"),
            (y, 0) => format!("{y}岁"),
            (y, m) => format!("{y}岁{m}个月"),
        };
        Some(Age {
            years,
            months,
            text,
        })
    }
}

/// A local date and time as people write it on paper: `YYYY-MM-DD HH:MM` (or with a `T`), in
/// the hospital's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub date: Date,
    pub minute_of_day: u16,
}

/// A string that is not a `YYYY-MM-DD HH:MM` time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a local time (expected YYYY-MM-DD HH:MM)")]
pub struct LocalTimeError {
    pub value: String,
}

impl LocalTime {
    /// The instant this local time is in a zone `utc_offset_min` minutes east of UTC.
    pub fn to_ms(self, utc_offset_min: i32) -> UnixMs {
        self.date.start_ms(utc_offset_min) + i64::from(self.minute_of_day) * 60_000
    }
}

impl FromStr for LocalTime {
    type Err = LocalTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || LocalTimeError {
            value: s.to_owned(),
        };
        let (date, time) = s
            .split_once(' ')
            .or_else(|| s.split_once('T'))
            .ok_or_else(fail)?;
        let date: Date = date.parse().map_err(|_| fail())?;
        let (h, m) = time.split_once(':').ok_or_else(fail)?;
        let two = |t: &str| {
            (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u16>().ok())
                .flatten()
        };
        let (h, m) = (two(h).ok_or_else(fail)?, two(m).ok_or_else(fail)?);
        if h > 23 || m > 59 {
            return Err(fail());
        }
        Ok(LocalTime {
            date,
            minute_of_day: h * 60 + m,
        })
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days, proleptic Gregorian.
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date {
        year: i32::try_from(year).unwrap_or(i32::MAX),
        month: u8::try_from(month).unwrap_or(1),
        day: u8::try_from(day).unwrap_or(1),
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || DateError {
            value: s.to_owned(),
        };
        let mut parts = s.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(fail());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(fail());
        }
        let year = y.parse().map_err(|_| fail())?;
        let month = m.parse().map_err(|_| fail())?;
        let day = d.parse().map_err(|_| fail())?;
        Date::new(year, month, day).ok_or_else(fail)
    }
}

impl TryFrom<String> for Date {
    type Error = DateError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 10_957, 20_000, 2_000_000] {
            let d = civil_from_days(days);
            assert_eq!(d.days_since_epoch(), days);
        }
        assert_eq!(Date::at(0, 0).to_string(), "1970-01-01");
        // 2026-11-25 16:30 UTC is already 2026-11-26 in Beijing (UTC+8).
        let ms = Date::new(2026, 11, 25)
            .map(|d| d.days_since_epoch())
            .unwrap_or(0)
            * MS_PER_DAY
            + 16 * 3_600_000
            + 30 * 60_000;
        assert_eq!(Date::at(ms, 480).to_string(), "2026-11-26");
    }

    #[test]
    fn parse_refuses_impossible_dates() {
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-13-01".parse::<Date>().is_err());
        assert!("20230101".parse::<Date>().is_err());
        assert!("".parse::<Date>().is_err());
    }

    #[test]
    fn local_times_and_ages() {
        let t: LocalTime = "2026-11-25 09:30".parse().expect("valid");
        assert_eq!(t.to_ms(480), 1_795_568_400_000 + 30 * 60_000);
        assert_eq!("2026-11-25T09:30".parse::<LocalTime>(), Ok(t));
        for bad in [
            "2026-11-25",
            "2026-11-25 9:30",
            "2026-11-25 24:00",
            "x 10:00",
        ] {
            assert!(bad.parse::<LocalTime>().is_err(), "{bad}");
        }
        let born = Date::new(2024, 5, 20).expect("valid");
        let on = |s: &str| born.age_on(s.parse().expect("valid"));
        assert_eq!(on("2024-05-20"), Some((0, 0)));
        assert_eq!(on("2024-06-19"), Some((0, 0)));
        assert_eq!(on("2024-06-20"), Some((0, 1)));
        assert_eq!(on("2026-11-25"), Some((2, 6)));
        assert_eq!(on("2024-05-19"), None);
        let text = |on: &str| Age::of(born, on.parse().expect("valid")).map(|a| a.text);
        assert_eq!(text("2024-06-20").as_deref(), Some("1个月"));
        assert_eq!(text("2026-11-25").as_deref(), Some("2岁6个月"));
        assert_eq!(text("2026-05-20").as_deref(), Some("2岁"));
        assert_eq!(
            text("2027-11-25").as_deref(),
            Some("3岁"),
            "whole years from 3"
        );
    }

    #[test]
    fn weekends_are_saturday_and_sunday() {
        let wed = Date::new(2026, 11, 25).expect("valid date");
        assert_eq!(wed.weekday(), 2);
        assert!(!wed.is_weekend());
        assert!(Date::new(2026, 11, 28).expect("valid date").is_weekend());
    }
}
