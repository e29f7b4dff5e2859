//! The Supabase layout: `supabase/migrations/<digits>_<name>.sql` and the
//! Supabase CLI's `supabase_migrations.schema_migrations` (written by
//! `db::postgres::supabase`).
//!
//! As `supabase db push` does, a local file older than the newest applied
//! version, or an applied version with no local file, stops the run unless
//! `--include-all` is given. The table keeps no checksum, so edits to applied
//! files cannot be detected.

use std::path::Path;

use crate::db::Migration;
use crate::migrate::MigrateError;
use crate::migrate::plan::{MigrationPlan, MigrationState};
use crate::migrate::source::compare_versions;

/// Whether `dir` looks like Supabase's (`…/supabase/migrations`).
pub(crate) fn looks_like(dir: &Path) -> bool {
    dir.ends_with("supabase/migrations")
}

/// Reads `<digits>_<name>.sql` files, in apply order.
pub(crate) fn read_dir(dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    crate::migrate::source::read_dir(dir, base_dir)
}

/// Refuses what the Supabase CLI refuses without `--include-all`.
pub(crate) fn check_order(plan: &MigrationPlan, include_all: bool) -> Result<(), MigrateError> {
    if include_all {
        return Ok(());
    }
    let missing: Vec<String> = plan
        .entries
        .iter()
        .filter(|entry| matches!(entry.state, MigrationState::MissingLocally { .. }))
        .map(|entry| entry.id.clone())
        .collect();
    if !missing.is_empty() {
        return Err(MigrateError::SupabaseOrder {
            problem: format!(
                "applied migrations have no local file: {}",
                missing.join(", ")
            ),
        });
    }
    let newest_applied = plan
        .entries
        .iter()
        .filter_map(|entry| match &entry.state {
            MigrationState::Applied { row } | MigrationState::Edited { row } => {
                Some(row.version.as_str())
            }
            _ => None,
        })
        .max_by(|a, b| compare_versions(a, b));
    let Some(newest) = newest_applied else {
        return Ok(());
    };
    let older: Vec<String> = plan
        .pending()
        .filter(|migration| compare_versions(&migration.version, newest).is_lt())
        .map(Migration::id)
        .collect();
    if older.is_empty() {
        return Ok(());
    }
    Err(MigrateError::SupabaseOrder {
        problem: format!(
            "local migrations are older than the newest applied one (`{newest}`): {}",
            older.join(", ")
        ),
    })
}
