//! The plan: local migration files and the database's history, merged into
//! one state per migration. Pure: no IO, no database.
//!
//! States: applied (checksums match), pending (no history row), failed (a
//! run that stopped part-way outside a transaction and waits for `migrate
//! resolve`), edited (a history row whose checksum differs from the file:
//! someone changed a migration after it ran) and missing locally (a history
//! row with no file, e.g. the database was migrated from a newer branch).

use std::collections::BTreeMap;

use super::lint::{Classification, classify_history};
use super::source::compare_versions;
use crate::db::{AppliedMigration, Migration};

/// What the database knows about one migration, compared with its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MigrationState {
    /// Applied, and the file is unchanged since.
    Applied {
        /// The history row.
        row: AppliedMigration,
    },
    /// Not applied yet.
    Pending,
    /// Failed part-way in an earlier run and not resolved: some of its
    /// statements may stay applied (file present or not).
    Failed {
        /// The history row, whose `failure` holds the logged error.
        row: AppliedMigration,
    },
    /// Applied, but the file changed since: its checksum differs.
    Edited {
        /// The history row, with the checksum recorded when it was applied.
        row: AppliedMigration,
    },
    /// Applied, but there is no file for it.
    MissingLocally {
        /// The history row.
        row: AppliedMigration,
    },
}

/// What makes two migrations the same one, and their order: each tool's own
/// rule (issue 11, item 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// The version prefix, ordered numerically (plain, Supabase, dbmate).
    Version,
    /// The whole `<version>_<name>`, ordered by its text (Prisma's folder
    /// name and `migration_name`): two folders may share a timestamp.
    Name,
}

impl Identity {
    fn of_migration(self, migration: &Migration) -> String {
        match self {
            Self::Version => migration.version.clone(),
            Self::Name => migration.id(),
        }
    }

    fn of_row(self, row: &AppliedMigration) -> String {
        match self {
            Self::Version => row.version.clone(),
            Self::Name => row_id(row),
        }
    }
}

/// `<version>_<name>` of a history row, or its version alone when it has
/// no name.
fn row_id(row: &AppliedMigration) -> String {
    if row.name.is_empty() {
        row.version.clone()
    } else {
        format!("{}_{}", row.version, row.name)
    }
}

/// One migration in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanEntry {
    /// `<version>_<name>`.
    pub(crate) id: String,
    /// The local file, when there is one.
    pub(crate) local: Option<Migration>,
    /// Its state.
    pub(crate) state: MigrationState,
}

/// Every migration, local or recorded, in version order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MigrationPlan {
    /// The entries, in version order.
    pub(crate) entries: Vec<PlanEntry>,
}

impl MigrationPlan {
    /// Merges local files (in apply order) with history rows, matched and
    /// ordered by `identity`.
    pub(crate) fn new(
        local: Vec<Migration>,
        applied: Vec<AppliedMigration>,
        identity: Identity,
    ) -> Self {
        let mut rows: BTreeMap<String, AppliedMigration> = applied
            .into_iter()
            .map(|row| (identity.of_row(&row), row))
            .collect();
        let mut entries: Vec<PlanEntry> = local
            .into_iter()
            .map(|migration| {
                let state = match rows.remove(&identity.of_migration(&migration)) {
                    None => MigrationState::Pending,
                    Some(row) if row.failure.is_some() => MigrationState::Failed { row },
                    Some(row) if row.checksum.eq_ignore_ascii_case(&migration.checksum) => {
                        MigrationState::Applied { row }
                    }
                    Some(row) => MigrationState::Edited { row },
                };
                PlanEntry {
                    id: migration.id(),
                    local: Some(migration),
                    state,
                }
            })
            .collect();
        entries.extend(rows.into_values().map(|row| PlanEntry {
            id: row_id(&row),
            local: None,
            state: if row.failure.is_some() {
                MigrationState::Failed { row }
            } else {
                MigrationState::MissingLocally { row }
            },
        }));
        match identity {
            Identity::Version => {
                entries.sort_by(|a, b| compare_versions(a.version(), b.version()));
            }
            Identity::Name => entries.sort_by(|a, b| a.id.cmp(&b.id)),
        }
        Self { entries }
    }

    /// The migrations `apply` would run, in order.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &Migration> {
        self.entries
            .iter()
            .filter(|entry| entry.state == MigrationState::Pending)
            .filter_map(|entry| entry.local.as_ref())
    }

    /// Every local migration in the order the database meets them: the
    /// applied ones (edited or failed included: their statements ran), then
    /// the pending ones, each with whether it is pending. This is the
    /// history classification reads, so a pending file's type change knows
    /// the column's type from earlier files (issue 11, item 3).
    pub(crate) fn history(&self) -> Vec<(&Migration, bool)> {
        let with_file = || {
            self.entries
                .iter()
                .filter_map(|entry| Some((entry.local.as_ref()?, &entry.state)))
        };
        let applied = with_file()
            .filter(|(_, state)| **state != MigrationState::Pending)
            .map(|(migration, _)| (migration, false));
        let pending = with_file()
            .filter(|(_, state)| **state == MigrationState::Pending)
            .map(|(migration, _)| (migration, true));
        applied.chain(pending).collect()
    }

    /// The class of each pending migration, in [`Self::pending`]'s order,
    /// from the one model fed the whole [`Self::history`]: what `migrate
    /// plan` prints and `migrate apply` records in the run state. Parses
    /// every file: call it off the async runtime.
    pub(crate) fn pending_classes(&self) -> Vec<Classification> {
        let history = self.history();
        let sql: Vec<&str> = history
            .iter()
            .map(|(migration, _)| migration.sql.as_str())
            .collect();
        history
            .iter()
            .zip(classify_history(&sql))
            .filter(|((_, pending), _)| *pending)
            .map(|(_, class)| class)
            .collect()
    }

    /// Applied migrations whose file changed since.
    pub(crate) fn edited(&self) -> impl Iterator<Item = (&Migration, &AppliedMigration)> {
        self.entries
            .iter()
            .filter_map(|entry| match (&entry.state, &entry.local) {
                (MigrationState::Edited { row }, Some(local)) => Some((local, row)),
                _ => None,
            })
    }

    /// The first migration that failed part-way in an earlier run and is
    /// not resolved yet.
    pub(crate) fn failed(&self) -> Option<(&PlanEntry, &AppliedMigration)> {
        self.entries.iter().find_map(|entry| match &entry.state {
            MigrationState::Failed { row } => Some((entry, row)),
            _ => None,
        })
    }

    /// How many migrations are applied (files present or not).
    pub(crate) fn applied_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|entry| {
                !matches!(
                    entry.state,
                    MigrationState::Pending | MigrationState::Failed { .. }
                )
            })
            .count()
    }
}

impl PlanEntry {
    fn version(&self) -> &str {
        match (&self.local, &self.state) {
            (Some(local), _) => &local.version,
            (
                None,
                MigrationState::Applied { row }
                | MigrationState::Edited { row }
                | MigrationState::Failed { row }
                | MigrationState::MissingLocally { row },
            ) => &row.version,
            (None, MigrationState::Pending) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn local(version: &str, sql: &str) -> Migration {
        Migration {
            version: version.to_owned(),
            name: format!("m{version}"),
            path: PathBuf::from(format!("migrations/{version}_m{version}.sql")),
            sql: sql.to_owned(),
            checksum: super::super::source::checksum(sql.as_bytes()),
            outside_transaction: None,
        }
    }

    fn row(version: &str, sql: &str) -> AppliedMigration {
        AppliedMigration {
            version: version.to_owned(),
            name: format!("m{version}"),
            checksum: super::super::source::checksum(sql.as_bytes()),
            applied_at: "2026-01-01T00:00:00.000Z".to_owned(),
            duration: Duration::from_millis(3),
            applied_by: None,
            failure: None,
        }
    }

    fn states(plan: &MigrationPlan) -> Vec<(&str, &'static str)> {
        plan.entries
            .iter()
            .map(|entry| {
                let state = match entry.state {
                    MigrationState::Applied { .. } => "applied",
                    MigrationState::Pending => "pending",
                    MigrationState::Edited { .. } => "edited",
                    MigrationState::Failed { .. } => "failed",
                    MigrationState::MissingLocally { .. } => "missing",
                };
                (entry.id.as_str(), state)
            })
            .collect()
    }

    #[test]
    fn classifies_applied_pending_edited_and_missing() {
        let plan = MigrationPlan::new(
            vec![local("1", "a"), local("2", "b changed"), local("4", "d")],
            vec![row("1", "a"), row("2", "b"), row("3", "c")],
            Identity::Version,
        );
        assert_eq!(
            states(&plan),
            [
                ("1_m1", "applied"),
                ("2_m2", "edited"),
                ("3_m3", "missing"),
                ("4_m4", "pending")
            ]
        );
        let pending: Vec<&str> = plan
            .pending()
            .map(|migration| migration.version.as_str())
            .collect();
        assert_eq!(pending, ["4"]);
        let edited: Vec<(&str, &str)> = plan
            .edited()
            .map(|(local, row)| (local.checksum.as_str(), row.checksum.as_str()))
            .collect();
        assert_eq!(edited.len(), 1);
        assert_ne!(edited[0].0, edited[0].1);
        assert_eq!(plan.applied_count(), 3);
    }

    #[test]
    fn pending_classes_read_the_applied_history_first() {
        // issue 11, item 3: a pending file older than an applied one still
        // comes after it, so the column's type is the applied file's.
        let create = "CREATE TABLE t (n int, name varchar(10));";
        let plan = MigrationPlan::new(
            vec![
                local("1", "ALTER TABLE t ALTER COLUMN name TYPE varchar(20);"),
                local("2", create),
                local("3", "ALTER TABLE t ALTER COLUMN n TYPE text;"),
            ],
            vec![row("2", create)],
            Identity::Version,
        );
        let history: Vec<(&str, bool)> = plan
            .history()
            .into_iter()
            .map(|(migration, pending)| (migration.version.as_str(), pending))
            .collect();
        assert_eq!(history, [("2", false), ("1", true), ("3", true)]);
        let classes: Vec<_> = plan
            .pending_classes()
            .into_iter()
            .map(|class| class.class)
            .collect();
        assert_eq!(
            classes,
            [
                crate::migrate::lint::MigrationClass::Additive,
                crate::migrate::lint::MigrationClass::Destructive
            ]
        );
    }

    #[test]
    fn a_failed_run_is_failed_with_or_without_its_file_and_never_pending() {
        let failed = |version: &str, sql: &str| AppliedMigration {
            failure: Some("boom".to_owned()),
            ..row(version, sql)
        };
        let plan = MigrationPlan::new(
            vec![local("1", "a"), local("2", "b"), local("3", "c")],
            vec![
                row("1", "a"),
                failed("2", "b edited since"),
                failed("9", "z"),
            ],
            Identity::Version,
        );
        assert_eq!(
            states(&plan),
            [
                ("1_m1", "applied"),
                ("2_m2", "failed"),
                ("3_m3", "pending"),
                ("9_m9", "failed")
            ]
        );
        let (entry, row) = plan.failed().unwrap();
        assert_eq!(
            (entry.id.as_str(), row.failure.as_deref()),
            ("2_m2", Some("boom"))
        );
        assert_eq!(plan.applied_count(), 1);
        assert_eq!(plan.edited().count(), 0, "a failed run is not an edit");
    }

    #[test]
    fn an_empty_history_makes_everything_pending_in_order() {
        let plan = MigrationPlan::new(
            vec![local("2", "b"), local("10", "j")],
            Vec::new(),
            Identity::Version,
        );
        let pending: Vec<&str> = plan
            .pending()
            .map(|migration| migration.version.as_str())
            .collect();
        assert_eq!(pending, ["2", "10"]);
        assert_eq!(plan.applied_count(), 0);
        assert_eq!(plan.edited().count(), 0);
    }

    #[test]
    fn prisma_identity_is_the_whole_name_in_text_order() {
        // issue 11, item 4: `20260401000000_a` and `_b` are two migrations.
        let named = |version: &str, name: &str| Migration {
            name: name.to_owned(),
            path: PathBuf::from(format!("prisma/migrations/{version}_{name}/migration.sql")),
            ..local(version, name)
        };
        let applied = AppliedMigration {
            name: "b".to_owned(),
            ..row("20260401000000", "b")
        };
        let plan = MigrationPlan::new(
            vec![
                named("20260401000000", "b"),
                named("20260401000000", "a"),
                named("3", "z"),
            ],
            vec![applied],
            Identity::Name,
        );
        assert_eq!(
            states(&plan),
            [
                ("20260401000000_a", "pending"),
                ("20260401000000_b", "applied"),
                ("3_z", "pending")
            ]
        );
    }
}
