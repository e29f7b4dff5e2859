//! The databases a drift check builds the migrations' schema in (issue 16):
//! a temporary database on the target's server, created and dropped here,
//! or a configured shadow database, emptied here before use.
//!
//! It owns the SQL of creating, emptying and dropping those databases and
//! reading a catalog snapshot through an engine's session; which
//! migrations run there and how the snapshots compare is `migrate::drift`'s.

use std::sync::atomic::{AtomicBool, AtomicI32};

use tokio::sync::Mutex;

use super::catalog::{Catalog, CatalogOptions};
use super::{PostgresDatabase, driver_message};
use crate::db::{DatabaseError, HistoryLayout};

/// The prefix every temporary drift database's name starts with.
pub const SCRATCH_PREFIX: &str = "shipgate_drift_";

impl PostgresDatabase {
    /// The database the URL names (or the user's, as libpq defaults it).
    pub fn database_name(&self) -> &str {
        &self.target.database
    }

    /// `host:port`, as messages name the server.
    pub fn server_address(&self) -> String {
        self.target.address()
    }

    /// Whether `other` is the same database on the same server.
    pub fn is_same_database(&self, other: &Self) -> bool {
        self.target.host == other.target.host
            && self.target.port == other.target.port
            && self.target.database == other.target.database
    }

    /// The same server, credentials and settings, connected to database
    /// `name` and reading and writing `layout`'s history table there.
    #[must_use]
    pub fn on_database(&self, name: &str, layout: HistoryLayout) -> Self {
        let mut config = self.config.clone();
        config.dbname(name);
        let mut target = self.target.clone();
        name.clone_into(&mut target.database);
        Self {
            description: format!("scratch database `{name}` on {}", self.target.address()),
            config,
            target,
            settings: self.settings,
            layout,
            session: Mutex::new(None),
            backend_pid: AtomicI32::new(0),
            locked: AtomicBool::new(false),
            observer: Mutex::new(None),
        }
    }

    /// A snapshot of the database's catalog, with what `options` asks for.
    pub async fn read_catalog(&self, options: CatalogOptions) -> Result<Catalog, DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        Catalog::read_with(client, options)
            .await
            .map_err(|error| self.scratch_error("read the catalog", &error))
    }

    /// `CREATE DATABASE name` from a connection of its own.
    pub async fn create_database(&self, name: &str) -> Result<(), DatabaseError> {
        let client = self.connect().await?;
        client
            .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
            .await
            .map_err(|error| {
                self.scratch_error(&format!("create the scratch database `{name}`"), &error)
            })
    }

    /// Drops database `name` if it exists, ending its sessions first
    /// (`WITH (FORCE)` from PostgreSQL 13 on, `pg_terminate_backend` before).
    pub async fn drop_database(&self, name: &str) -> Result<(), DatabaseError> {
        let client = self.connect().await?;
        let failed = |error: &tokio_postgres::Error| {
            self.scratch_error(&format!("drop the scratch database `{name}`"), error)
        };
        let major = self.server_major(&client).await?;
        let quoted = quote_identifier(name);
        if major >= 13 {
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
                .await
                .map_err(|error| failed(&error))
        } else {
            client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .await
                .map_err(|error| failed(&error))?;
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"))
                .await
                .map_err(|error| failed(&error))
        }
    }

    /// Empties a shadow database for a drift check: drops every schema but
    /// the system's and those in `keep` (objects a platform provides, which
    /// migrations may use), with everything in them, drops the event
    /// triggers and publications, and recreates `public`.
    pub async fn reset_shadow(&self, keep: &[String]) -> Result<(), DatabaseError> {
        let session = self.client().await?;
        let client = session.as_ref().ok_or(DatabaseError::NotConnected)?;
        let failed =
            |error: &tokio_postgres::Error| self.scratch_error("empty the shadow database", error);
        let rows = client
            .query(
                "SELECT 'DROP EVENT TRIGGER ' || quote_ident(evtname) FROM pg_event_trigger \
                 UNION ALL SELECT 'DROP PUBLICATION ' || quote_ident(pubname) FROM pg_publication \
                 UNION ALL SELECT 'DROP SCHEMA ' || quote_ident(nspname) || ' CASCADE' FROM pg_namespace \
                 WHERE nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND nspname NOT LIKE 'pg\\_%' AND NOT (nspname = ANY($1))",
                &[&keep],
            )
            .await
            .map_err(|error| failed(&error))?;
        let mut script = String::from("BEGIN;\n");
        for row in &rows {
            script.push_str(&row.get::<_, String>(0));
            script.push_str(";\n");
        }
        if !keep.iter().any(|schema| schema == "public") {
            script.push_str("CREATE SCHEMA public;\n");
        }
        script.push_str("COMMIT;");
        client
            .batch_execute(&script)
            .await
            .map_err(|error| failed(&error))
    }

    fn scratch_error(&self, operation: &str, error: &tokio_postgres::Error) -> DatabaseError {
        DatabaseError::Scratch {
            database: self.description.clone(),
            operation: operation.to_owned(),
            source: driver_message(error),
        }
    }
}

/// `name` as a quoted SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_identifier;

    #[test]
    fn identifiers_are_quoted_with_doubled_quotes() {
        assert_eq!(
            quote_identifier("shipgate_drift_1_ab"),
            "\"shipgate_drift_1_ab\""
        );
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
