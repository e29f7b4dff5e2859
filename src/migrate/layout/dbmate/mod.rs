//! The dbmate layout: `db/migrations/<version>_<name>.sql` files with
//! `-- migrate:up` and `-- migrate:down` sections (`transaction:false` on the
//! up line runs it outside a transaction), read exactly as dbmate reads them
//! (`sections`), and dbmate's `schema_migrations` (written by
//! `db::postgres::dbmate`). Only the up section runs; the table keeps no
//! checksum, so edits to applied files cannot be detected.

use std::path::Path;

use crate::db::Migration;
use crate::diagnostic::SourceLocation;
use crate::migrate::MigrateError;

mod sections;

/// Whether `dir` looks like dbmate's: a `.sql` file with a `-- migrate:up`
/// line dbmate would see.
pub(crate) fn looks_like(dir: &Path) -> bool {
    fs_err::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry.path().extension().is_some_and(|ext| ext == "sql")
                && fs_err::read_to_string(entry.path())
                    .is_ok_and(|text| sections::has_up_marker(&text))
        })
    })
}

/// Whether `text` is a dbmate file whose up section says
/// `transaction:false` (for `migrate lint FILE`, which knows no layout).
pub(crate) fn runs_outside_transaction(text: &str) -> bool {
    sections::parse(text).is_ok_and(|section| section.no_transaction)
}

/// Reads the files as dbmate does (see `sections`); each migration's SQL is
/// its text up to the `-- migrate:down` line (so line numbers match the
/// file). A file dbmate refuses is refused, naming its line.
pub(crate) fn read_dir(dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let mut migrations = crate::migrate::source::read_dir(dir, base_dir)?;
    for migration in &mut migrations {
        let section = sections::parse(&migration.sql).map_err(|refusal| {
            let end = migration.sql[refusal.offset..]
                .find('\n')
                .map_or(migration.sql.len(), |end| refusal.offset + end);
            MigrateError::DbmateFile {
                location: Box::new(SourceLocation::from_span(
                    &migration.path,
                    &migration.sql,
                    refusal.offset,
                    end,
                )),
                reason: refusal.reason,
                hint: refusal.hint,
            }
        })?;
        if section.no_transaction {
            migration.outside_transaction = Some(format!(
                "marked `{}` (line {})",
                migration.sql[section.start..]
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end(),
                migration.sql[..section.start].matches('\n').count() + 1
            ));
        }
        migration.sql.truncate(section.end);
    }
    Ok(migrations)
}

/// The `-- migrate:down` section of `migration` (read by [`read_dir`],
/// which keeps only the up section), as `dbmate rollback` runs it. The SQL
/// keeps the file's line numbers: the lines above the marker are blank.
pub(crate) fn read_down(
    migration: &Migration,
    base_dir: &Path,
) -> Result<super::down::DownSource, MigrateError> {
    let text = fs_err::read_to_string(base_dir.join(&migration.path)).map_err(|source| {
        MigrateError::ReadFile {
            path: migration.path.clone(),
            source,
        }
    })?;
    let section = sections::parse_down(&text).map_err(|refusal| MigrateError::DbmateFile {
        location: Box::new(SourceLocation::from_span(
            &migration.path,
            &text,
            refusal.offset,
            refusal.offset,
        )),
        reason: refusal.reason,
        hint: refusal.hint,
    })?;
    let line = text[..section.start].matches('\n').count();
    let sql = format!("{}{}", "\n".repeat(line), &text[section.start..]);
    let outside_transaction = section
        .no_transaction
        .then(|| format!("marked `transaction:false` (line {})", line + 1));
    Ok(
        match super::down::found(migration, migration.path.clone(), sql, outside_transaction) {
            super::down::DownSource::Missing(mut missing) => {
                missing.reason = format!(
                    "the `-- migrate:down` section of `{}` (line {}) holds no statement",
                    migration.path.display(),
                    line + 1
                );
                super::down::DownSource::Missing(missing)
            }
            found @ super::down::DownSource::Found(_) => found,
        },
    )
}
