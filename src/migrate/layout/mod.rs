//! Migration layouts: how a team's migration tool lays out its files and
//! which history table it keeps. Each layout is its own file; this module
//! picks one (`[migrate] layout`, else detected from the directory) and
//! answers for it.
//!
//! Layouts: [`plain`] (shipgate's own), [`prisma`], [`supabase`], [`dbmate`].

pub(crate) mod dbmate;
pub(crate) mod down;
pub(crate) mod plain;
pub(crate) mod prisma;
pub(crate) mod supabase;

use std::path::Path;

use super::MigrateError;
use super::plan::{Identity, MigrationPlan};
use crate::config::{Config, LayoutSetting};
use crate::db::{AppliedMigration, HistoryLayout, Migration};

/// A layout in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `<version>_<name>.sql`, `shipgate_migrations`.
    Plain,
    /// `<ts>_<name>/migration.sql`, `_prisma_migrations`.
    Prisma,
    /// `supabase/migrations/<ts>_<name>.sql`, `supabase_migrations.schema_migrations`.
    Supabase,
    /// `-- migrate:up`/`-- migrate:down` files, `schema_migrations`.
    Dbmate,
}

impl Layout {
    /// The layout `config` asks for, or the one its directory looks like.
    pub(crate) fn of(config: &Config) -> Self {
        match config.migrate.layout {
            LayoutSetting::Prisma => Self::Prisma,
            LayoutSetting::Supabase => Self::Supabase,
            LayoutSetting::Dbmate => Self::Dbmate,
            LayoutSetting::Auto if prisma::looks_like(&config.migrate.dir) => Self::Prisma,
            LayoutSetting::Auto if supabase::looks_like(&config.migrate.dir) => Self::Supabase,
            LayoutSetting::Auto if dbmate::looks_like(&config.migrate.dir) => Self::Dbmate,
            LayoutSetting::Plain | LayoutSetting::Auto => Self::Plain,
        }
    }

    /// Its name, as `[migrate] layout` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Prisma => "prisma",
            Self::Supabase => "supabase",
            Self::Dbmate => "dbmate",
        }
    }

    /// The history table the engine keeps for it.
    pub(crate) fn history(self) -> HistoryLayout {
        match self {
            Self::Plain => HistoryLayout::Plain,
            Self::Prisma => HistoryLayout::Prisma,
            Self::Supabase => HistoryLayout::Supabase,
            Self::Dbmate => HistoryLayout::Dbmate,
        }
    }

    /// What identifies a migration in its tool, and orders it: Prisma's whole
    /// folder name, else the version prefix (issue 11, item 4).
    pub(crate) fn identity(self) -> Identity {
        match self {
            Self::Prisma => Identity::Name,
            Self::Plain | Self::Supabase | Self::Dbmate => Identity::Version,
        }
    }

    /// Reads the migrations in `dir`, in apply order.
    pub(crate) fn read(self, dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
        match self {
            Self::Plain => plain::read_dir(dir, base_dir),
            Self::Prisma => prisma::read_dir(dir, base_dir),
            Self::Supabase => supabase::read_dir(dir, base_dir),
            Self::Dbmate => dbmate::read_dir(dir, base_dir),
        }
    }

    /// Accepts the checksums the layout's own tool would accept: a row whose
    /// checksum matches its file under the tool's rules gets the file's
    /// canonical checksum.
    pub(crate) fn reconcile(self, local: &[Migration], applied: &mut [AppliedMigration]) {
        match self {
            Self::Prisma => prisma::reconcile_checksums(local, applied),
            // Their tables keep no checksum (nor, for dbmate, a name): take
            // the file's, so an applied file counts as applied.
            Self::Supabase | Self::Dbmate => {
                for row in applied.iter_mut() {
                    if let Some(file) = local.iter().find(|file| file.version == row.version) {
                        row.checksum.clone_from(&file.checksum);
                        row.name.clone_from(&file.name);
                    }
                }
            }
            Self::Plain => {}
        }
    }

    /// Refuses a plan the layout's own tool would refuse.
    pub(crate) fn check(self, plan: &MigrationPlan, include_all: bool) -> Result<(), MigrateError> {
        match self {
            Self::Supabase => supabase::check_order(plan, include_all),
            Self::Plain | Self::Prisma | Self::Dbmate => Ok(()),
        }
    }
}
