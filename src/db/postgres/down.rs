//! `migrate down` on PostgreSQL: a migration's down section and the removal
//! of its history row, in one transaction (issue 11, section 5).
//!
//! This file owns the SQL each layout's tool would write when it reverts a
//! migration; reading the down files is `migrate::down`'s job.
//! - plain: delete the `shipgate_migrations` row;
//! - Prisma: set `rolled_back_at` on the applied row, as `prisma migrate
//!   resolve --rolled-back` does, so Prisma (and shipgate) see it as not
//!   applied and `migrate deploy` runs it again;
//! - Supabase: delete the `supabase_migrations.schema_migrations` row;
//! - dbmate: delete the `schema_migrations` row, as `dbmate rollback` does.

use tokio_postgres::Client;

use super::{
    DatabaseError, HistoryLayout, Migration, PostgresDatabase, applying, driver_message, split,
    with_blockers,
};
use crate::db::Database as _;

impl PostgresDatabase {
    /// Runs `down`'s statements and removes its history row in one
    /// transaction, rolled back on any error.
    pub(super) async fn revert_in_transaction(
        &self,
        down: &Migration,
    ) -> Result<(), DatabaseError> {
        let mut session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        let result = self.revert_on(client, down).await;
        if let Err(DatabaseError::ConnectionLost { .. }) = &result {
            // The session is gone, and the migration lock with it.
            *session = None;
        }
        result
    }

    async fn revert_on(&self, client: &Client, down: &Migration) -> Result<(), DatabaseError> {
        let failed = |error: tokio_postgres::Error, rolled_back: bool| {
            self.lost(&error, || applying(down), rolled_back)
                .unwrap_or_else(|| DatabaseError::ApplyMigration {
                    version: down.version.clone(),
                    offset: None,
                    source: driver_message(&error),
                })
        };
        let statements = split::split(&down.sql);
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {};",
                self.settings.lock_timeout.as_millis(),
                self.settings.statement_timeout.as_millis()
            ))
            .await
            .map_err(|error| failed(error, true))?;
        let result = async {
            for statement in &statements {
                if let Err((error, blockers)) = self.execute_watched(client, statement.text).await {
                    return Err(with_blockers(
                        self.statement_error(
                            down,
                            statement,
                            &error,
                            (statement.text, 0),
                            &[],
                            true,
                        ),
                        blockers,
                    ));
                }
            }
            let removed = forget(client, self.layout, down)
                .await
                .map_err(|error| failed(error, true))?;
            if removed == 0 {
                return Err(DatabaseError::NotRecorded {
                    version: down.version.clone(),
                    table: self.history_table().to_owned(),
                });
            }
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|error| failed(error, false))
        }
        .await;
        if result.is_err() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }
}

/// Removes `migration` from `layout`'s history as its tool would; the number
/// of rows changed.
async fn forget(
    client: &Client,
    layout: HistoryLayout,
    migration: &Migration,
) -> Result<u64, tokio_postgres::Error> {
    match layout {
        HistoryLayout::Plain => {
            client
                .execute(
                    "DELETE FROM shipgate_migrations WHERE version = $1 AND success",
                    &[&migration.version],
                )
                .await
        }
        HistoryLayout::Prisma => {
            client
                .execute(
                    "UPDATE _prisma_migrations SET rolled_back_at = now() \
                     WHERE migration_name = $1 AND finished_at IS NOT NULL AND rolled_back_at IS NULL",
                    &[&migration.id()],
                )
                .await
        }
        HistoryLayout::Supabase => {
            client
                .execute(
                    "DELETE FROM supabase_migrations.schema_migrations WHERE version = $1",
                    &[&migration.version],
                )
                .await
        }
        HistoryLayout::Dbmate => {
            client
                .execute(
                    "DELETE FROM schema_migrations WHERE version = $1",
                    &[&migration.version],
                )
                .await
        }
    }
}
