//! Reading migration files: the plain layout, `<version>_<name>.sql`.
//!
//! The version is digits; files sort by its numeric value, then by its text.
//! `*.down.sql` files (the optional down migrations) are not applied, files
//! that do not end in `.sql` are ignored, and a `.sql` file that does not
//! match the pattern is an error rather than something silently skipped.
//! Other layouts (Prisma, Supabase, dbmate) get their own reader later.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::MigrateError;
use crate::db::Migration;

/// Reads every migration in `dir`, in apply order. Paths in the result (and
/// in errors) are shown relative to `base_dir` when `dir` lies inside it.
pub(crate) fn read_dir(dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let shown_dir = relative_to(dir, base_dir);
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(MigrateError::MissingDir { path: shown_dir });
        }
        Err(source) => {
            return Err(MigrateError::ReadDir {
                path: shown_dir,
                source,
            });
        }
    };
    let mut migrations: Vec<Migration> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MigrateError::ReadDir {
            path: shown_dir.clone(),
            source,
        })?;
        let file_name = entry.file_name();
        let path = shown_dir.join(&file_name);
        let Some(file_name) = file_name.to_str() else {
            if is_sql(&file_name.to_string_lossy()) {
                return Err(MigrateError::InvalidFileName { path });
            }
            continue;
        };
        if !is_sql(file_name) || file_name.to_ascii_lowercase().ends_with(".down.sql") {
            continue;
        }
        let file_type = entry.file_type().map_err(|source| MigrateError::ReadFile {
            path: path.clone(),
            source,
        })?;
        if file_type.is_dir() {
            continue;
        }
        let Some((version, name)) = parse_file_name(file_name) else {
            return Err(MigrateError::InvalidFileName { path });
        };
        let bytes = fs_err::read(entry.path()).map_err(|source| MigrateError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let checksum = checksum(&bytes);
        let sql =
            String::from_utf8(bytes).map_err(|_| MigrateError::NotUtf8 { path: path.clone() })?;
        migrations.push(Migration {
            version: version.to_owned(),
            name: name.to_owned(),
            path,
            sql,
            checksum,
            outside_transaction: None,
        });
    }
    migrations
        .sort_by(|a, b| compare_versions(&a.version, &b.version).then_with(|| a.name.cmp(&b.name)));
    for pair in migrations.windows(2) {
        if numeric(&pair[0].version) == numeric(&pair[1].version) {
            return Err(MigrateError::DuplicateVersion {
                version: pair[1].version.clone(),
                first: pair[0].path.clone(),
                second: pair[1].path.clone(),
            });
        }
    }
    Ok(migrations)
}

/// Lowercase hex SHA-256 of a migration file's bytes.
pub(crate) fn checksum(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Orders versions by numeric value (any length), then by text, so `2` comes
/// before `10` and `0002` right after `2`.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    let (a_number, b_number) = (numeric(a), numeric(b));
    a_number
        .len()
        .cmp(&b_number.len())
        .then_with(|| a_number.cmp(b_number))
        .then_with(|| a.cmp(b))
}

/// The digits of a version without leading zeros (`""` for zero).
fn numeric(version: &str) -> &str {
    version.trim_start_matches('0')
}

fn is_sql(file_name: &str) -> bool {
    !file_name.starts_with('.') && file_name.to_ascii_lowercase().ends_with(".sql")
}

/// Splits `<version>_<name>.sql` into version and name.
fn parse_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (version, name) = stem.split_once('_')?;
    let valid_version = !version.is_empty() && version.bytes().all(|byte| byte.is_ascii_digit());
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|character| character.is_alphanumeric() || matches!(character, '_' | '-' | '.'));
    (valid_version && valid_name).then_some((version, name))
}

/// `path` relative to `base`, when it lies inside it.
pub(crate) fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map_or_else(|_| path.to_owned(), Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, contents: &str) {
        fs_err::create_dir_all(dir).unwrap();
        fs_err::write(dir.join(name), contents).unwrap();
    }

    #[test]
    fn parses_version_and_name() {
        assert_eq!(
            parse_file_name("0001_create_users.sql"),
            Some(("0001", "create_users"))
        );
        assert_eq!(
            parse_file_name("20260102120000_add-email.sql"),
            Some(("20260102120000", "add-email"))
        );
        assert_eq!(parse_file_name("create_users.sql"), None);
        assert_eq!(parse_file_name("0001.sql"), None);
        assert_eq!(parse_file_name("0001_.sql"), None);
        assert_eq!(parse_file_name("v1_users.sql"), None);
        assert_eq!(parse_file_name("0001 users.sql"), None);
    }

    #[test]
    fn sorts_numerically_then_lexically() {
        let mut versions = vec!["10", "2", "0002", "1", "001"];
        versions.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(versions, ["001", "1", "0002", "2", "10"]);
    }

    #[test]
    fn checksum_is_lowercase_sha256_hex() {
        assert_eq!(
            checksum(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reads_a_directory_in_order_and_skips_down_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        write(&migrations, "10_ten.sql", "SELECT 10;");
        write(&migrations, "2_two.sql", "SELECT 2;");
        write(&migrations, "2_two.down.sql", "SELECT -2;");
        write(&migrations, "README.md", "notes");
        let read = read_dir(&migrations, dir.path()).unwrap();
        let ids: Vec<String> = read.iter().map(Migration::id).collect();
        assert_eq!(ids, ["2_two", "10_ten"]);
        assert_eq!(read[0].path, Path::new("migrations/2_two.sql"));
        assert_eq!(read[0].sql, "SELECT 2;");
        assert_eq!(read[0].checksum, checksum(b"SELECT 2;"));
    }

    #[test]
    fn rejects_bad_names_duplicates_and_a_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        write(&migrations, "0001_a.sql", "");
        write(&migrations, "add_users.sql", "");
        let error = read_dir(&migrations, dir.path()).unwrap_err();
        assert!(
            matches!(&error, MigrateError::InvalidFileName { path } if path.ends_with("add_users.sql")),
            "{error:?}"
        );

        fs_err::remove_file(migrations.join("add_users.sql")).unwrap();
        write(&migrations, "1_b.sql", "");
        let error = read_dir(&migrations, dir.path()).unwrap_err();
        assert!(
            matches!(&error, MigrateError::DuplicateVersion { version, .. } if version == "1"),
            "{error:?}"
        );

        let error = read_dir(&dir.path().join("absent"), dir.path()).unwrap_err();
        assert!(
            matches!(&error, MigrateError::MissingDir { path } if path == Path::new("absent")),
            "{error:?}"
        );
    }
}
