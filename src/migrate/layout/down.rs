//! Where each layout keeps a migration's down section, for `migrate down`
//! (issue 11, section 5). Running it is `db`'s job; choosing which
//! migrations to revert is `migrate::down`'s.
//!
//! - plain and Supabase: `<version>_<name>.down.sql` beside the file (the
//!   readers skip `*.down.sql`);
//! - Prisma: `down.sql` in the migration's folder, Prisma's own convention
//!   (`prisma migrate diff … --script > down.sql`);
//! - dbmate: the file's `-- migrate:down` section.
//!
//! A down section without a statement counts as missing: running nothing and
//! forgetting the migration would only pretend to revert it.

use std::path::{Path, PathBuf};

use super::Layout;
use crate::db::Migration;
use crate::migrate::MigrateError;
use crate::migrate::source::checksum;

/// A migration's down section, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DownSource {
    /// The down section, as a migration: the up migration's version and
    /// name, the down file's path, its SQL (line numbers match the file).
    Found(Migration),
    /// There is none.
    Missing(MissingDown),
}

/// Why a migration has no down section, and where it would go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingDown {
    /// The file that would hold it.
    pub(crate) expected: PathBuf,
    /// What is missing, in words.
    pub(crate) reason: String,
}

impl Layout {
    /// The down section of `migration`, an applied migration read by
    /// [`Layout::read`] (its path relative to `base_dir`).
    pub(crate) fn down(
        self,
        migration: &Migration,
        base_dir: &Path,
    ) -> Result<DownSource, MigrateError> {
        match self {
            Self::Plain | Self::Supabase => {
                let expected = beside(&migration.path);
                down_file(migration, base_dir, expected)
            }
            Self::Prisma => {
                let expected = migration.path.with_file_name("down.sql");
                down_file(migration, base_dir, expected)
            }
            Self::Dbmate => super::dbmate::read_down(migration, base_dir),
        }
    }
}

/// `0001_name.sql` → `0001_name.down.sql`.
fn beside(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.down.sql"))
}

/// The down file `expected` (relative to `base_dir`), when it exists and
/// holds a statement.
fn down_file(
    migration: &Migration,
    base_dir: &Path,
    expected: PathBuf,
) -> Result<DownSource, MigrateError> {
    let bytes = match fs_err::read(base_dir.join(&expected)) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(DownSource::Missing(MissingDown {
                reason: format!("there is no `{}`", expected.display()),
                expected,
            }));
        }
        Err(source) => {
            return Err(MigrateError::ReadFile {
                path: expected,
                source,
            });
        }
    };
    let sql = String::from_utf8(bytes).map_err(|_| MigrateError::NotUtf8 {
        path: expected.clone(),
    })?;
    Ok(found(migration, expected, sql, None))
}

/// `sql` as the down section of `migration`, or missing when it holds no
/// statement.
pub(crate) fn found(
    migration: &Migration,
    path: PathBuf,
    sql: String,
    outside_transaction: Option<String>,
) -> DownSource {
    if crate::db::postgres::split::split(&sql).is_empty() {
        return DownSource::Missing(MissingDown {
            reason: format!("`{}` holds no statement", path.display()),
            expected: path,
        });
    }
    DownSource::Found(Migration {
        version: migration.version.clone(),
        name: migration.name.clone(),
        checksum: checksum(sql.as_bytes()),
        path,
        sql,
        outside_transaction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(path: &str) -> Migration {
        Migration {
            version: "0001".into(),
            name: "a".into(),
            path: path.into(),
            sql: "CREATE TABLE a ();".into(),
            checksum: String::new(),
            outside_transaction: None,
        }
    }

    #[test]
    fn each_layout_names_where_its_down_file_goes() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Layout::Plain
            .down(&migration("migrations/0001_a.sql"), dir.path())
            .unwrap();
        assert_eq!(
            plain,
            DownSource::Missing(MissingDown {
                expected: "migrations/0001_a.down.sql".into(),
                reason: "there is no `migrations/0001_a.down.sql`".into(),
            })
        );
        let prisma = Layout::Prisma
            .down(
                &migration("prisma/migrations/0001_a/migration.sql"),
                dir.path(),
            )
            .unwrap();
        let DownSource::Missing(missing) = prisma else {
            panic!("no down.sql was written");
        };
        assert_eq!(
            missing.expected,
            Path::new("prisma/migrations/0001_a/down.sql")
        );
    }

    #[test]
    fn a_down_file_without_a_statement_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("migrations")).unwrap();
        fs_err::write(
            dir.path().join("migrations/0001_a.down.sql"),
            "-- nothing to undo\n",
        )
        .unwrap();
        let down = Layout::Plain
            .down(&migration("migrations/0001_a.sql"), dir.path())
            .unwrap();
        assert!(matches!(down, DownSource::Missing(_)), "{down:?}");
        fs_err::write(
            dir.path().join("migrations/0001_a.down.sql"),
            "DROP TABLE a;\n",
        )
        .unwrap();
        let DownSource::Found(down) = Layout::Plain
            .down(&migration("migrations/0001_a.sql"), dir.path())
            .unwrap()
        else {
            panic!("the down file holds a statement");
        };
        assert_eq!(
            (down.version.as_str(), down.sql.as_str()),
            ("0001", "DROP TABLE a;\n")
        );
    }
}
