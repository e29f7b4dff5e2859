//! The JSON renderer: the [`Report`] as a stable, versioned document.
//!
//! Schema (version 1): `{version, command, environment?, dry_run, outcome,
//! exit_code, duration_ms, phases: [{name, status, duration_ms, summary?,
//! checks: [{name, status, detail?, expected?, actual?, duration_ms?,
//! location?: {path, line, column}, log?, artifacts?: [{name, value}]}]}],
//! outputs: [[key, value]], files?}`. Fields are only added, never renamed,
//! within a version.

use super::Report;

/// The report as pretty JSON with a trailing newline.
pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_else(|error| {
        format!("{{\"version\":{},\"error\":\"report could not be serialised: {error}; this is a bug\"}}", super::SCHEMA_VERSION)
    });
    text.push('\n');
    text
}
