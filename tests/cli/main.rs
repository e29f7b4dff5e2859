//! Integration tests: every test runs the real `shipgate` binary in a temp dir.

mod support;

mod config;
mod migrate;
