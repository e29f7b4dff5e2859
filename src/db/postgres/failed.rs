//! `shipgate_failed_migrations`: where a migration that failed part-way
//! outside a transaction is remembered for the layouts whose own history
//! table has no failed state (Supabase, dbmate).
//!
//! Their tools write the history row only once a file has run, so a file
//! that stops half-way leaves no trace and the next run starts it again from
//! the top, re-running statements that already took effect. shipgate writes
//! a row here before such a file starts, deletes it together with the
//! layout's own row when the file finishes, and otherwise keeps it, with
//! the error, until `shipgate migrate resolve` says how a human settled it.
//! The table is dropped as soon as it is empty, and the layout's own table
//! is never given a column it does not have.

use tokio_postgres::Client;

use crate::db::{AppliedMigration, Migration};

/// The table, in the connection's schema.
pub(crate) const TABLE: &str = "shipgate_failed_migrations";

const CREATE: &str = "CREATE TABLE IF NOT EXISTS shipgate_failed_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    logs text
)";

/// Remembers that `migration` is starting outside a transaction; `false`
/// when an earlier run of it already failed (it is still unresolved).
pub(crate) async fn record_started(
    client: &Client,
    migration: &Migration,
) -> Result<bool, tokio_postgres::Error> {
    client.batch_execute(CREATE).await?;
    client
        .execute(
            "INSERT INTO shipgate_failed_migrations (version, name, checksum) VALUES ($1, $2, $3) \
             ON CONFLICT (version) DO NOTHING",
            &[&migration.version, &migration.name, &migration.checksum],
        )
        .await
        .map(|inserted| inserted > 0)
}

/// Stores the error `migration` failed with.
pub(crate) async fn record_failed(
    client: &Client,
    migration: &Migration,
    logs: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE shipgate_failed_migrations SET logs = $2 WHERE version = $1",
            &[&migration.version, &logs],
        )
        .await
        .map(drop)
}

/// Forgets `version`'s failed (or started) run; `false` when there was none.
/// The table is dropped once it is empty, so it exists only while a failed
/// run waits for a human (the caller holds the migration lock).
pub(crate) async fn forget(client: &Client, version: &str) -> Result<bool, tokio_postgres::Error> {
    if !exists(client).await? {
        return Ok(false);
    }
    let deleted = client
        .execute(
            "DELETE FROM shipgate_failed_migrations WHERE version = $1",
            &[&version],
        )
        .await?;
    let left = client
        .query_one("SELECT count(*) FROM shipgate_failed_migrations", &[])
        .await?;
    if left.get::<_, i64>(0) == 0 {
        client
            .batch_execute("DROP TABLE shipgate_failed_migrations")
            .await?;
    }
    Ok(deleted > 0)
}

/// The unresolved failed runs, oldest first, as history rows with a
/// [`AppliedMigration::failure`].
pub(crate) async fn rows(client: &Client) -> Result<Vec<AppliedMigration>, tokio_postgres::Error> {
    if !exists(client).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT version, name, checksum, \
             to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             0::bigint, NULL::text, coalesce(logs, '') \
             FROM shipgate_failed_migrations ORDER BY started_at, version",
            &[],
        )
        .await?;
    Ok(rows.iter().map(super::history_row).collect())
}

async fn exists(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
        .await?;
    Ok(row.get(0))
}
