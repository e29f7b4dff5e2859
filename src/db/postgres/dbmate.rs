//! dbmate's history table, `schema_migrations (version varchar(255) PRIMARY
//! KEY)` in the connection's schema, read and written as `dbmate up` does.
//! It keeps only versions.

use tokio_postgres::Client;

use crate::db::{AppliedMigration, Migration};

/// The table.
pub(crate) const TABLE: &str = "schema_migrations";

/// The table, created when missing.
pub(crate) const CREATE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(255) PRIMARY KEY)";

/// The applied versions, oldest first (no name, checksum or date).
pub(crate) async fn applied(
    client: &Client,
) -> Result<Vec<AppliedMigration>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT version, '', '', '', 0::bigint, NULL::text, NULL::text \
             FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    Ok(rows.iter().map(super::history_row).collect())
}

/// Records `migration`; `false` when already recorded.
pub(crate) async fn record(
    client: &Client,
    migration: &Migration,
) -> Result<bool, tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT (version) DO NOTHING",
            &[&migration.version],
        )
        .await
        .map(|inserted| inserted > 0)
}
