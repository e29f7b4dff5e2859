//! PLACEHOLDER — being built: the `Database` trait and its SQLite engine.
