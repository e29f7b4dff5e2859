//! The Supabase CLI's history table,
//! `supabase_migrations.schema_migrations (version text PRIMARY KEY,
//! statements text[], name text)`, read and written as `supabase db push`
//! does: the row (with the file's statements) in the migration's own
//! transaction. It keeps no checksum.

use tokio_postgres::Client;

use crate::db::{AppliedMigration, Migration};

/// The table.
pub(crate) const TABLE: &str = "supabase_migrations.schema_migrations";

/// The schema and table, created when missing.
pub(crate) const CREATE: &str = "CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
    version text PRIMARY KEY NOT NULL,
    statements text[],
    name text
)";

/// The applied versions, oldest first (no checksum, no date).
pub(crate) async fn applied(
    client: &Client,
) -> Result<Vec<AppliedMigration>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT version, coalesce(name, ''), '', '', 0::bigint, NULL::text, NULL::text \
             FROM supabase_migrations.schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    Ok(rows.iter().map(super::history_row).collect())
}

/// Records `migration` with its `statements`; `false` when already recorded.
pub(crate) async fn record(
    client: &Client,
    migration: &Migration,
    statements: &[&str],
) -> Result<bool, tokio_postgres::Error> {
    let statements: Vec<String> = statements.iter().map(|text| (*text).to_owned()).collect();
    client
        .execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, statements, name) \
             VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING",
            &[&migration.version, &statements, &migration.name],
        )
        .await
        .map(|inserted| inserted > 0)
}
