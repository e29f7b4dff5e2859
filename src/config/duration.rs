//! Durations written as strings in the config (`"90s"`, `"5m"`, `"1h 30m"`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A [`Duration`] read from a humane string; zero is refused because every
/// duration in the config is a deadline or an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// Parses `"90s"`, `"5m"`, `"250ms"`, `"1h 30m"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match humantime::parse_duration(text.trim()) {
            Ok(duration) if duration.is_zero() => Err(format!(
                "invalid duration `{text}`: must be greater than zero"
            )),
            Ok(duration) => Ok(Self(duration)),
            Err(_) => Err(format!(
                "invalid duration `{text}`: expected a number and a unit, like `250ms`, `90s`, `5m` or `1h 30m`"
            )),
        }
    }
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
