//! The campaign engine's decisions, as pure functions of their inputs: whether a
//! contact's calling window is open (in the contact's time zone, DST-correct; a stored
//! window that cannot be read closes it for good), what follows a finished call (retry
//! or done), and when the next call may start.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::campaign::{CallingWindow, CampaignSettings};
use crate::time::Timestamp;

/// A calling window, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Allowed days; every day when empty.
    pub days: Vec<Weekday>,
    pub timezone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("{0}: expected a time as HH:MM")]
    Time(String),
    #[error(
        "the window must end after it starts (got {start}–{end}); windows over midnight are not supported"
    )]
    Order { start: String, end: String },
    #[error("{0}: expected a day as mon, tue, wed, thu, fri, sat or sun")]
    Day(String),
    #[error("{0}: not an IANA time zone (e.g. America/New_York)")]
    TimeZone(String),
}

pub fn parse_timezone(name: &str) -> Result<Tz, WindowError> {
    name.parse::<Tz>()
        .map_err(|_| WindowError::TimeZone(name.to_string()))
}

fn parse_time(s: &str) -> Result<NaiveTime, WindowError> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| WindowError::Time(s.to_string()))
}

fn parse_day(s: &str) -> Result<Weekday, WindowError> {
    match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Ok(Weekday::Mon),
        "tue" | "tuesday" => Ok(Weekday::Tue),
        "wed" | "wednesday" => Ok(Weekday::Wed),
        "thu" | "thursday" => Ok(Weekday::Thu),
        "fri" | "friday" => Ok(Weekday::Fri),
        "sat" | "saturday" => Ok(Weekday::Sat),
        "sun" | "sunday" => Ok(Weekday::Sun),
        _ => Err(WindowError::Day(s.to_string())),
    }
}

impl Window {
    pub fn parse(w: &CallingWindow) -> Result<Self, WindowError> {
        let (start, end) = (parse_time(&w.start)?, parse_time(&w.end)?);
        if end <= start {
            return Err(WindowError::Order {
                start: w.start.clone(),
                end: w.end.clone(),
            });
        }
        Ok(Self {
            start,
            end,
            days: w
                .days
                .iter()
                .map(|d| parse_day(d))
                .collect::<Result<_, _>>()?,
            timezone: parse_timezone(&w.timezone)?,
        })
    }

    fn allows(&self, day: Weekday) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }

    /// Whether the window is open at `now` for a contact in `tz`, or when it opens next.
    pub fn state_at(&self, tz: Tz, now: Timestamp) -> WindowState {
        let today = now.with_timezone(&tz).date_naive();
        for offset in 0..=7 {
            let Some(date) = today.checked_add_signed(Duration::days(offset)) else {
                break;
            };
            if !self.allows(date.weekday()) {
                continue;
            }
            let (open, close) = (local(tz, date, self.start), local(tz, date, self.end));
            if open <= now && now < close {
                return WindowState::Open;
            }
            if now < open {
                return WindowState::OpensAt(open);
            }
        }
        WindowState::Never
    }
}

/// The instant a local wall-clock time names. In a DST gap (the clock jumps over it)
/// the window starts when the clock lands after the jump; in an overlap, the first.
fn local(tz: Tz, date: NaiveDate, time: NaiveTime) -> Timestamp {
    let naive = date.and_time(time);
    for minutes in 0..=180 {
        if let Some(t) = tz
            .from_local_datetime(&(naive + Duration::minutes(minutes)))
            .earliest()
        {
            return t.to_utc();
        }
    }
    // No zone has a gap of three hours; the UTC reading is a safe fallback.
    naive.and_utc()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    Open,
    OpensAt(Timestamp),
    /// No allowed day (cannot happen once parsed, kept total).
    Never,
}

/// Whether a campaign contact may be dialled now, as far as its calling window says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowVerdict {
    Open,
    OpensAt(Timestamp),
    /// The stored window cannot be evaluated (unknown time zone or day, a bad time,
    /// start not before end, no day it ever opens): nobody is dialled under it. The API
    /// refuses such windows, but migrated or hand-edited documents can hold them.
    Invalid(String),
}

/// The calling-window rule, failing closed: no window means open; a window that
/// cannot be read means no dial, never "open". The contact's own time zone applies
/// when it is a known IANA name, else the window's.
pub fn window_verdict(
    window: Option<&CallingWindow>,
    contact_timezone: Option<&str>,
    now: Timestamp,
) -> WindowVerdict {
    let Some(w) = window else {
        return WindowVerdict::Open;
    };
    let parsed = match Window::parse(w) {
        Ok(p) => p,
        Err(e) => return WindowVerdict::Invalid(e.to_string()),
    };
    let tz = contact_timezone
        .and_then(|z| parse_timezone(z).ok())
        .unwrap_or(parsed.timezone);
    match parsed.state_at(tz, now) {
        WindowState::Open => WindowVerdict::Open,
        WindowState::OpensAt(t) => WindowVerdict::OpensAt(t),
        WindowState::Never => WindowVerdict::Invalid("the window never opens".into()),
    }
}

/// What follows a finished call of a campaign contact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterCall {
    Retry {
        at: Timestamp,
    },
    /// No retry: `completed` when the call was answered, else `failed`.
    Done {
        answered: bool,
    },
}

/// `outcome` is the call's outcome (`held`, `voicemail`, `busy`, `no-answer`, `failed`,
/// `canceled`, `unknown`); `attempts` counts the calls placed so far, this one included.
/// A retry follows when the outcome is in `retryOn` and fewer than `1 + retryCount`
/// calls were placed.
pub fn after_call(
    outcome: &str,
    attempts: i64,
    settings: &CampaignSettings,
    now: Timestamp,
) -> AfterCall {
    let answered = matches!(outcome, "held" | "voicemail");
    if settings.retry_on.iter().any(|r| r == outcome) && attempts <= settings.retry_count {
        return AfterCall::Retry {
            at: now + seconds(settings.retry_delay),
        };
    }
    AfterCall::Done { answered }
}

/// A duration from fractional seconds (negative or NaN count as zero).
pub fn seconds(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::microseconds((s * 1_000_000.0).min(i64::MAX as f64 / 2.0) as i64)
    } else {
        Duration::zero()
    }
}

/// The earliest instant the campaign's next call may start: `callDelay` after the last
/// start, and not before `now`.
pub fn next_start(last_start: Option<Timestamp>, call_delay: f64, now: Timestamp) -> Timestamp {
    match last_start {
        Some(last) => (last + seconds(call_delay)).max(now),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Timelike, Utc};
    use proptest::prelude::*;

    fn window(start: &str, end: &str, days: &[&str], tz: &str) -> Window {
        Window::parse(&CallingWindow {
            start: start.into(),
            end: end.into(),
            days: days.iter().map(|d| d.to_string()).collect(),
            timezone: tz.into(),
        })
        .expect("valid window")
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().expect("RFC 3339")
    }

    #[test]
    fn open_in_the_contacts_zone_not_the_servers() {
        let w = window("09:00", "20:00", &[], "America/New_York");
        let ny: Tz = "America/New_York".parse().expect("tz");
        let sydney: Tz = "Australia/Sydney".parse().expect("tz");
        // 14:00 UTC in January is 09:00 in New York and 01:00 next day in Sydney.
        let t = utc("2026-01-15T14:00:00Z");
        assert_eq!(w.state_at(ny, t), WindowState::Open);
        assert_eq!(
            w.state_at(sydney, t),
            WindowState::OpensAt(utc("2026-01-15T22:00:00Z"))
        );
        assert_eq!(
            w.state_at(ny, utc("2026-01-15T13:59:00Z")),
            WindowState::OpensAt(t)
        );
    }

    #[test]
    fn follows_daylight_saving_time() {
        let w = window("09:00", "17:00", &[], "America/New_York");
        let ny: Tz = "America/New_York".parse().expect("tz");
        // 09:00 New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
        assert_eq!(
            w.state_at(ny, utc("2026-03-06T12:00:00Z")),
            WindowState::OpensAt(utc("2026-03-06T14:00:00Z"))
        );
        assert_eq!(
            w.state_at(ny, utc("2026-03-09T12:00:00Z")),
            WindowState::OpensAt(utc("2026-03-09T13:00:00Z"))
        );
    }

    #[test]
    fn a_start_inside_the_spring_gap_opens_when_the_clock_lands() {
        // On 2026-03-08 New York's clocks go from 02:00 to 03:00.
        let w = window("02:30", "04:00", &[], "America/New_York");
        let ny: Tz = "America/New_York".parse().expect("tz");
        assert_eq!(
            w.state_at(ny, utc("2026-03-08T05:00:00Z")),
            WindowState::OpensAt(utc("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn skips_days_not_allowed() {
        // 2026-01-16 is a Friday; the next allowed day is Monday the 19th.
        let w = window("09:00", "17:00", &["mon"], "Europe/London");
        let london: Tz = "Europe/London".parse().expect("tz");
        assert_eq!(
            w.state_at(london, utc("2026-01-16T10:00:00Z")),
            WindowState::OpensAt(utc("2026-01-19T09:00:00Z"))
        );
    }

    #[test]
    fn bad_windows_are_refused_with_the_reason() {
        let bad = |start: &str, end: &str, day: &str, tz: &str| {
            Window::parse(&CallingWindow {
                start: start.into(),
                end: end.into(),
                days: vec![day.into()],
                timezone: tz.into(),
            })
            .expect_err("invalid")
            .to_string()
        };
        assert!(bad("9am", "17:00", "mon", "UTC").contains("HH:MM"));
        assert!(bad("18:00", "09:00", "mon", "UTC").contains("end after"));
        assert!(bad("09:00", "17:00", "funday", "UTC").contains("funday"));
        assert!(bad("09:00", "17:00", "mon", "Mars/Olympus").contains("IANA"));
    }

    #[test]
    fn an_unreadable_stored_window_fails_closed() {
        let at = |start: &str, end: &str, days: &[&str], tz: &str| {
            let w = CallingWindow {
                start: start.into(),
                end: end.into(),
                days: days.iter().map(|d| d.to_string()).collect(),
                timezone: tz.into(),
            };
            window_verdict(Some(&w), None, utc("2026-01-15T14:00:00Z"))
        };
        for verdict in [
            at("09:00", "17:00", &[], "Mars/Olympus"),
            at("09:00", "09:00", &[], "UTC"),
            at("09:00", "17:00", &["funday"], "UTC"),
            at("9", "17:00", &[], "UTC"),
            at("18:00", "09:00", &[], "UTC"),
        ] {
            assert!(
                matches!(verdict, WindowVerdict::Invalid(_)),
                "{verdict:?} must not dial"
            );
        }
        // The same window, readable, is open at that instant.
        assert_eq!(at("09:00", "17:00", &[], "UTC"), WindowVerdict::Open);
        assert_eq!(
            window_verdict(None, None, utc("2026-01-15T03:00:00Z")),
            WindowVerdict::Open,
            "no window: always open"
        );
    }

    #[test]
    fn the_contacts_zone_wins_and_a_bad_one_falls_back_to_the_windows() {
        let w = CallingWindow {
            start: "09:00".into(),
            end: "17:00".into(),
            days: vec![],
            timezone: "UTC".into(),
        };
        // 14:00 UTC is 09:00 in New York in January: open there; 01:00 in Sydney.
        let t = utc("2026-01-15T14:00:00Z");
        assert_eq!(
            window_verdict(Some(&w), Some("America/New_York"), t),
            WindowVerdict::Open
        );
        assert!(matches!(
            window_verdict(Some(&w), Some("Australia/Sydney"), t),
            WindowVerdict::OpensAt(_)
        ));
        assert_eq!(
            window_verdict(Some(&w), Some("Nowhere/Else"), t),
            WindowVerdict::Open
        );
    }

    #[test]
    fn retries_only_listed_outcomes_up_to_the_count() {
        let s = CampaignSettings {
            retry_count: 2,
            retry_delay: 60.0,
            retry_on: vec!["busy".into(), "no-answer".into()],
            ..Default::default()
        };
        let now = Utc::now();
        let later = now + Duration::seconds(60);
        assert_eq!(
            after_call("busy", 1, &s, now),
            AfterCall::Retry { at: later }
        );
        assert_eq!(
            after_call("no-answer", 2, &s, now),
            AfterCall::Retry { at: later }
        );
        assert_eq!(
            after_call("busy", 3, &s, now),
            AfterCall::Done { answered: false }
        );
        assert_eq!(
            after_call("failed", 1, &s, now),
            AfterCall::Done { answered: false }
        );
        assert_eq!(
            after_call("held", 1, &s, now),
            AfterCall::Done { answered: true }
        );
    }

    fn any_zone() -> impl Strategy<Value = Tz> {
        proptest::sample::select(vec![
            "America/New_York",
            "Europe/London",
            "Australia/Sydney",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "America/Sao_Paulo",
            "UTC",
        ])
        .prop_map(|z| z.parse::<Tz>().expect("known zone"))
    }

    fn any_window() -> impl Strategy<Value = Window> {
        // Start minute, length, zone, and a bitmask of allowed days (0: every day).
        (0u32..23 * 60, 1u32..12 * 60, any_zone(), 0u8..128).prop_map(|(start, len, tz, mask)| {
            let end = (start + len).min(24 * 60 - 1);
            let week = [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ];
            Window {
                start: NaiveTime::from_hms_opt(start / 60, start % 60, 0).expect("time"),
                end: NaiveTime::from_hms_opt(end / 60, end % 60, 0).expect("time"),
                days: (0..7)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| week[i])
                    .collect(),
                timezone: tz,
            }
        })
    }

    fn local_minutes(tz: Tz, t: Timestamp) -> (Weekday, u32) {
        let l = t.with_timezone(&tz);
        (l.weekday(), l.hour() * 60 + l.minute())
    }

    proptest! {
        /// Open means the contact's local time is inside the window on an allowed day;
        /// OpensAt names a later instant at which it is open, and a minute before that
        /// it is still closed.
        #[test]
        fn window_answers_are_consistent(
            w in any_window(),
            tz in any_zone(),
            secs in 1_700_000_000i64..1_900_000_000,
        ) {
            let now = chrono::DateTime::from_timestamp(secs, 0).expect("in range");
            let (start, end) = (w.start.hour() * 60 + w.start.minute(), w.end.hour() * 60 + w.end.minute());
            match w.state_at(tz, now) {
                WindowState::Open => {
                    let (day, m) = local_minutes(tz, now);
                    prop_assert!(w.allows(day));
                    // Around a DST jump the local reading may sit just outside by the jump.
                    prop_assert!(m + 180 >= start && m < end + 180, "{m} not in {start}..{end}");
                }
                WindowState::OpensAt(t) => {
                    prop_assert!(t > now);
                    prop_assert!(t - now <= Duration::days(8));
                    prop_assert_eq!(w.state_at(tz, t), WindowState::Open);
                    let before = t - Duration::minutes(1);
                    if before > now {
                        prop_assert_ne!(w.state_at(tz, before), WindowState::Open);
                    }
                }
                WindowState::Never => prop_assert!(false, "every parsed window opens"),
            }
        }

        /// Retries happen exactly `retryCount` times for a listed outcome, never otherwise.
        #[test]
        fn retry_count_is_exact(count in 0i64..5, listed in any::<bool>()) {
            let s = CampaignSettings {
                retry_count: count,
                retry_on: if listed { vec!["busy".into()] } else { vec![] },
                ..Default::default()
            };
            let now = Utc::now();
            let mut attempts = 1;
            while let AfterCall::Retry { at } = after_call("busy", attempts, &s, now) {
                prop_assert!(at >= now);
                attempts += 1;
            }
            prop_assert_eq!(attempts - 1, if listed { count } else { 0 });
        }

        /// Consecutive starts are never closer than callDelay, and never in the past.
        #[test]
        fn pacing_keeps_the_gap(delay_ms in 0u32..10_000, ticks in proptest::collection::vec(0u32..5_000, 1..30)) {
            let delay = f64::from(delay_ms) / 1000.0;
            let mut now = Utc::now();
            let mut last: Option<Timestamp> = None;
            for t in ticks {
                now += Duration::milliseconds(i64::from(t));
                let start = next_start(last, delay, now);
                prop_assert!(start >= now);
                if let Some(l) = last {
                    prop_assert!(start - l >= seconds(delay));
                }
                now = start;
                last = Some(start);
            }
        }
    }
}
