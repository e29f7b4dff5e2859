//! The dbmate layout: `db/migrations/<version>_<name>.sql` files with
//! `-- migrate:up` and `-- migrate:down` sections (`transaction:false` on the
//! up line runs it outside a transaction), and dbmate's `schema_migrations`
//! (written by `db::postgres::dbmate`). Only the up section runs; the table
//! keeps no checksum, so edits to applied files cannot be detected.

use std::path::Path;

use crate::db::Migration;
use crate::migrate::MigrateError;

/// Whether `dir` looks like dbmate's: a `.sql` file with `-- migrate:up`.
pub(crate) fn looks_like(dir: &Path) -> bool {
    fs_err::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry.path().extension().is_some_and(|ext| ext == "sql")
                && fs_err::read_to_string(entry.path()).is_ok_and(|text| up_marker(&text).is_some())
        })
    })
}

/// Byte offset of the `-- migrate:up` line.
fn up_marker(text: &str) -> Option<usize> {
    marker(text, "migrate:up")
}

fn marker(text: &str, name: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(comment) = trimmed.strip_prefix("--") {
            if comment.trim_start().starts_with(name) {
                return Some(offset);
            }
        }
        offset += line.len();
    }
    None
}

/// Reads the files; each migration's SQL is its text up to the
/// `-- migrate:down` line (so line numbers match the file).
pub(crate) fn read_dir(dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let mut migrations = crate::migrate::source::read_dir(dir, base_dir)?;
    for migration in &mut migrations {
        let (Some(_), Some(down)) = (
            up_marker(&migration.sql),
            marker(&migration.sql, "migrate:down"),
        ) else {
            return Err(MigrateError::DbmateMarkers {
                path: migration.path.clone(),
            });
        };
        migration.sql.truncate(down);
    }
    Ok(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers_at_line_starts_only() {
        let text = "-- migrate:up transaction:false\nCREATE TABLE a (id int); -- migrate:down\n\n-- migrate:down\nDROP TABLE a;\n";
        assert_eq!(up_marker(text), Some(0));
        assert_eq!(
            marker(text, "migrate:down"),
            Some(text.find("\n-- migrate:down\n").unwrap() + 1)
        );
        assert_eq!(up_marker("CREATE TABLE a (id int);\n"), None);
    }
}
