//! A migration's class for the rollback plan: **additive** (safe to keep
//! under the previous release) or **destructive** (drops, renames, narrowing
//! type changes, deleted rows), and the one-line summary `migrate plan`
//! prints. Whether a statement is *locking* is reported through findings.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// What a migration does to the previous release's view of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MigrationClass {
    /// Only adds: the previous release keeps working against it, so
    /// `rollback.database = "auto"` keeps the database.
    Additive,
    /// Removes, renames or rewrites what the previous release uses, or
    /// deletes data (or could not be parsed): `auto` restores the backup.
    /// The default: nothing proves otherwise.
    #[default]
    Destructive,
}

impl MigrationClass {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Additive => "additive",
            Self::Destructive => "destructive",
        }
    }
}

/// One migration's class and, when destructive, what makes it so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classification {
    /// The class.
    pub class: MigrationClass,
    /// What each destructive statement does, e.g. `drops column users.legacy_id`.
    pub reasons: Vec<String>,
    /// Whether a statement holds a lock that blocks the app for longer
    /// than a moment (a locking finding).
    pub locking: bool,
    /// The file's lint findings not allowed by a `shipgate:allow`, each
    /// `line N rule: what happens`, for the deploy summary (issue 14).
    pub findings: Vec<String>,
}

/// `3 pending: 2 additive, 1 destructive: drops column users.legacy_id`.
pub fn plan_summary(classes: &[Classification]) -> String {
    let destructive: Vec<&Classification> = classes
        .iter()
        .filter(|c| c.class == MigrationClass::Destructive)
        .collect();
    let additive = classes.len() - destructive.len();
    let mut summary = format!("{} pending: {additive} additive", classes.len());
    if !destructive.is_empty() {
        let reasons: Vec<&str> = destructive
            .iter()
            .flat_map(|c| c.reasons.iter().map(String::as_str))
            .collect();
        let _ = write!(summary, ", {} destructive", destructive.len());
        if !reasons.is_empty() {
            let _ = write!(summary, ": {}", reasons.join(", "));
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_classes_with_reasons() {
        let additive = Classification {
            class: MigrationClass::Additive,
            ..Classification::default()
        };
        let destructive = Classification {
            class: MigrationClass::Destructive,
            reasons: vec!["drops column users.legacy_id".to_owned()],
            ..Classification::default()
        };
        assert_eq!(
            plan_summary(&[additive.clone(), destructive, additive.clone()]),
            "3 pending: 2 additive, 1 destructive: drops column users.legacy_id"
        );
        assert_eq!(plan_summary(&[additive]), "1 pending: 1 additive");
    }
}
