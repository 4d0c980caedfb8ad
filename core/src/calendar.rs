//! Working days from a calendar, not Monday to Friday: China's public holidays and the
//! make-up working days that move the week's rest days (调休), as data.
//!
//! The plan counts re-settlement deadlines in working days ("财务结算部门在故障排除后7个工作日
//! 内凭原手工收据,为医保病人重新划卡结算"). The shipped calendar (`data/calendar-cn.txt`,
//! 2026 as arranged by the State Council, 2027 provisional) can be replaced by the hospital's
//! own file in the same format (`[hospital] calendar`). Outside the years a calendar covers,
//! Monday to Friday are working days; [`WorkCalendar::covers`] says when that is the case so
//! that `status` can warn.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use crate::clock::Date;

/// What a listed day is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayKind {
    /// A public holiday, or a working day moved off by the arrangement.
    Off,
    /// A Saturday or Sunday that is a working day.
    Work,
}

/// A working-day calendar: the years it covers, and its exceptions to the usual week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    /// Where it came from (the shipped data, or a file), for messages.
    pub source: String,
    years: BTreeSet<i32>,
    days: BTreeMap<Date, (DayKind, String)>,
}

/// A calendar file that cannot be used, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name} line {line}: {reason}")]
pub struct CalendarError {
    pub source_name: String,
    pub line: usize,
    pub reason: String,
}

/// The most working days a deadline may be counted over (a bound on the loop).
pub const MAX_WORKING_DAYS: u32 = 366;

static CHINA: OnceLock<Arc<WorkCalendar>> = OnceLock::new();

impl WorkCalendar {
    /// The shipped calendar of China, 2026–2027 (`data/calendar-cn.txt`).
    pub fn china() -> Arc<WorkCalendar> {
        CHINA
            .get_or_init(|| {
                let parsed = WorkCalendar::parse(
                    "the shipped calendar (data/calendar-cn.txt)",
                    include_str!("../../data/calendar-cn.txt"),
                );
                // The shipped file is checked by a unit test; an empty calendar (Monday to
                // Friday) is the safe fallback should it ever not parse.
                Arc::new(parsed.unwrap_or_else(|_| WorkCalendar::weekdays_only()))
            })
            .clone()
    }

    /// Monday to Friday, every year.
    pub fn weekdays_only() -> WorkCalendar {
        WorkCalendar {
            source: "Monday to Friday".into(),
            years: BTreeSet::new(),
            days: BTreeMap::new(),
        }
    }

    /// Reads a calendar in the format of `data/calendar-cn.txt`.
    pub fn parse(source_name: &str, text: &str) -> Result<WorkCalendar, CalendarError> {
        let mut cal = WorkCalendar {
            source: source_name.to_owned(),
            years: BTreeSet::new(),
            days: BTreeMap::new(),
        };
        for (i, raw) in text.lines().enumerate() {
            let fail = |reason: String| CalendarError {
                source_name: source_name.to_owned(),
                line: i + 1,
                reason,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(first), Some(second)) = (words.next(), words.next()) else {
                return Err(fail(format!(
                    "{line:?} is not `year YYYY` nor `YYYY-MM-DD off|work [name]`"
                )));
            };
            if first == "year" {
                let year: i32 = second
                    .parse()
                    .ok()
                    .filter(|y| (1970..=9999).contains(y))
                    .ok_or_else(|| fail(format!("{second:?} is not a year")))?;
                cal.years.insert(year);
                continue;
            }
            let date: Date = first.parse().map_err(|e| fail(format!("{e}")))?;
            if !cal.years.contains(&date.year) {
                return Err(fail(format!(
                    "{date} comes before a `year {}` line covering it",
                    date.year
                )));
            }
            let kind = match second {
                "off" => DayKind::Off,
                "work" if date.is_weekend() => DayKind::Work,
                "work" => {
                    return Err(fail(format!(
                        "{date} is a weekday: only a Saturday or Sunday can be a make-up working day"
                    )));
                }
                other => return Err(fail(format!("{other:?} is neither `off` nor `work`"))),
            };
            let name = words.collect::<Vec<_>>().join(" ");
            if cal.days.insert(date, (kind, name)).is_some() {
                return Err(fail(format!("{date} is listed twice")));
            }
        }
        Ok(cal)
    }

    /// Whether the calendar has data for `date`'s year.
    pub fn covers(&self, date: Date) -> bool {
        self.years.contains(&date.year)
    }

    /// The last day of the last year the calendar covers.
    pub fn last_covered(&self) -> Option<Date> {
        self.years.last().and_then(|y| Date::new(*y, 12, 31))
    }

    /// Whether people work on `date`.
    pub fn is_working_day(&self, date: Date) -> bool {
        match self.days.get(&date) {
            Some((DayKind::Off, _)) => false,
            Some((DayKind::Work, _)) => true,
            None => !date.is_weekend(),
        }
    }

    /// The name of a listed day (`春节`, `国庆节调休上班`), if any.
    pub fn day_name(&self, date: Date) -> Option<&str> {
        self.days
            .get(&date)
            .map(|(_, n)| n.as_str())
            .filter(|n| !n.is_empty())
    }

    /// The date `n` working days after `date` (at most [`MAX_WORKING_DAYS`]).
    pub fn add_working_days(&self, date: Date, n: u32) -> Date {
        let mut day = date;
        let mut left = n.min(MAX_WORKING_DAYS);
        while left > 0 {
            day = day.add_days(1);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().expect("valid date")
    }

    #[test]
    fn the_shipped_calendar_parses_and_covers_2026_and_2027() {
        let text = include_str!("../../data/calendar-cn.txt");
        let cal = WorkCalendar::parse("the shipped calendar (data/calendar-cn.txt)", text)
            .expect("the shipped calendar parses");
        assert!(cal.covers(d("2026-06-01")) && cal.covers(d("2027-12-31")));
        assert!(!cal.covers(d("2028-01-03")));
        assert_eq!(cal.last_covered(), Some(d("2027-12-31")));
        assert_eq!(*WorkCalendar::china(), cal);
        // Spring Festival 2026: nine days off, and two Saturdays worked.
        for day in 15..=23 {
            let date = Date::new(2026, 2, day).expect("valid");
            assert!(!cal.is_working_day(date), "{date} is a holiday");
        }
        assert!(cal.is_working_day(d("2026-02-14")), "Saturday worked");
        assert!(cal.is_working_day(d("2026-02-28")), "Saturday worked");
        assert_eq!(cal.day_name(d("2026-10-10")), Some("国庆节调休上班"));
    }

    /// "财务结算部门在故障排除后7个工作日内凭原手工收据,为医保病人重新划卡结算" (the plan:
    /// re-settled within 7 working days after the fault is cleared): working days skip
    /// weekends and public holidays and count make-up Saturdays and Sundays.
    #[test]
    fn seven_working_days_follow_the_calendar_not_monday_to_friday() {
        let cal = WorkCalendar::china();
        // An ordinary week: Wednesday 2026-11-25 + 7 = Friday 2026-12-04.
        assert_eq!(cal.add_working_days(d("2026-11-25"), 7), d("2026-12-04"));
        // Across National Day: from Wednesday 2026-09-30, Oct 1-7 are off and Saturday
        // Oct 10 is worked: Oct 8, 9, 10, 12, 13, 14, 15.
        assert_eq!(cal.add_working_days(d("2026-09-30"), 7), d("2026-10-15"));
        // Monday to Friday alone would have said Friday 2026-10-09.
        let plain = WorkCalendar::weekdays_only();
        assert_eq!(plain.add_working_days(d("2026-09-30"), 7), d("2026-10-09"));
        // Across the Spring Festival: from Friday 2026-02-13, Saturday 14 is worked, 15-23
        // are off: 14, 24, 25, 26, 27, 28 (Saturday, worked), Monday Mar 2.
        assert_eq!(cal.add_working_days(d("2026-02-13"), 7), d("2026-03-02"));
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = WorkCalendar::parse("x", "2026-01-01 off\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.to_string().contains("year 2026"), "{err}");
        let err = WorkCalendar::parse("x", "year 2026\n2026-01-05 work\n").unwrap_err();
        assert!(err.to_string().contains("weekday"), "{err}");
        let err =
            WorkCalendar::parse("x", "year 2026\n2026-01-01 off\n2026-01-01 off\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(WorkCalendar::parse("x", "year 20x6\n").is_err());
        assert!(WorkCalendar::parse("x", "year 2026\n2026-13-01 off\n").is_err());
        assert!(WorkCalendar::parse("x", "year 2026\n2026-01-01 maybe\n").is_err());
        let ok = WorkCalendar::parse("x", "# nothing but a year\nyear 2030\n").expect("parses");
        assert!(ok.covers(d("2030-05-05")));
    }
}
