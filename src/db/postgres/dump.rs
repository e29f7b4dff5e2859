//! Backups with the real client tools: `pg_dump --format=custom`, checked
//! with `pg_restore --list`, restored with `pg_restore --clean --if-exists
//! --single-transaction --no-owner`.
//!
//! Connection settings reach the tools through libpq's environment
//! (`PGHOST`, `PGPASSWORD`, …), never their arguments, so the password never
//! shows in `ps`. Every run has a deadline and is killed when it expires.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::Target;
use crate::db::{Backup, DatabaseError};

/// Dumps the database into a new file in `dir`; refuses a `pg_dump` older
/// than the server (`server_major`) and verifies the file.
pub(super) async fn backup(
    target: &Target,
    description: &str,
    server_major: u32,
    dir: &Path,
    deadline: Duration,
    lock_timeout: Duration,
) -> Result<Backup, DatabaseError> {
    let version = run(target, "pg_dump", &["--version".to_owned()], deadline).await?;
    let tool_major = major_version(&version).unwrap_or(0);
    if tool_major < server_major {
        return Err(DatabaseError::ClientTooOld {
            tool: "pg_dump",
            tool_version: version.trim().to_owned(),
            server_major,
        });
    }
    fs_err::create_dir_all(dir).map_err(|source| DatabaseError::CreateBackupDir {
        path: dir.to_owned(),
        source,
    })?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let path = dir.join(format!("{}-{stamp}.dump", sanitize(&target.database)));
    let failed = |message: String| DatabaseError::Backup {
        database: description.to_owned(),
        path: path.clone(),
        source: crate::db::EngineMessage {
            message,
            code: None,
        },
    };
    // A table lock stops the dump after `lock_timeout`, as it stops a
    // migration, instead of queueing production behind it (issue 10,
    // item 8).
    run(
        target,
        "pg_dump",
        &[
            "--format=custom".to_owned(),
            "--no-password".to_owned(),
            format!("--lock-wait-timeout={}", lock_timeout.as_millis()),
            format!("--file={}", path.display()),
        ],
        deadline,
    )
    .await
    .map_err(|error| {
        let _ = fs_err::remove_file(&path);
        match &error {
            DatabaseError::ToolFailed { stderr, .. } => match locked_table(stderr) {
                Some(table) => DatabaseError::BackupLockTimeout {
                    table,
                    waited: lock_timeout,
                    blockers: Vec::new(),
                    source: crate::db::EngineMessage {
                        message: stderr.clone(),
                        code: None,
                    },
                },
                None => failed(error.to_string()),
            },
            _ => failed(error.to_string()),
        }
    })?;
    let listing = run(
        target,
        "pg_restore",
        &["--list".to_owned(), path.display().to_string()],
        deadline,
    )
    .await
    .map_err(|error| DatabaseError::VerifyBackup {
        path: path.clone(),
        detail: error.to_string(),
    })?;
    if listing.trim().is_empty() {
        return Err(DatabaseError::VerifyBackup {
            path,
            detail: "`pg_restore --list` printed nothing".to_owned(),
        });
    }
    let bytes = fs_err::metadata(&path)
        .map_err(|error| failed(error.to_string()))?
        .len();
    Ok(Backup {
        path,
        bytes,
        position: None,
    })
}

/// The catalog objects (`(catalog oid, object oid)`) the backup at `path`
/// holds, from `pg_restore --list`: live objects with other oids were
/// created after the backup.
pub(super) async fn listed_objects(
    target: &Target,
    path: &Path,
    deadline: Duration,
) -> Result<HashSet<(i64, i64)>, DatabaseError> {
    let listing = run(
        target,
        "pg_restore",
        &["--list".to_owned(), path.display().to_string()],
        deadline,
    )
    .await?;
    Ok(listing
        .lines()
        .filter(|line| !line.starts_with(';'))
        .filter_map(|line| {
            let mut words = line.split_once(';')?.1.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect())
}

/// Restores `path` over the database.
pub(super) async fn restore(
    target: &Target,
    description: &str,
    path: &Path,
    deadline: Duration,
    lock_timeout: Duration,
) -> Result<(), DatabaseError> {
    let mut target = target.clone();
    // Never queue production behind the restore's exclusive locks for
    // longer than `lock_timeout`.
    target.options = Some(format!("-c lock_timeout={}", lock_timeout.as_millis()));
    run(
        &target,
        "pg_restore",
        &[
            "--clean".to_owned(),
            "--if-exists".to_owned(),
            "--single-transaction".to_owned(),
            "--no-owner".to_owned(),
            "--no-password".to_owned(),
            "--exit-on-error".to_owned(),
            format!("--dbname={}", target.database),
            path.display().to_string(),
        ],
        deadline,
    )
    .await
    .map(drop)
    .map_err(|error| DatabaseError::Restore {
        database: description.to_owned(),
        path: path.to_owned(),
        source: crate::db::EngineMessage {
            message: error.to_string(),
            code: None,
        },
    })
}

/// The rows of table `schema.table` the backup at `path` holds, as
/// `pg_restore` prints them (COPY text, one line per row), sorted; `None`
/// when the backup has no data for that table.
pub(super) async fn rows_in_backup(
    target: &Target,
    path: &Path,
    schema: &str,
    table: &str,
    deadline: Duration,
) -> Result<Option<Vec<String>>, DatabaseError> {
    let script = run(
        target,
        "pg_restore",
        &[
            "--data-only".to_owned(),
            format!("--schema={schema}"),
            format!("--table={table}"),
            "--file=-".to_owned(),
            path.display().to_string(),
        ],
        deadline,
    )
    .await?;
    Ok(copy_rows(&script))
}

/// The rows of table `schema.table` in the database now, printed by
/// `pg_dump` exactly as [`rows_in_backup`] prints the backup's, sorted.
pub(super) async fn rows_in_database(
    target: &Target,
    schema: &str,
    table: &str,
    deadline: Duration,
) -> Result<Vec<String>, DatabaseError> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let script = run(
        target,
        "pg_dump",
        &[
            "--data-only".to_owned(),
            "--no-password".to_owned(),
            format!("--table={}.{}", quote(schema), quote(table)),
        ],
        deadline,
    )
    .await?;
    Ok(copy_rows(&script).unwrap_or_default())
}

/// The data lines of the first `COPY … FROM stdin;` block of a SQL script
/// written by `pg_dump`/`pg_restore`, sorted; `None` without such a block.
fn copy_rows(script: &str) -> Option<Vec<String>> {
    let mut lines = script.lines();
    lines.find(|line| line.starts_with("COPY ") && line.ends_with(" FROM stdin;"))?;
    let mut rows: Vec<String> = lines
        .take_while(|line| *line != "\\.")
        .map(str::to_owned)
        .collect();
    rows.sort();
    Some(rows)
}

/// Runs `tool` with `args` and libpq's environment for `target`; its stdout.
async fn run(
    target: &Target,
    tool: &'static str,
    args: &[String],
    deadline: Duration,
) -> Result<String, DatabaseError> {
    let mut command = Command::new(tool);
    command
        .args(args)
        .env("PGHOST", &target.host)
        .env("PGPORT", target.port.to_string())
        .env("PGUSER", &target.user)
        .env("PGDATABASE", &target.database)
        .env("PGSSLMODE", target.ssl_mode.as_str())
        .env("PGAPPNAME", "shipgate")
        // libpq's `connect_timeout` bounds the whole handshake, in whole
        // seconds (at least 2).
        .env(
            "PGCONNECT_TIMEOUT",
            target.connect_timeout.as_secs().max(2).to_string(),
        )
        .env_remove("PGSERVICE")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = &target.password {
        command.env("PGPASSWORD", password);
    }
    if let Some(options) = &target.options {
        command.env("PGOPTIONS", options);
    }
    if let Some(root) = &target.ssl_root_cert {
        command.env("PGSSLROOTCERT", root);
    }
    let child = command
        .spawn()
        .map_err(|source| DatabaseError::RunTool { tool, source })?;
    let output = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .map_err(|_| DatabaseError::ToolTimeout { tool, deadline })?
        .map_err(|source| DatabaseError::RunTool { tool, source })?;
    if !output.status.success() {
        return Err(DatabaseError::ToolFailed {
            tool,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The table `pg_dump` gave up waiting for, from its error output: with
/// `--lock-wait-timeout` it locks each table with a statement deadline, and
/// says which `LOCK TABLE` was cancelled (`Query was: LOCK TABLE public.t
/// IN ACCESS SHARE MODE`).
fn locked_table(stderr: &str) -> Option<String> {
    if !stderr.contains("canceling statement due to") {
        return None;
    }
    let rest = &stderr[stderr.find("Query was: LOCK TABLE ")? + "Query was: LOCK TABLE ".len()..];
    let table = &rest[..rest.find(" IN ACCESS SHARE MODE")?];
    Some(table.strip_prefix("ONLY ").unwrap_or(table).to_owned())
}

/// `15` from `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`; `9` from
/// `9.6.24`.
fn major_version(text: &str) -> Option<u32> {
    let number = text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    number
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The database name, safe in a file name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version_of_client_tools() {
        assert_eq!(
            major_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_version("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_version("pg_dump (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(major_version("nothing"), None);
        assert_eq!(sanitize("my db/1"), "my_db_1");
    }

    #[test]
    fn names_the_table_a_dump_waited_for() {
        let stderr = "pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout\npg_dump: detail: Query was: LOCK TABLE public.\"Order Items\" IN ACCESS SHARE MODE";
        assert_eq!(
            locked_table(stderr).as_deref(),
            Some("public.\"Order Items\"")
        );
        let only = "ERROR:  canceling statement due to lock timeout\nQuery was: LOCK TABLE ONLY s.t IN ACCESS SHARE MODE";
        assert_eq!(locked_table(only).as_deref(), Some("s.t"));
        assert_eq!(
            locked_table("pg_dump: error: connection to server failed"),
            None
        );
    }

    #[test]
    fn reads_the_rows_of_a_copy_block() {
        let script = "SET statement_timeout = 0;\n\nCOPY public.shipgate_migrations (version, name) FROM stdin;\n0002\tb\n0001\ta\\tb\n\\.\n\n";
        assert_eq!(
            copy_rows(script),
            Some(vec!["0001\ta\\tb".to_owned(), "0002\tb".to_owned()])
        );
        assert_eq!(copy_rows("SET x = 1;\n"), None);
        assert_eq!(copy_rows("COPY t (a) FROM stdin;\n\\.\n"), Some(Vec::new()));
    }
}
