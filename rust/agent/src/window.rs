//! Periodic reboot windows: weekly wall-clock intervals in one time zone
//! (the `periodic` strategy, Zincati's port of locksmith's windows).
//!
//! A window is "these days, from `hh:mm`, for N minutes". A point in time
//! is converted to the zone's wall clock and then to minutes since Monday
//! 00:00; a window may run past midnight and past Sunday→Monday (it wraps
//! into the start of the week). Because the test is on the wall clock, a
//! DST change lengthens, shortens or skips a window, as Zincati documents:
//! a `02:00 +60` window on a spring-forward night never opens, a
//! `02:30 +30` window on a fall-back night is open for 60 real minutes.

mod zone;

pub use zone::{time_zone, LOCALTIME};

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

/// Minutes in a day.
const DAY_MINUTES: u32 = 24 * 60;
/// Minutes in a week; also the longest window.
pub const WEEK_MINUTES: u32 = 7 * DAY_MINUTES;

/// Why a window or time zone is invalid. The caller (config) adds the
/// file and key.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// Not a C-locale day name.
    #[error("{0:?} is not a day name (Mon…Sun or Monday…Sunday)")]
    UnknownDay(String),
    /// `days = []`.
    #[error("no days listed")]
    NoDays,
    /// Not `hh:mm` on a 24-hour clock.
    #[error("{0:?} is not a 24-hour hh:mm time")]
    BadTime(String),
    /// Zero, negative, or longer than a week.
    #[error("{0} is not between 1 and {WEEK_MINUTES} (a week)")]
    BadLength(i64),
    /// Not in the time zone database.
    #[error("{name:?} is not a known time zone: {reason}")]
    UnknownZone {
        /// The configured name.
        name: String,
        /// What the database said.
        reason: String,
    },
    /// `/etc/localtime` exists but could not be used.
    #[error("{}: {reason}", path.display())]
    Localtime {
        /// The localtime file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A day of the week, ordered Monday first (jiff's `Weekday` has no order,
/// so it cannot sit in a `BTreeSet` by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Day(pub Weekday);

impl Day {
    /// Days since Monday (0–6).
    pub fn index(self) -> u32 {
        self.0.to_monday_zero_offset().unsigned_abs().into()
    }

    /// The three-letter C-locale name (`Mon`).
    pub fn short_name(self) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self.index() as usize]
    }
}

impl Ord for Day {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index().cmp(&other.index())
    }
}

impl PartialOrd for Day {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses a C-locale day name, full or three letters, any case (`sat`,
/// `Saturday`).
pub fn parse_day(name: &str) -> Result<Day, WindowError> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = name.to_ascii_lowercase();
    let index = FULL
        .iter()
        .position(|full| lower == *full || (lower.len() == 3 && full.starts_with(&lower)))
        .ok_or_else(|| WindowError::UnknownDay(name.to_string()))?;
    let offset = i8::try_from(index).expect("seven days");
    Ok(Day(
        Weekday::from_monday_zero_offset(offset).expect("index below 7")
    ))
}

/// Parses `hh:mm` (24-hour clock; like Zincati, one or two digits each)
/// into minutes after midnight.
pub fn parse_time(text: &str) -> Result<u16, WindowError> {
    let bad = || WindowError::BadTime(text.to_string());
    let (hh, mm) = text.split_once(':').ok_or_else(bad)?;
    let field = |s: &str, max: u16| -> Option<u16> {
        let ok = (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| s.parse().ok()).flatten().filter(|v| *v <= max)
    };
    let hour = field(hh, 23).ok_or_else(bad)?;
    let minute = field(mm, 59).ok_or_else(bad)?;
    Ok(hour * 60 + minute)
}

/// One `[[updates.periodic.window]]`: the same wall-clock interval on
/// each of its days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    days: BTreeSet<Day>,
    start_minute: u16,
    length_minutes: u32,
}

impl Window {
    /// A window on `days` from `start_minute` after midnight for
    /// `length_minutes` (1 to a week).
    pub fn new(
        days: BTreeSet<Day>,
        start_minute: u16,
        length_minutes: u32,
    ) -> Result<Window, WindowError> {
        if days.is_empty() {
            return Err(WindowError::NoDays);
        }
        if u32::from(start_minute) >= DAY_MINUTES {
            let (h, m) = (start_minute / 60, start_minute % 60);
            return Err(WindowError::BadTime(format!("{h:02}:{m:02}")));
        }
        if length_minutes == 0 || length_minutes > WEEK_MINUTES {
            return Err(WindowError::BadLength(length_minutes.into()));
        }
        Ok(Window {
            days,
            start_minute,
            length_minutes,
        })
    }

    /// The days it starts on.
    pub fn days(&self) -> &BTreeSet<Day> {
        &self.days
    }

    /// Minutes after midnight it starts at.
    pub fn start_minute(&self) -> u16 {
        self.start_minute
    }

    /// Its length in minutes.
    pub fn length_minutes(&self) -> u32 {
        self.length_minutes
    }

    /// The `[start, end)` intervals in minutes since Monday 00:00, one
    /// per day; `end` may pass the end of the week (the caller wraps).
    fn spans(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.days.iter().map(|day| {
            let start = day.index() * DAY_MINUTES + u32::from(self.start_minute);
            (start, start + self.length_minutes)
        })
    }

    /// Whether the week minute `m` (0 ≤ m < a week) lies in the window;
    /// a span running past Sunday 24:00 also covers the week's start.
    fn contains_week_minute(&self, m: u32) -> bool {
        self.spans().any(|(start, end)| {
            (start..end).contains(&m) || (start..end).contains(&(m + WEEK_MINUTES))
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<&str> = self.days.iter().map(|d| d.short_name()).collect();
        let (h, m) = (self.start_minute / 60, self.start_minute % 60);
        write!(
            f,
            "{} {h:02}:{m:02} for {} min",
            days.join(","),
            self.length_minutes
        )
    }
}

/// The periodic strategy's windows and the zone their clock times are in.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    zone: TimeZone,
    zone_name: String,
    windows: Vec<Window>,
}

impl Schedule {
    /// A schedule of `windows` read on the wall clock of `zone` (named
    /// `zone_name` in logs).
    pub fn new(zone: TimeZone, zone_name: impl Into<String>, windows: Vec<Window>) -> Schedule {
        Schedule {
            zone,
            zone_name: zone_name.into(),
            windows,
        }
    }

    /// The time zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The time zone's name (`UTC`, `Europe/Berlin`).
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The windows, in configuration order.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Minutes since Monday 00:00 on the zone's wall clock at `now`.
    fn week_minute(&self, now: Timestamp) -> u32 {
        let local = self.zone.to_datetime(now);
        let day = Day(local.weekday()).index();
        let hour = u32::from(local.hour().unsigned_abs());
        let minute = u32::from(local.minute().unsigned_abs());
        day * DAY_MINUTES + hour * 60 + minute
    }

    /// Whether a window is open at `now`.
    pub fn contains(&self, now: Timestamp) -> bool {
        let m = self.week_minute(now);
        self.windows.iter().any(|w| w.contains_week_minute(m))
    }

    /// The first instant at or after `now` at which a window is open:
    /// `now` itself when one is open, else the next whole minute that is.
    /// `None` only for a schedule without windows. The search (minute by
    /// minute) spans 15 days, because a DST gap can skip a weekly window
    /// once.
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        if self.contains(now) {
            return Some(now);
        }
        let first = Timestamp::from_second(now.as_second().div_euclid(60) * 60).ok()?;
        (1..=15 * i64::from(DAY_MINUTES))
            .filter_map(|i| first.checked_add(SignedDuration::from_mins(i)).ok())
            .find(|t| self.contains(*t))
    }

    /// Wall-clock minutes per week in some window (overlaps counted once);
    /// the metric `periodic_schedule_length_minutes`.
    pub fn total_minutes_per_week(&self) -> u32 {
        let mut covered = vec![false; WEEK_MINUTES as usize];
        for (start, end) in self.windows.iter().flat_map(|w| w.spans()) {
            for m in start..end {
                covered[(m % WEEK_MINUTES) as usize] = true;
            }
        }
        let open = covered.iter().filter(|c| **c).count();
        u32::try_from(open).expect("at most a week of minutes")
    }
}

impl fmt::Display for Schedule {
    /// `periodic (Europe/Berlin, 120 min/week): Sat,Sun 23:30 for 60 min`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let windows: Vec<String> = self.windows.iter().map(Window::to_string).collect();
        write!(
            f,
            "periodic ({}, {} min/week): {}",
            self.zone_name,
            self.total_minutes_per_week(),
            windows.join("; ")
        )
    }
}

#[cfg(test)]
mod tests;
