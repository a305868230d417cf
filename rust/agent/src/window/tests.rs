use super::*;
use std::path::Path;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn days(names: &[&str]) -> BTreeSet<Day> {
    names.iter().map(|n| parse_day(n).unwrap()).collect()
}

fn window(names: &[&str], start: &str, length: u32) -> Window {
    Window::new(days(names), parse_time(start).unwrap(), length).unwrap()
}

fn schedule(zone: &str, windows: Vec<Window>) -> Schedule {
    let (tz, name) = time_zone(zone, Path::new("/nonexistent/localtime")).unwrap();
    Schedule::new(tz, name, windows)
}

/// The whole minutes in `[from, to)` at which the schedule is open.
fn open_minutes(s: &Schedule, from: &str, to: &str) -> Vec<Timestamp> {
    let (from, to) = (ts(from), ts(to));
    (0..)
        .map(|i| from + SignedDuration::from_mins(i))
        .take_while(|t| *t < to)
        .filter(|t| s.contains(*t))
        .collect()
}

#[test]
fn day_names_are_c_locale_full_or_three_letters_any_case() {
    assert_eq!(parse_day("Mon").unwrap(), Day(Weekday::Monday));
    assert_eq!(parse_day("monday").unwrap(), Day(Weekday::Monday));
    assert_eq!(parse_day("TUESDAY").unwrap(), Day(Weekday::Tuesday));
    assert_eq!(parse_day("thu").unwrap(), Day(Weekday::Thursday));
    assert_eq!(parse_day("Sun").unwrap(), Day(Weekday::Sunday));
    for bad in ["domenica", "tues", "mo", "", "Sunday "] {
        let err = parse_day(bad).unwrap_err();
        assert!(matches!(err, WindowError::UnknownDay(_)), "{bad}");
    }
    let order: Vec<&str> = days(&["sun", "mon", "wed"])
        .iter()
        .map(|d| d.short_name())
        .collect();
    assert_eq!(order, ["Mon", "Wed", "Sun"]);
}

#[test]
fn times_are_24_hour_hh_mm() {
    assert_eq!(parse_time("00:00").unwrap(), 0);
    assert_eq!(parse_time("23:59").unwrap(), 23 * 60 + 59);
    assert_eq!(parse_time("7:05").unwrap(), 425);
    assert_eq!(parse_time("07:5").unwrap(), 425);
    for bad in [
        "24:00", "23:60", "-1:00", "+1:00", "0x0A:00", "1200", "12:345", "", ":", "1:2:3",
    ] {
        assert!(
            matches!(parse_time(bad), Err(WindowError::BadTime(_))),
            "{bad}"
        );
    }
}

#[test]
fn window_needs_days_and_a_length_up_to_a_week() {
    assert!(matches!(
        Window::new(BTreeSet::new(), 0, 10),
        Err(WindowError::NoDays)
    ));
    assert!(matches!(
        Window::new(days(&["Mon"]), 0, 0),
        Err(WindowError::BadLength(0))
    ));
    assert!(Window::new(days(&["Mon"]), 0, WEEK_MINUTES + 1).is_err());
    assert!(Window::new(days(&["Mon"]), 1440, 10).is_err());
    assert!(Window::new(days(&["Mon"]), 0, WEEK_MINUTES).is_ok());
}

#[test]
fn inside_and_outside_in_utc() {
    // 2026-01-07 is a Wednesday.
    let s = schedule("UTC", vec![window(&["Wed"], "01:00", 30)]);
    assert!(!s.contains(ts("2026-01-07T00:59:59Z")));
    assert!(s.contains(ts("2026-01-07T01:00:00Z")));
    assert!(s.contains(ts("2026-01-07T01:29:59Z")));
    assert!(!s.contains(ts("2026-01-07T01:30:00Z")));
    assert!(!s.contains(ts("2026-01-08T01:10:00Z")));
    assert!(s.contains(ts("2026-01-14T01:10:00Z")));
    assert_eq!(s.total_minutes_per_week(), 30);
}

#[test]
fn window_crossing_midnight() {
    // Saturday 2026-01-10 23:30 for an hour.
    let s = schedule("UTC", vec![window(&["Sat"], "23:30", 60)]);
    assert!(!s.contains(ts("2026-01-10T23:29:00Z")));
    assert!(s.contains(ts("2026-01-10T23:45:00Z")));
    assert!(s.contains(ts("2026-01-11T00:29:00Z")));
    assert!(!s.contains(ts("2026-01-11T00:30:00Z")));
}

#[test]
fn window_crossing_sunday_to_monday() {
    let s = schedule("UTC", vec![window(&["Sun"], "23:30", 90)]);
    assert!(s.contains(ts("2026-01-11T23:30:00Z")));
    assert!(s.contains(ts("2026-01-12T00:00:00Z")));
    assert!(s.contains(ts("2026-01-12T00:59:00Z")));
    assert!(!s.contains(ts("2026-01-12T01:00:00Z")));
    assert!(!s.contains(ts("2026-01-11T23:29:00Z")));
    assert_eq!(s.total_minutes_per_week(), 90);
    assert_eq!(
        open_minutes(&s, "2026-01-11T00:00:00Z", "2026-01-13T00:00:00Z").len(),
        90
    );
}

#[test]
fn overlapping_windows_count_once() {
    let s = schedule(
        "UTC",
        vec![
            window(&["Sat"], "22:00", 120),
            window(&["Sat", "Sun"], "23:00", 120),
        ],
    );
    assert!(s.contains(ts("2026-01-10T22:30:00Z")));
    assert!(s.contains(ts("2026-01-11T00:30:00Z")));
    assert!(!s.contains(ts("2026-01-11T01:00:00Z")));
    // Sat 22:00–Sun 01:00 (180) plus Sun 23:00–Mon 01:00 (120).
    assert_eq!(s.total_minutes_per_week(), 300);
    let whole = schedule("UTC", vec![window(&["Mon", "Thu"], "12:00", WEEK_MINUTES)]);
    assert_eq!(whole.total_minutes_per_week(), WEEK_MINUTES);
    assert!(whole.contains(ts("2026-01-10T03:00:00Z")));
}

#[test]
fn next_opening() {
    let s = schedule("UTC", vec![window(&["Wed"], "01:00", 30)]);
    let inside = ts("2026-01-07T01:10:30Z");
    assert_eq!(s.next_opening(inside), Some(inside));
    assert_eq!(
        s.next_opening(ts("2026-01-06T10:00:30Z")),
        Some(ts("2026-01-07T01:00:00Z"))
    );
    // Past this week's window: next week's.
    assert_eq!(
        s.next_opening(ts("2026-01-07T01:30:00Z")),
        Some(ts("2026-01-14T01:00:00Z"))
    );
    assert_eq!(schedule("UTC", vec![]).next_opening(inside), None);
}

#[test]
fn berlin_spring_forward_skips_and_shortens() {
    // 2026-03-29 (last Sunday of March): 02:00 CET jumps to 03:00 CEST.
    let skipped = schedule("Europe/Berlin", vec![window(&["Sun"], "02:00", 60)]);
    let night = ("2026-03-28T12:00:00Z", "2026-03-30T00:00:00Z");
    assert!(open_minutes(&skipped, night.0, night.1).is_empty());
    assert_eq!(
        skipped.next_opening(ts(night.0)),
        Some(ts("2026-04-05T00:00:00Z")) // 02:00 CEST a week later
    );
    // A week earlier (CET) it is an ordinary hour.
    let before = open_minutes(&skipped, "2026-03-21T12:00:00Z", "2026-03-23T00:00:00Z");
    assert_eq!(before.len(), 60);
    assert_eq!(before[0], ts("2026-03-22T01:00:00Z"));

    let shortened = schedule("Europe/Berlin", vec![window(&["Sun"], "02:30", 60)]);
    let open = open_minutes(&shortened, night.0, night.1);
    assert_eq!(open.len(), 30);
    assert_eq!(open[0], ts("2026-03-29T01:00:00Z")); // 03:00 CEST
}

#[test]
fn berlin_fall_back_opens_twice() {
    // 2026-10-25 (last Sunday of October): 03:00 CEST falls back to 02:00 CET.
    let s = schedule("Europe/Berlin", vec![window(&["Sun"], "02:30", 30)]);
    let open = open_minutes(&s, "2026-10-24T12:00:00Z", "2026-10-26T00:00:00Z");
    assert_eq!(open.len(), 60);
    assert_eq!(open[0], ts("2026-10-25T00:30:00Z")); // 02:30 CEST
    assert_eq!(open[29], ts("2026-10-25T00:59:00Z"));
    assert_eq!(open[30], ts("2026-10-25T01:30:00Z")); // 02:30 CET
    assert_eq!(open[59], ts("2026-10-25T01:59:00Z"));
}

#[test]
fn new_york_dst_days() {
    // Zincati's documented example: Sun 01:30 for 60 minutes.
    let s = schedule("America/New_York", vec![window(&["Sun"], "01:30", 60)]);
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT; only 01:30–02:00 EST.
    let spring = open_minutes(&s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z");
    assert_eq!(spring.len(), 30);
    assert_eq!(spring[0], ts("2026-03-08T06:30:00Z"));
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30–02:30 lasts 90 minutes.
    let fall = open_minutes(&s, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
    assert_eq!(fall.len(), 90);
    assert_eq!(fall[0], ts("2026-11-01T05:30:00Z"));
    assert_eq!(fall[89], ts("2026-11-01T07:29:00Z"));
}

#[test]
fn zones_and_localtime() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("localtime");
    let (zone, name) = time_zone("localtime", &missing).unwrap();
    assert_eq!((zone, name.as_str()), (TimeZone::UTC, "UTC"));

    // Dangling symlink: missing too.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &missing).unwrap();
    assert_eq!(time_zone("localtime", &missing).unwrap().1, "UTC");
    std::fs::remove_file(&missing).unwrap();

    // A link into a zoneinfo tree names the zone (looked up by name).
    let target = dir.path().join("zoneinfo/Europe/Berlin");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, &missing).unwrap();
    let (zone, name) = time_zone("localtime", &missing).unwrap();
    assert_eq!(name, "Europe/Berlin");
    assert_eq!(zone, TimeZone::get("Europe/Berlin").unwrap());

    // A plain file that is not TZif is an error naming the file.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"not tzif").unwrap();
    let err = time_zone("localtime", &plain).unwrap_err().to_string();
    assert!(err.starts_with(&plain.display().to_string()), "{err}");

    assert!(matches!(
        time_zone("Mars/Olympus_Mons", &missing),
        Err(WindowError::UnknownZone { .. })
    ));
    assert!(time_zone("Etc/Unknown", &missing).is_err());
    assert_eq!(time_zone("UTC", &missing).unwrap().0, TimeZone::UTC);
}

#[test]
fn localtime_as_a_tzif_file() {
    let host = Path::new("/usr/share/zoneinfo/Europe/Berlin");
    let Ok(data) = std::fs::read(host) else {
        eprintln!("skipped: {} is absent", host.display());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("localtime");
    std::fs::write(&copy, data).unwrap();
    let (zone, name) = time_zone("localtime", &copy).unwrap();
    assert_eq!(name, "localtime");
    let s = Schedule::new(zone, name, vec![window(&["Sun"], "02:00", 60)]);
    assert!(s.contains(ts("2026-03-22T01:30:00Z")));
}

#[test]
fn descriptions() {
    let s = schedule(
        "Europe/Berlin",
        vec![
            window(&["sun", "Sat"], "23:30", 60),
            window(&["Wed"], "1:00", 30),
        ],
    );
    assert_eq!(
        s.to_string(),
        "periodic (Europe/Berlin, 150 min/week): Sat,Sun 23:30 for 60 min; Wed 01:00 for 30 min"
    );
}
