//! The `env` gate (`[gate.env]`): every key of a manifest (`.env.example`
//! format: `KEY=value` lines, `#` comments and `export` allowed) or of the
//! `keys` list is set, non-empty and not a placeholder in the environment
//! the deploy runs with. The report names keys, never values.

use std::path::Path;

use super::GateContext;
use crate::config::{EnvGate, Gate};
use crate::report::Check;

/// Runs the gate.
pub(super) async fn run(gate: &Gate, config: &EnvGate, ctx: &GateContext) -> Check {
    let mut keys: Vec<String> = Vec::new();
    if let Some(path) = &config.manifest {
        let text = match tokio::fs::read_to_string(path).await {
            Ok(text) => text,
            Err(error) => {
                return Check::fail(&gate.name).detail(format!(
                    "failed to read the manifest `{}`: {error}",
                    shown(path, ctx)
                ));
            }
        };
        match parse_manifest(&text) {
            Ok(parsed) => keys.extend(parsed),
            Err((line, why)) => {
                return Check::fail(&gate.name)
                    .detail(format!("`{}` line {line}: {why}", shown(path, ctx)));
            }
        }
    }
    for key in &config.keys {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let mut missing = Vec::new();
    let mut empty = Vec::new();
    let mut placeholders = Vec::new();
    for key in &keys {
        match (ctx.lookup)(key) {
            None => missing.push(format!("`{key}`")),
            Some(value) if value.trim().is_empty() => empty.push(format!("`{key}`")),
            Some(value) if is_placeholder(&value) => placeholders.push(format!("`{key}`")),
            Some(_) => {}
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("not set: {}", missing.join(", ")));
    }
    if !empty.is_empty() {
        problems.push(format!("empty: {}", empty.join(", ")));
    }
    if !placeholders.is_empty() {
        problems.push(format!("placeholder value: {}", placeholders.join(", ")));
    }
    let source = config
        .manifest
        .as_ref()
        .map(|path| format!(" from `{}`", shown(path, ctx)))
        .unwrap_or_default();
    if problems.is_empty() {
        Check::pass(&gate.name).detail(format!("{} key(s){source} set", keys.len()))
    } else {
        let bad = missing.len() + empty.len() + placeholders.len();
        Check::fail(&gate.name).detail(format!(
            "{bad} of {} key(s){source}: {}",
            keys.len(),
            problems.join("; ")
        ))
    }
}

fn shown(path: &Path, ctx: &GateContext) -> String {
    path.strip_prefix(&ctx.ctx.config.base_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The keys of a `.env.example`-style file, in order; `Err((line, why))` for
/// a line that is neither blank, a comment nor `[export ]KEY[=value]`.
pub(crate) fn parse_manifest(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let key = line.split_once('=').map_or(line, |(key, _)| key).trim();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((
                number + 1,
                format!("`{key}` is not a variable name (letters, digits and `_`)"),
            ));
        }
        if !keys.iter().any(|known| known == key) {
            keys.push(key.to_owned());
        }
    }
    Ok(keys)
}

/// Values people leave in by mistake: `xxx`, `changeme`, `your-…-here`,
/// `<…>`, `TODO` and friends.
pub(crate) fn is_placeholder(value: &str) -> bool {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    let lower = value.to_ascii_lowercase();
    let squashed: String = lower.chars().filter(char::is_ascii_alphanumeric).collect();
    (lower.len() >= 3 && lower.chars().all(|c| c == 'x'))
        || (value.starts_with('<') && value.ends_with('>'))
        || (squashed.starts_with("your") && squashed.ends_with("here"))
        || matches!(
            squashed.as_str(),
            "changeme"
                | "todo"
                | "tbd"
                | "fixme"
                | "placeholder"
                | "replaceme"
                | "secret"
                | "password"
                | "example"
                | "dummy"
        )
        || lower.starts_with("todo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_allow_comments_export_and_values() {
        let text = "# database\nexport DATABASE_URL=postgres://x\n\nAPI_KEY=\n  STRIPE_KEY = sk_test\nAPI_KEY=again\n";
        assert_eq!(
            parse_manifest(text).unwrap(),
            ["DATABASE_URL", "API_KEY", "STRIPE_KEY"]
        );
        assert_eq!(parse_manifest("OK=1\n9BAD=2\n").unwrap_err().0, 2);
    }

    #[test]
    fn placeholders_are_recognised_and_real_values_are_not() {
        for value in [
            "xxx",
            "XXXXXX",
            "changeme",
            "CHANGE_ME",
            "your-key-here",
            "YOUR_API_KEY_HERE",
            "<token>",
            "TODO",
            "todo: fill in",
            "\"changeme\"",
        ] {
            assert!(is_placeholder(value), "{value}");
        }
        for value in [
            "sk_live_abc123",
            "postgres://db/app",
            "x",
            "https://example.com/api",
            "hereyou",
        ] {
            assert!(!is_placeholder(value), "{value}");
        }
    }
}
