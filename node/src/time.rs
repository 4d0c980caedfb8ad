//! Times as people in the hospital read them: the hospital's fixed offset from UTC
//! (`[hospital] utc_offset`, +08:00 by default), and instants in it. Every report and CLI
//! line that shows a time to a person goes through [`UtcOffset`].

use std::fmt;
use std::str::FromStr;

use lifeline_core::Date;
use serde::{Deserialize, Serialize};

/// The furthest west and east a civil time zone lies, in minutes.
const WEST_MOST_MIN: i32 = -12 * 60;
const EAST_MOST_MIN: i32 = 14 * 60;
const MS_PER_DAY: i64 = 86_400_000;

/// A fixed offset from UTC, written `+HH:MM` or `-HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UtcOffset {
    minutes: i32,
}

/// A text that is not a UTC offset Lifeline takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a UTC offset: write +HH:MM or -HH:MM, between -12:00 and +14:00 (e.g. \"+08:00\")"
)]
pub struct OffsetError {
    pub value: String,
}

impl UtcOffset {
    /// China Standard Time, the default.
    pub const CHINA: UtcOffset = UtcOffset { minutes: 8 * 60 };

    /// An offset of `minutes` east of UTC, if a time zone can have it.
    pub fn from_minutes(minutes: i32) -> Option<UtcOffset> {
        (WEST_MOST_MIN..=EAST_MOST_MIN)
            .contains(&minutes)
            .then_some(UtcOffset { minutes })
    }

    /// Minutes east of UTC (what `StoreOptions::utc_offset_min` takes).
    pub fn minutes(self) -> i32 {
        self.minutes
    }

    /// How reports name the zone: `UTC+8`, `UTC-5`, `UTC+5:30`.
    pub fn label(self) -> String {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let (h, m) = (self.minutes.abs() / 60, self.minutes.abs() % 60);
        if m == 0 {
            format!("UTC{sign}{h}")
        } else {
            format!("UTC{sign}{h}:{m:02}")
        }
    }

    /// The offset as a POSIX time zone (`<+08>-08`, `<-0330>+03:30`): what PostgreSQL's
    /// `TimeZone` takes for a fixed offset. POSIX counts hours west of UTC, hence the signs.
    pub fn posix_zone(self) -> String {
        let east = self.minutes >= 0;
        let (h, m) = (self.minutes.abs() / 60, self.minutes.abs() % 60);
        let (name_sign, offset_sign) = if east { ('+', '-') } else { ('-', '+') };
        if m == 0 {
            format!("<{name_sign}{h:02}>{offset_sign}{h:02}")
        } else {
            format!("<{name_sign}{h:02}{m:02}>{offset_sign}{h:02}:{m:02}")
        }
    }

    /// The civil date at `ms` (milliseconds since the epoch).
    pub fn date(self, ms: i64) -> Date {
        Date::at(ms, self.minutes)
    }

    /// `ms` as local time, `YYYY-MM-DD HH:MM:SS`.
    pub fn local(self, ms: i64) -> String {
        let secs = (ms + i64::from(self.minutes) * 60_000).rem_euclid(MS_PER_DAY) / 1000;
        format!(
            "{} {:02}:{:02}:{:02}",
            self.date(ms),
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// `ms` as an RFC 3339 date-time in this offset, `YYYY-MM-DDTHH:MM:SS+08:00` (FHIR's
    /// dateTime and instant).
    pub fn rfc3339(self, ms: i64) -> String {
        format!("{}{self}", self.local(ms).replacen(' ', "T", 1))
    }
}

impl Default for UtcOffset {
    fn default() -> Self {
        UtcOffset::CHINA
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let abs = self.minutes.abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

impl FromStr for UtcOffset {
    type Err = OffsetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || OffsetError {
            value: s.to_owned(),
        };
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(err()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(err)?;
        let two_digits = |t: &str| {
            (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<i32>().ok())
                .flatten()
        };
        let (h, m) = (
            two_digits(h).ok_or_else(err)?,
            two_digits(m).ok_or_else(err)?,
        );
        if m >= 60 {
            return Err(err());
        }
        UtcOffset::from_minutes(sign * (h * 60 + m)).ok_or_else(err)
    }
}

impl TryFrom<String> for UtcOffset {
    type Error = OffsetError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<UtcOffset> for String {
    fn from(o: UtcOffset) -> String {
        o.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-25 01:00:00 UTC.
    const AT: i64 = 1_795_568_400_000;

    #[test]
    fn the_default_is_china_and_reads_as_before() {
        let o = UtcOffset::default();
        assert_eq!(o.minutes(), 480);
        assert_eq!(o.to_string(), "+08:00");
        assert_eq!(o.label(), "UTC+8");
        assert_eq!(o.local(AT), "2026-11-25 09:00:00");
        assert_eq!(o.posix_zone(), "<+08>-08");
    }

    #[test]
    fn posix_zones_count_west_of_utc() {
        let zone = |s: &str| s.parse::<UtcOffset>().expect("valid").posix_zone();
        assert_eq!(zone("-05:00"), "<-05>+05");
        assert_eq!(zone("+05:30"), "<+0530>-05:30");
        assert_eq!(zone("-03:30"), "<-0330>+03:30");
        assert_eq!(zone("+00:00"), "<+00>-00");
    }

    #[test]
    fn other_offsets_move_the_clock_and_the_date() {
        let new_york: UtcOffset = "-05:00".parse().expect("valid");
        assert_eq!(new_york.local(AT), "2026-11-24 20:00:00");
        assert_eq!(new_york.label(), "UTC-5");
        let delhi: UtcOffset = "+05:30".parse().expect("valid");
        assert_eq!(delhi.local(AT), "2026-11-25 06:30:00");
        assert_eq!(delhi.label(), "UTC+5:30");
        assert_eq!(delhi.to_string(), "+05:30");
        let utc: UtcOffset = "+00:00".parse().expect("valid");
        assert_eq!(utc.local(AT - 1), "2026-11-25 00:59:59");
        assert_eq!(utc.label(), "UTC+0");
    }

    #[test]
    fn only_well_formed_offsets_of_real_zones_are_taken() {
        for bad in [
            "", "8", "+8", "08:00", "+08", "+08:0", "+8:00", "+08:60", "+14:01", "-12:30", "UTC+8",
            "+０8:00",
        ] {
            assert!(bad.parse::<UtcOffset>().is_err(), "{bad:?} was taken");
        }
        let err = "+25:00".parse::<UtcOffset>().unwrap_err().to_string();
        assert!(
            err.contains("\"+25:00\"") && err.contains("+HH:MM"),
            "{err}"
        );
        assert!("+14:00".parse::<UtcOffset>().is_ok());
        assert!("-12:00".parse::<UtcOffset>().is_ok());
    }
}
