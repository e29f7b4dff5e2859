//! Migration layouts: how a team's migration tool lays out its files and
//! which history table it keeps. Each layout is its own file; this module
//! picks one (`[migrate] layout`, else detected from the directory) and
//! answers for it.
//!
//! Built: [`plain`] (shipgate's own) and [`prisma`]. Supabase and dbmate are
//! to follow as `supabase.rs` and `dbmate.rs` (issue 3).

pub(crate) mod plain;
pub(crate) mod prisma;

use std::path::Path;

use super::MigrateError;
use crate::config::{Config, LayoutSetting};
use crate::db::{AppliedMigration, HistoryLayout, Migration};

/// A layout in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `<version>_<name>.sql`, `shipgate_migrations`.
    Plain,
    /// `<ts>_<name>/migration.sql`, `_prisma_migrations`.
    Prisma,
}

impl Layout {
    /// The layout `config` asks for, or the one its directory looks like.
    pub(crate) fn of(config: &Config) -> Self {
        match config.migrate.layout {
            LayoutSetting::Prisma => Self::Prisma,
            LayoutSetting::Auto if prisma::looks_like(&config.migrate.dir) => Self::Prisma,
            LayoutSetting::Plain | LayoutSetting::Auto => Self::Plain,
        }
    }

    /// Its name, as `[migrate] layout` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Prisma => "prisma",
        }
    }

    /// The history table the engine keeps for it.
    pub(crate) fn history(self) -> HistoryLayout {
        match self {
            Self::Plain => HistoryLayout::Plain,
            Self::Prisma => HistoryLayout::Prisma,
        }
    }

    /// Reads the migrations in `dir`, in apply order.
    pub(crate) fn read(self, dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
        match self {
            Self::Plain => plain::read_dir(dir, base_dir),
            Self::Prisma => prisma::read_dir(dir, base_dir),
        }
    }

    /// Accepts the checksums the layout's own tool would accept: a row whose
    /// checksum matches its file under the tool's rules gets the file's
    /// canonical checksum.
    pub(crate) fn reconcile(self, local: &[Migration], applied: &mut [AppliedMigration]) {
        if self == Self::Prisma {
            prisma::reconcile_checksums(local, applied);
        }
    }
}
