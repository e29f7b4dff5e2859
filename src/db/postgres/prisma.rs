//! Prisma's history table, `_prisma_migrations`, read and written exactly as
//! Prisma does, so a team can switch to shipgate (and back) without
//! re-applying anything.
//!
//! A migration is applied when a row of its name has `rolled_back_at IS NULL`
//! and `finished_at` set; a row with both NULL is a failed migration that
//! stops every run until `shipgate migrate resolve` (Prisma's P3009). Rows
//! are written as Prisma writes them: random UUID v4 `id`, lowercase hex
//! SHA-256 `checksum`, `applied_steps_count = 1` on success.

use std::time::Duration;

use tokio_postgres::Client;

use super::resolve_error;
use crate::db::{AppliedMigration, DatabaseError, Migration};

/// The table.
pub(crate) const TABLE: &str = "_prisma_migrations";

/// Prisma's own advisory lock key (`prisma migrate` holds it while it runs).
pub(crate) const LOCK_KEY: i64 = 72_707_369;

/// `CREATE TABLE` exactly as Prisma creates it, in the connection's schema.
pub(crate) const CREATE: &str = "CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id varchar(36) PRIMARY KEY NOT NULL,
    checksum varchar(64) NOT NULL,
    finished_at timestamptz,
    migration_name varchar(255) NOT NULL,
    logs text,
    rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    applied_steps_count integer NOT NULL DEFAULT 0
)";

/// `<version>_<name>`, Prisma's `migration_name`.
fn migration_name(migration: &Migration) -> String {
    migration.id()
}

/// Splits a `migration_name` into version and name.
fn split_name(name: &str) -> (String, String) {
    match name.split_once('_') {
        Some((version, rest)) if version.chars().all(|c| c.is_ascii_digit()) => {
            (version.to_owned(), rest.to_owned())
        }
        _ => (name.to_owned(), String::new()),
    }
}

/// The live rows (not rolled back), in the order they started: applied
/// ones (`finished_at` set) and failed ones (`finished_at` NULL, with their
/// `logs` as [`AppliedMigration::failure`]).
pub(crate) async fn applied(
    client: &Client,
) -> Result<Vec<AppliedMigration>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT migration_name, '', checksum, \
             to_char(coalesce(finished_at, started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             coalesce((extract(epoch FROM finished_at - started_at) * 1000)::bigint, 0), NULL::text, \
             CASE WHEN finished_at IS NULL THEN coalesce(logs, '') END \
             FROM _prisma_migrations WHERE rolled_back_at IS NULL \
             ORDER BY started_at, migration_name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut applied = super::history_row(row);
            (applied.version, applied.name) = split_name(&applied.version);
            applied
        })
        .collect())
}

/// Whether a live (not rolled back) row of `migration` exists.
async fn recorded(client: &Client, migration: &Migration) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM _prisma_migrations WHERE migration_name = $1 AND rolled_back_at IS NULL",
            &[&migration_name(migration)],
        )
        .await?
        .is_some())
}

/// Records `migration` as applied (inside its transaction); `false` when
/// another runner recorded it first.
pub(crate) async fn record_applied(
    client: &Client,
    migration: &Migration,
    duration: Duration,
) -> Result<bool, tokio_postgres::Error> {
    if recorded(client, migration).await? {
        return Ok(false);
    }
    let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    // The duration is measured by the client, and the next file may already
    // be on its way while this one is recorded: never let a row start before
    // the previous one finished, so `ORDER BY started_at` is the apply order.
    client
        .execute(
            "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) \
             VALUES ($1, $2, now(), $3, NULL, NULL, \
                     greatest(now() - make_interval(secs => $4::bigint / 1000.0), \
                              (SELECT max(finished_at) FROM _prisma_migrations)), 1)",
            &[&uuid_v4(), &migration.checksum, &migration_name(migration), &millis],
        )
        .await?;
    Ok(true)
}

/// Records that `migration` started outside a transaction (as Prisma does
/// before running it); `false` when it is already recorded.
pub(crate) async fn record_started(
    client: &Client,
    migration: &Migration,
) -> Result<bool, tokio_postgres::Error> {
    if recorded(client, migration).await? {
        return Ok(false);
    }
    client
        .execute(
            "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) \
             VALUES ($1, $2, $3, now(), 0)",
            &[&uuid_v4(), &migration.checksum, &migration_name(migration)],
        )
        .await?;
    Ok(true)
}

/// Marks the started row of `migration` finished.
pub(crate) async fn record_finished(
    client: &Client,
    migration: &Migration,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE _prisma_migrations SET finished_at = now(), applied_steps_count = 1 \
             WHERE migration_name = $1 AND rolled_back_at IS NULL AND finished_at IS NULL",
            &[&migration_name(migration)],
        )
        .await
        .map(drop)
}

/// Leaves the started row failed with `logs`, as Prisma does.
pub(crate) async fn record_failed(
    client: &Client,
    migration: &Migration,
    logs: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE _prisma_migrations SET logs = $2 \
             WHERE migration_name = $1 AND rolled_back_at IS NULL AND finished_at IS NULL",
            &[&migration_name(migration), &logs],
        )
        .await
        .map(drop)
}

/// Removes the started row (nothing of the migration ran).
pub(crate) async fn forget_started(
    client: &Client,
    migration: &Migration,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM _prisma_migrations WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
            &[&migration_name(migration)],
        )
        .await
        .map(drop)
}

/// `prisma migrate resolve --rolled-back NAME`: marks the failed row rolled
/// back. Errors when `name` has no failed row.
pub(crate) async fn resolve_rolled_back(
    client: &Client,
    migration: &Migration,
) -> Result<(), DatabaseError> {
    let name = &migration_name(migration);
    let updated = client
        .execute(
            "UPDATE _prisma_migrations SET rolled_back_at = now() \
             WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
            &[&name],
        )
        .await
        .map_err(|error| resolve_error(name, &error.to_string()))?;
    if updated == 0 {
        return Err(resolve_error(
            name,
            "it has no failed row (`finished_at` and `rolled_back_at` NULL) to mark rolled back",
        ));
    }
    Ok(())
}

/// `prisma migrate resolve --applied NAME`: marks failed rows rolled back and
/// records the migration applied with `checksum`, without running it.
pub(crate) async fn resolve_applied(
    client: &Client,
    migration: &Migration,
) -> Result<(), DatabaseError> {
    let name = &migration_name(migration);
    let checksum = &migration.checksum;
    let finished = client
        .query_opt(
            "SELECT 1 FROM _prisma_migrations WHERE migration_name = $1 AND finished_at IS NOT NULL AND rolled_back_at IS NULL",
            &[&name],
        )
        .await
        .map_err(|error| resolve_error(name, &error.to_string()))?;
    if finished.is_some() {
        return Err(resolve_error(name, "it is already recorded as applied"));
    }
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|error| resolve_error(name, &error.to_string()))?;
    let result = async {
        client
            .execute(
                "UPDATE _prisma_migrations SET rolled_back_at = now() \
                 WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
                &[&name],
            )
            .await?;
        client
            .execute(
                "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) \
                 VALUES ($1, $2, now(), $3, now(), 0)",
                &[&uuid_v4(), &checksum, &name],
            )
            .await?;
        client.batch_execute("COMMIT").await
    }
    .await;
    if let Err(error) = result {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(resolve_error(name, &error.to_string()));
    }
    Ok(())
}

/// A random UUID v4, as Prisma writes `id`.
fn uuid_v4() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4_and_names_split_at_the_first_underscore() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), id);
        assert_eq!(
            split_name("20240101120000_add_users"),
            ("20240101120000".to_owned(), "add_users".to_owned())
        );
    }
}
