//! Which release to roll back to: pure selection over the provider's history.
//!
//! Never the release that is failing, never one that failed before; by
//! default the newest release older than the failing one that passed its
//! checks.

use crate::provider::{Release, ReleaseState};

/// A release that was considered and refused as the rollback target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The release.
    pub id: String,
    /// Why it is not a target, e.g. `recorded as failed`.
    pub reason: String,
}

/// Why no target could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No earlier release is a valid target; each one considered, with why.
    #[error(
        "no earlier release passed its checks, so there is nothing safe to roll back to{}",
        list(refused)
    )]
    NoHealthyRelease {
        /// Every release considered, newest first, with why it was refused.
        refused: Vec<Refusal>,
    },
    /// `--to ID` names an unknown release.
    #[error("release `{id}` is not known to the provider")]
    Unknown {
        /// The id.
        id: String,
    },
    /// `--to ID` names the failing release itself.
    #[error("release `{id}` is the one being rolled back from")]
    IsFailing {
        /// The id.
        id: String,
    },
    /// `--to ID` names a release that failed before.
    #[error("release `{id}` failed its checks when it was deployed")]
    PreviouslyFailed {
        /// The id.
        id: String,
    },
}

/// Picks the rollback target from `history` (newest first).
///
/// `failing` is the release being rolled back from; `requested` is `--to`
/// (`None` or `previous` mean "the newest earlier healthy release").
pub fn select<'h>(
    history: &'h [Release],
    failing: Option<&str>,
    requested: Option<&str>,
) -> Result<&'h Release, TargetError> {
    match requested {
        Some(id) if id != "previous" => {
            let release = history
                .iter()
                .find(|release| release.id == id)
                .ok_or_else(|| TargetError::Unknown { id: id.to_owned() })?;
            if Some(id) == failing {
                return Err(TargetError::IsFailing { id: id.to_owned() });
            }
            if release.state == ReleaseState::Failed {
                return Err(TargetError::PreviouslyFailed { id: id.to_owned() });
            }
            Ok(release)
        }
        _ => {
            let older =
                match failing.and_then(|id| history.iter().position(|release| release.id == id)) {
                    Some(position) => &history[position + 1..],
                    None => history,
                };
            older
                .iter()
                .find(|release| release.state == ReleaseState::Healthy)
                .ok_or_else(|| TargetError::NoHealthyRelease {
                    refused: history
                        .iter()
                        .map(|release| Refusal {
                            id: release.id.clone(),
                            reason: why_refused(release, failing, older),
                        })
                        .collect(),
                })
        }
    }
}

/// Why `release` is not the target (it is not a healthy release in `older`).
fn why_refused(release: &Release, failing: Option<&str>, older: &[Release]) -> String {
    let platform = release
        .platform_state
        .as_ref()
        .map(|state| format!(" (the platform says {state})"))
        .unwrap_or_default();
    if Some(release.id.as_str()) == failing {
        return "it is the release being rolled back from".to_owned();
    }
    if !older.iter().any(|older| older.id == release.id) {
        return "it is newer than the failing release".to_owned();
    }
    match release.state {
        ReleaseState::Failed => format!("it is recorded as failed{platform}"),
        ReleaseState::Deployed => format!("not a valid rollback target{platform}"),
        ReleaseState::Healthy => "healthy".to_owned(),
    }
}

/// `: a (why), b (why)`, or nothing when no release was considered.
fn list(refused: &[Refusal]) -> String {
    if refused.is_empty() {
        return "; the provider knows no release".to_owned();
    }
    let items: Vec<String> = refused
        .iter()
        .map(|refusal| format!("`{}`: {}", refusal.id, refusal.reason))
        .collect();
    format!("; considered {}", items.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str, state: ReleaseState) -> Release {
        Release::new(id, state, jiff::Timestamp::UNIX_EPOCH)
    }

    fn history() -> Vec<Release> {
        vec![
            release("v4", ReleaseState::Deployed),
            release("v3", ReleaseState::Failed),
            release("v2", ReleaseState::Healthy),
            release("v1", ReleaseState::Healthy),
        ]
    }

    #[test]
    fn default_target_is_newest_earlier_healthy_release() {
        let history = history();
        assert_eq!(select(&history, Some("v4"), None).unwrap().id, "v2");
        assert_eq!(
            select(&history, Some("v4"), Some("previous")).unwrap().id,
            "v2"
        );
        assert_eq!(select(&history, Some("v2"), None).unwrap().id, "v1");
    }

    #[test]
    fn never_the_failing_release_nor_one_that_failed_before() {
        let history = history();
        assert_eq!(
            select(&history, Some("v4"), Some("v4")),
            Err(TargetError::IsFailing { id: "v4".into() })
        );
        assert_eq!(
            select(&history, Some("v4"), Some("v3")),
            Err(TargetError::PreviouslyFailed { id: "v3".into() })
        );
        assert_eq!(
            select(&history, Some("v4"), Some("v9")),
            Err(TargetError::Unknown { id: "v9".into() })
        );
        assert!(matches!(
            select(&history, Some("v1"), None),
            Err(TargetError::NoHealthyRelease { .. })
        ));
    }

    #[test]
    fn with_no_target_every_candidate_is_listed_with_why() {
        let mut history = history();
        history[2].state = ReleaseState::Deployed;
        history[2].platform_state = Some("ERROR".to_owned());
        history[3].state = ReleaseState::Failed;
        let error = select(&history, Some("v4"), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no earlier release passed its checks, so there is nothing safe to roll back to; considered \
             `v4`: it is the release being rolled back from; \
             `v3`: it is recorded as failed; \
             `v2`: not a valid rollback target (the platform says ERROR); \
             `v1`: it is recorded as failed"
        );
        assert_eq!(
            select(&[], None, None).unwrap_err().to_string(),
            "no earlier release passed its checks, so there is nothing safe to roll back to; the provider knows no release"
        );
    }

    #[test]
    fn healthy_releases_newer_than_the_failing_one_are_not_targets() {
        let history = vec![
            release("v2", ReleaseState::Healthy),
            release("v1", ReleaseState::Deployed),
        ];
        let error = select(&history, Some("v1"), None).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("considered `v2`: it is newer than the failing release; `v1`: it is the release being rolled back from"),
            "{error}"
        );
    }
}
