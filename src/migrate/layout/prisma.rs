//! The Prisma layout: `prisma/migrations/<14-digit ts>_<name>/migration.sql`
//! and `migration_lock.toml` (whose `provider` must be `postgresql`), with
//! Prisma's `_prisma_migrations` history (written by `db::postgres::prisma`).
//!
//! A migration is its whole folder name, and folders apply in name order,
//! as Prisma does. Checksums are compared as Prisma does, tolerating line-ending changes
//! (CRLF↔LF) and the legacy checksums without zero padding.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::db::{AppliedMigration, Migration};
use crate::migrate::MigrateError;
use crate::migrate::source::{checksum, relative_to};

/// Whether `dir` looks like Prisma's: a `migration_lock.toml`, or a
/// `<digits>_<name>/migration.sql` folder.
pub(crate) fn looks_like(dir: &Path) -> bool {
    if dir.join("migration_lock.toml").is_file() {
        return true;
    }
    fs_err::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry.path().join("migration.sql").is_file()
                && folder_name(&entry.file_name().to_string_lossy()).is_some()
        })
    })
}

/// `(version, name)` of a migration folder name.
fn folder_name(name: &str) -> Option<(&str, &str)> {
    let (version, rest) = name.split_once('_')?;
    (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty())
        .then_some((version, rest))
}

/// Reads every `<ts>_<name>/migration.sql`, in apply order.
pub(crate) fn read_dir(dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let shown_dir = relative_to(dir, base_dir);
    let lock = dir.join("migration_lock.toml");
    if lock.is_file() {
        let text = fs_err::read_to_string(&lock).map_err(|source| MigrateError::ReadFile {
            path: relative_to(&lock, base_dir),
            source,
        })?;
        let provider = text.parse::<toml::Table>().ok().and_then(|table| {
            table
                .get("provider")
                .and_then(|value| value.as_str().map(str::to_owned))
        });
        if provider.as_deref() != Some("postgresql") {
            return Err(MigrateError::PrismaProvider {
                path: relative_to(&lock, base_dir),
                provider: provider.unwrap_or_default(),
            });
        }
    }
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
    let mut migrations = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MigrateError::ReadDir {
            path: shown_dir.clone(),
            source,
        })?;
        if !entry.path().is_dir() {
            continue;
        }
        let folder = entry.file_name().to_string_lossy().into_owned();
        let file = entry.path().join("migration.sql");
        let shown = relative_to(&file, base_dir);
        let Some((version, name)) = folder_name(&folder) else {
            return Err(MigrateError::InvalidFileName { path: shown });
        };
        // Prisma reads `migration.sql` in every folder and fails without it
        // (issue 11, item 4): say so, not "check the permissions".
        if !file.is_file() {
            return Err(MigrateError::PrismaMissingScript {
                folder: relative_to(&entry.path(), base_dir),
                dir: shown_dir.clone(),
            });
        }
        let bytes = fs_err::read(&file).map_err(|source| MigrateError::ReadFile {
            path: shown.clone(),
            source,
        })?;
        let sql = String::from_utf8(bytes).map_err(|_| MigrateError::NotUtf8 {
            path: shown.clone(),
        })?;
        migrations.push(Migration {
            version: version.to_owned(),
            name: name.to_owned(),
            path: shown,
            checksum: checksum(sql.as_bytes()),
            outside_transaction: None,
            sql,
        });
    }
    // Prisma identifies a migration by its folder name and applies them in
    // its order; folders sharing a timestamp are two migrations (issue 11).
    migrations.sort_by_key(Migration::id);
    Ok(migrations)
}

/// The checksums Prisma accepts for `sql`: as-is, CRLF→LF and LF→CRLF, each
/// zero-padded (current) and unpadded (legacy).
fn accepted_checksums(sql: &str) -> Vec<String> {
    let lf = sql.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    [sql, lf.as_str(), crlf.as_str()]
        .iter()
        .flat_map(|text| {
            let digest = Sha256::digest(text.as_bytes());
            let legacy = unpadded_hex(&digest);
            [hex::encode(digest), legacy]
        })
        .collect()
}

/// Hex without zero padding (`0a` → `a`), as Prisma's old checksums were.
fn unpadded_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:x}");
        text
    })
}

/// Gives a row whose checksum Prisma would accept for its file the file's
/// own checksum, so only real edits count as edits.
pub(crate) fn reconcile_checksums(local: &[Migration], applied: &mut [AppliedMigration]) {
    for row in applied.iter_mut() {
        let name = format!("{}_{}", row.version, row.name);
        let Some(file) = local.iter().find(|migration| migration.id() == name) else {
            continue;
        };
        if row.checksum != file.checksum
            && accepted_checksums(&file.sql)
                .iter()
                .any(|accepted| accepted.eq_ignore_ascii_case(&row.checksum))
        {
            row.checksum.clone_from(&file.checksum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_line_ending_changes_and_legacy_unpadded_checksums() {
        let lf = "CREATE TABLE a (id int);\nSELECT 1;\n";
        let crlf = lf.replace('\n', "\r\n");
        let accepted = accepted_checksums(lf);
        assert!(accepted.contains(&checksum(crlf.as_bytes())));
        assert!(accepted.contains(&checksum(lf.as_bytes())));
        let legacy = unpadded_hex(&Sha256::digest(crlf.as_bytes()));
        assert_eq!(unpadded_hex(&[0x0a, 0xb0, 0x00]), "ab00");
        assert!(accepted.contains(&legacy));
        assert!(!accepted.contains(&checksum(b"CREATE TABLE b (id int);\n")));
        assert_eq!(
            folder_name("20240101000000_init"),
            Some(("20240101000000", "init"))
        );
        assert_eq!(folder_name("init"), None);
    }
}
