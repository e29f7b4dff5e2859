//! The scratch database a drift check builds the migrations' schema in: a
//! temporary `shipgate_drift_<pid>_<random>` on the target's server,
//! dropped by [`Scratch::close`] (or, as a last resort, when dropped), or
//! the environment's `shadow_database`, emptied first.

use std::time::Duration;

use super::super::layout::Layout;
use super::MigrateError;
use crate::config::DriftGate;
use crate::context::Context;
use crate::db::postgres::PostgresDatabase;
use crate::db::postgres::scratch::SCRATCH_PREFIX;
use crate::report::format_duration;

/// How long dropping the scratch database may take.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);

/// The scratch database: a temporary one this run created (dropped by
/// [`Scratch::close`], or on drop as a last resort), or the shadow.
pub(super) struct Scratch {
    /// The database the migrations are replayed in.
    pub(super) database: PostgresDatabase,
    /// The temporary database's name and a connection to the target's
    /// server to drop it from; `None` for a shadow database or once dropped.
    temporary: Option<(String, PostgresDatabase)>,
}

impl Scratch {
    /// Creates the temporary database, or empties the shadow one (keeping
    /// the schemas `schema:` allow patterns name: the platform's).
    pub(super) async fn open(
        ctx: &Context,
        target: &PostgresDatabase,
        shadow: Option<PostgresDatabase>,
        layout: Layout,
        settings: &DriftGate,
    ) -> Result<Self, MigrateError> {
        if let Some(shadow) = shadow {
            let keep: Vec<String> = settings
                .allow
                .iter()
                .filter(|pattern| {
                    pattern.class == "schema" && !pattern.glob.contains(['*', '?', '[', '{'])
                })
                .map(|pattern| pattern.glob.clone())
                .collect();
            ctx.printer.progress(&format!(
                "emptying the shadow database `{}`",
                shadow.database_name()
            ));
            shadow.reset_shadow(&keep).await?;
            return Ok(Self {
                database: shadow,
                temporary: None,
            });
        }
        let name = scratch_name();
        let admin = target.on_database(target.database_name(), layout.history());
        ctx.printer
            .progress(&format!("creating the scratch database `{name}`"));
        admin.create_database(&name).await?;
        Ok(Self {
            database: target.on_database(&name, layout.history()),
            temporary: Some((name, admin)),
        })
    }

    pub(super) fn describe(&self) -> String {
        match &self.temporary {
            Some((name, admin)) => format!(
                "the scratch database `{name}` on {} (dropped afterwards)",
                admin.server_address()
            ),
            None => format!(
                "the shadow database `{}` (`shadow_database`)",
                self.database.database_name()
            ),
        }
    }

    /// Drops the temporary database; the problem in words when it could
    /// not be dropped.
    pub(super) async fn close(&mut self) -> Option<String> {
        let (name, admin) = self.temporary.take()?;
        // Its own session first, so nothing holds the database open.
        let closed = std::mem::replace(
            &mut self.database,
            admin.on_database(admin.database_name(), crate::db::HistoryLayout::Plain),
        );
        drop(closed);
        match tokio::time::timeout(CLEANUP_DEADLINE, admin.drop_database(&name)).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!(
                "the scratch database `{name}` could not be dropped ({error}): drop it with `DROP DATABASE \"{name}\"`"
            )),
            Err(_) => Some(format!(
                "dropping the scratch database `{name}` timed out after {}: drop it with `DROP DATABASE \"{name}\"`",
                format_duration(CLEANUP_DEADLINE)
            )),
        }
    }
}

impl Drop for Scratch {
    /// A check abandoned mid-way (its gate timed out, the process is
    /// stopping) still drops its temporary database, on the runtime, as a
    /// last resort.
    fn drop(&mut self) {
        if let Some((name, admin)) = self.temporary.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ =
                        tokio::time::timeout(CLEANUP_DEADLINE, admin.drop_database(&name)).await;
                });
            }
        }
    }
}

/// `shipgate_drift_<pid>_<random>`: unique, and recognisable as shipgate's.
fn scratch_name() -> String {
    format!(
        "{SCRATCH_PREFIX}{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
