//! The `window` gate: deploys only inside the weekly windows, outside freeze
//! ranges and holidays, all read as wall-clock time in the configured IANA
//! time zone (so DST changes move the windows with the clocks).
//!
//! The instant judged comes from [`GateContext::now`] — the wall clock in a
//! real run, a fixed instant in tests (or `SHIPGATE_NOW` for rehearsals). An
//! emergency override with a reason passes the gate as a warning, and the
//! reason is recorded in the report.

use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, Zoned};

use super::GateContext;
use crate::config::{Gate, WindowGate};
use crate::report::{Check, Status};

/// Whether the window is open at an instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowVerdict {
    /// Inside the named weekly window (or no windows are configured).
    Open {
        /// The window, as written (`any time` when none are configured).
        window: String,
    },
    /// The date is in a freeze range.
    Frozen {
        /// The range, as written.
        range: String,
    },
    /// The date is a holiday.
    Holiday {
        /// The date.
        date: Date,
    },
    /// Outside every weekly window.
    Closed {
        /// When the next window opens, in the zone.
        next: Option<Zoned>,
    },
}

impl WindowVerdict {
    /// Whether a deploy may go ahead.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }
}

/// Judges `now` against the gate's windows, freezes and holidays.
pub fn evaluate_window(config: &WindowGate, now: Timestamp) -> (Zoned, WindowVerdict) {
    let local = now.to_zoned(config.timezone.clone());
    let date = local.date();
    if let Some(range) = config
        .freeze
        .iter()
        .find(|range| range.start <= date && date <= range.end)
    {
        let range = range.text.clone();
        return (local, WindowVerdict::Frozen { range });
    }
    if config.holidays.contains(&date) {
        return (local, WindowVerdict::Holiday { date });
    }
    if config.allow.is_empty() {
        return (
            local,
            WindowVerdict::Open {
                window: "any time".to_owned(),
            },
        );
    }
    let minute =
        u32::from(local.hour().unsigned_abs()) * 60 + u32::from(local.minute().unsigned_abs());
    let today = weekday_index(local.weekday());
    let yesterday = (today + 6) % 7;
    for window in &config.allow {
        let open = if window.start < window.end {
            window.days[today] && window.start <= minute && minute < window.end
        } else {
            (window.days[today] && minute >= window.start)
                || (window.days[yesterday] && minute < window.end)
        };
        if open {
            let window = window.text.clone();
            return (local, WindowVerdict::Open { window });
        }
    }
    let next = next_opening(config, &local);
    (local, WindowVerdict::Closed { next })
}

fn weekday_index(weekday: Weekday) -> usize {
    usize::try_from(weekday.to_monday_zero_offset()).unwrap_or(0)
}

/// The earliest window start after `local` within the next eight days.
fn next_opening(config: &WindowGate, local: &Zoned) -> Option<Zoned> {
    let mut best: Option<Zoned> = None;
    for offset in 0..8_i64 {
        let date = local
            .date()
            .checked_add(jiff::Span::new().days(offset))
            .ok()?;
        let index = weekday_index(date.weekday());
        for window in &config.allow {
            if !window.days[index] {
                continue;
            }
            let hour = i8::try_from(window.start / 60).ok()?;
            let minute = i8::try_from(window.start % 60).ok()?;
            let Ok(start) = date
                .at(hour.min(23), minute, 0, 0)
                .to_zoned(config.timezone.clone())
            else {
                continue;
            };
            if start.timestamp() > local.timestamp()
                && best
                    .as_ref()
                    .is_none_or(|b| start.timestamp() < b.timestamp())
            {
                best = Some(start);
            }
        }
    }
    best
}

/// Runs the gate at `ctx.now`.
pub(super) fn run(gate: &Gate, config: &WindowGate, ctx: &GateContext) -> Check {
    let (local, verdict) = evaluate_window(config, ctx.now);
    let at = local.strftime("%a %Y-%m-%d %H:%M %Z").to_string();
    let why = match &verdict {
        WindowVerdict::Open { window } => {
            return Check::pass(&gate.name).detail(format!(
                "{at} ({}) is inside `{window}`",
                config.timezone_name
            ));
        }
        WindowVerdict::Frozen { range } => format!("{at} is in the freeze `{range}`"),
        WindowVerdict::Holiday { date } => format!("{at}: {date} is a holiday"),
        WindowVerdict::Closed { next } => {
            let windows = config
                .allow
                .iter()
                .map(|w| format!("`{}`", w.text))
                .collect::<Vec<_>>()
                .join(", ");
            let next = next
                .as_ref()
                .map(|next| format!("; next opens {}", next.strftime("%a %Y-%m-%d %H:%M %Z")))
                .unwrap_or_default();
            format!("{at} ({}) is outside {windows}{next}", config.timezone_name)
        }
    };
    match &ctx.window_override {
        Some(reason) => Check::new(&gate.name, Status::Warn)
            .detail(format!("OVERRIDDEN: {why}; reason: {reason}"))
            .artifact("override_reason", reason.clone()),
        None => Check::fail(&gate.name)
            .detail(why)
            .expected_actual("inside an allowed window", at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DateRange, WeeklyWindow};

    fn gate(
        timezone: &str,
        allow: &[&str],
        freeze: &[(&str, &str)],
        holidays: &[&str],
    ) -> WindowGate {
        WindowGate {
            timezone_name: timezone.to_owned(),
            timezone: jiff::tz::TimeZone::get(timezone).unwrap(),
            allow: allow.iter().map(|text| weekly(text)).collect(),
            freeze: freeze
                .iter()
                .map(|(start, end)| DateRange {
                    text: format!("{start}..{end}"),
                    start: start.parse().unwrap(),
                    end: end.parse().unwrap(),
                })
                .collect(),
            holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
        }
    }

    fn weekly(text: &str) -> WeeklyWindow {
        crate::config::parse_weekly_window(text).unwrap()
    }

    fn at(instant: &str, config: &WindowGate) -> WindowVerdict {
        evaluate_window(config, instant.parse().unwrap()).1
    }

    #[test]
    fn weekdays_and_hours_are_read_in_the_zone() {
        let config = gate("America/Sao_Paulo", &["Tue-Thu 10:00-14:00"], &[], &[]);
        // 2026-03-10 is a Tuesday; São Paulo is UTC-3 (no DST since 2019).
        assert!(
            at("2026-03-10T13:00:00Z", &config).is_open(),
            "10:00 local opens"
        );
        assert!(
            !at("2026-03-10T12:59:00Z", &config).is_open(),
            "09:59 local is early"
        );
        assert!(
            !at("2026-03-10T17:00:00Z", &config).is_open(),
            "14:00 local is the end"
        );
        assert!(
            at("2026-03-12T16:59:00Z", &config).is_open(),
            "Thursday 13:59"
        );
        // Friday and Monday are closed; the next opening is named.
        let WindowVerdict::Closed { next } = at("2026-03-13T14:00:00Z", &config) else {
            panic!("friday must be closed");
        };
        assert_eq!(
            next.unwrap().strftime("%a %Y-%m-%d %H:%M").to_string(),
            "Tue 2026-03-17 10:00"
        );
        assert!(!at("2026-03-16T14:00:00Z", &config).is_open());
    }

    #[test]
    fn windows_past_midnight_belong_to_the_day_they_start() {
        let config = gate("UTC", &["Fri 22:00-02:00"], &[], &[]);
        assert!(
            at("2026-03-13T23:00:00Z", &config).is_open(),
            "friday night"
        );
        assert!(
            at("2026-03-14T01:59:00Z", &config).is_open(),
            "saturday small hours"
        );
        assert!(!at("2026-03-14T02:00:00Z", &config).is_open());
        assert!(
            !at("2026-03-12T23:00:00Z", &config).is_open(),
            "thursday night"
        );
    }

    #[test]
    fn freezes_and_holidays_close_an_otherwise_open_window() {
        let config = gate(
            "Europe/Berlin",
            &["Mon-Fri 09:00-17:00"],
            &[("2026-12-20", "2027-01-03")],
            &["2026-12-08"],
        );
        assert!(at("2026-12-07T10:00:00Z", &config).is_open());
        assert_eq!(
            at("2026-12-08T10:00:00Z", &config),
            WindowVerdict::Holiday {
                date: "2026-12-08".parse().unwrap()
            }
        );
        for instant in [
            "2026-12-21T10:00:00Z",
            "2027-01-01T10:00:00Z",
            "2027-01-03T22:59:00Z",
        ] {
            assert!(
                matches!(at(instant, &config), WindowVerdict::Frozen { .. }),
                "{instant}"
            );
        }
        // 2027-01-03 23:00Z is already 2027-01-04 00:00 in Berlin: no longer frozen (but closed).
        assert!(matches!(
            at("2027-01-03T23:00:00Z", &config),
            WindowVerdict::Closed { .. }
        ));
        assert!(at("2027-01-04T08:00:00Z", &config).is_open());
    }

    #[test]
    fn dst_changes_move_windows_with_the_wall_clock() {
        // New York springs forward on 2026-03-08 at 02:00 EST → 03:00 EDT.
        let config = gate("America/New_York", &["Sun 01:00-04:00"], &[], &[]);
        assert!(at("2026-03-08T06:30:00Z", &config).is_open(), "01:30 EST");
        assert!(at("2026-03-08T07:30:00Z", &config).is_open(), "03:30 EDT");
        // 08:30Z is 04:30 EDT: closed. A fixed UTC-5 offset would say 03:30, open.
        assert!(!at("2026-03-08T08:30:00Z", &config).is_open(), "04:30 EDT");

        // Berlin falls back on 2026-10-25 at 03:00 CEST → 02:00 CET.
        let config = gate("Europe/Berlin", &["Mon-Fri 09:00-17:00"], &[], &[]);
        assert!(
            at("2026-10-23T07:00:00Z", &config).is_open(),
            "Friday 09:00 CEST"
        );
        assert!(
            !at("2026-10-26T07:30:00Z", &config).is_open(),
            "Monday 08:30 CET"
        );
        assert!(
            at("2026-10-26T08:00:00Z", &config).is_open(),
            "Monday 09:00 CET"
        );
        assert!(
            !at("2026-10-26T16:00:00Z", &config).is_open(),
            "Monday 17:00 CET"
        );
    }
}
