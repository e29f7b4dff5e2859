//! Integration tests: every test runs the real `shipgate` binary in a temp dir.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod action;
mod backup_remote;
mod bad_input;
mod classify;
mod cli;
mod config;
mod drift;
mod error_reports;
mod faults_connect;
mod faults_restore;
mod faults_sqlite;
mod gate;
mod github_deployments;
mod histories;
mod init;
mod interrupt;
mod layouts;
mod lint;
mod migrate;
mod migrate_down;
mod migrate_postgres;
mod notify;
mod pipeline;
mod provider_command;
mod provider_railway;
mod provider_vercel;
mod quickstart;
mod restore_exact;
mod secrets;
mod smoke;
mod smoke_assertions;
mod smoke_eventual;
mod smoke_flows;
mod smoke_junit;
mod smoke_sampling;
mod smoke_tls;
mod summary;
mod watch;
mod watch_metrics;
