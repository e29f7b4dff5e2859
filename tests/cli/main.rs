//! Integration tests: every test runs the real `shipgate` binary in a temp dir.

mod support;

mod cli;
mod config;
mod gate;
mod migrate;
mod pipeline;
mod quickstart;
mod smoke;
