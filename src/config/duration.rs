//! Durations written as strings in the config (`"90s"`, `"5m"`, `"1h 30m"`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A [`Duration`] read from a humane string; zero is refused because every
/// duration in the config is a deadline or an interval.
///
/// Every duration lies in [`ConfigDuration::MIN`]..=[`ConfigDuration::MAX`],
/// so deadline arithmetic cannot overflow and `lock_timeout` /
/// `statement_timeout` always fit PostgreSQL's millisecond settings (issue
/// 10, item 7: `ready_within = "300000000000y"` used to pass `check` and
/// then panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// The shortest duration accepted: 1 ms (PostgreSQL reads a timeout under
    /// a millisecond as 0, "no limit").
    pub const MIN: Duration = Duration::from_millis(1);

    /// The longest duration accepted: 7 days, longer than any CI job may run.
    pub const MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// Parses `"90s"`, `"5m"`, `"250ms"`, `"1h 30m"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match humantime::parse_duration(text.trim()) {
            Ok(duration) if duration.is_zero() => Err(format!(
                "invalid duration `{text}`: must be greater than zero"
            )),
            Ok(duration) if duration < Self::MIN => {
                Err(format!("invalid duration `{text}`: must be at least `1ms`"))
            }
            Ok(duration) if duration <= Self::MAX => Ok(Self(duration)),
            Ok(_) | Err(humantime::DurationError::NumberOverflow) => Err(format!(
                "invalid duration `{text}`: must be at most 7 days (`168h`)"
            )),
            Err(_) => Err(format!(
                "invalid duration `{text}`: expected a number and a unit, like `250ms`, `90s`, `5m` or `1h 30m`"
            )),
        }
    }
}

/// `start + after`, saturating about 30 years on instead of panicking when
/// the sum overflows: a deadline that far away means "never".
pub fn deadline_after(start: tokio::time::Instant, after: Duration) -> tokio::time::Instant {
    const NEVER: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    start
        .checked_add(after)
        .or_else(|| start.checked_add(NEVER))
        .unwrap_or(start)
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            ConfigDuration::parse("90s").unwrap().0,
            Duration::from_secs(90)
        );
        assert_eq!(
            ConfigDuration::parse("5m").unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(
            ConfigDuration::parse("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            ConfigDuration::parse("1h 30m").unwrap().0,
            Duration::from_secs(5400)
        );
    }

    /// Issue 10, item 7.
    #[test]
    fn refuses_durations_outside_one_millisecond_to_seven_days() {
        assert_eq!(
            ConfigDuration::parse("168h").unwrap().0,
            ConfigDuration::MAX
        );
        assert_eq!(ConfigDuration::parse("1ms").unwrap().0, ConfigDuration::MIN);
        for text in ["300000000000y", "18446744073709551615s", "169h", "8days"] {
            let error = ConfigDuration::parse(text).unwrap_err();
            assert!(error.contains("at most 7 days"), "{text}: {error}");
        }
        assert!(
            ConfigDuration::parse("999us")
                .unwrap_err()
                .contains("at least `1ms`")
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Issue 10: any text parses to a bounded duration or an error that
        /// quotes it, never a panic; a 10 MB value is not repeated whole.
        #[test]
        fn any_text_is_a_bounded_duration_or_an_error(text in ".{0,40}|[0-9]{1,30} ?(ns|us|ms|s|m|h|d|w|y|years)") {
            match ConfigDuration::parse(&text) {
                Ok(duration) => proptest::prop_assert!((ConfigDuration::MIN..=ConfigDuration::MAX).contains(&duration.0)),
                Err(error) => proptest::prop_assert!(error.starts_with("invalid duration `")),
            }
        }
    }

    #[test]
    fn refuses_zero_and_garbage() {
        assert!(
            ConfigDuration::parse("0s")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(
            ConfigDuration::parse("soon")
                .unwrap_err()
                .contains("`soon`")
        );
        assert!(
            ConfigDuration::parse("10")
                .unwrap_err()
                .contains("a number and a unit")
        );
    }
}
