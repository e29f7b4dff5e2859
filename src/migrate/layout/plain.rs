//! The plain layout: `<version>_<name>.sql` files (optional
//! `<version>_<name>.down.sql`) and shipgate's `shipgate_migrations` table.
//! The files are read by `migrate::source`.

use std::path::Path;

use crate::db::Migration;
use crate::migrate::MigrateError;

/// Reads `<version>_<name>.sql` files in apply order.
pub(crate) fn read_dir(dir: &Path, base_dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    crate::migrate::source::read_dir(dir, base_dir)
}
