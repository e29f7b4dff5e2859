//! Property tests of the config loader (issue 10): any TOML document, with
//! the right keys holding arbitrary values, loads or is refused with a
//! located, bounded message; it never panics, and `${VAR}` references
//! resolve to exactly their values or name what is wrong.
//!
//! Cases are few so `cargo test` stays fast; `PROPTEST_CASES=20000 cargo
//! test --lib config::properties` runs them longer.

use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;

use super::{ConfigError, Redactor, resolve};

/// A TOML value of any type, nested a little.
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        ".{0,16}".prop_map(|text| toml::Value::String(text).to_string()),
        "[0-9]{1,22} ?(ns|us|ms|s|m|h|d|w|y)".prop_map(|text| format!("\"{text}\"")),
        "(https?|postgres|sqlite|ftp)://[a-z0-9.:@/${}]{0,16}"
            .prop_map(|text| toml::Value::String(text).to_string()),
        Just("\"${SECRET}\"".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|pairs| {
                let pairs: Vec<String> = pairs
                    .into_iter()
                    .map(|(key, value)| format!("{key} = {value}"))
                    .collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

/// A key the loader knows, in the table it belongs to.
fn known_key() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(vec![
        ("environments.production", "url"),
        ("environments.production", "database"),
        ("environments.production", "provider"),
        ("environments.production", "direct_url"),
        ("migrate", "dir"),
        ("migrate", "backup"),
        ("migrate", "lock_timeout"),
        ("migrate", "statement_timeout"),
        ("migrate", "retries"),
        ("migrate", "layout"),
        ("smoke", "ready_within"),
        ("smoke", "timeout"),
        ("smoke", "concurrency"),
        ("smoke", "max_error_rate"),
        ("watch", "for"),
        ("watch", "interval"),
        ("rollback", "on"),
        ("rollback", "database"),
        ("gate.tests", "command"),
        ("gate.tests", "timeout"),
        ("gate.window", "allow"),
        ("smoke.check", "path"),
        ("smoke.check", "assert"),
        ("smoke.check", "expect"),
        ("unknown", "key"),
    ])
}

fn load(source: &str) -> Result<super::Config, ConfigError> {
    let lookup = |name: &str| (name == "SECRET").then(|| "s3cr&t\"<v>|%".to_owned());
    resolve::from_source(
        Path::new("shipgate.toml"),
        source,
        None,
        &lookup,
        &Redactor::default(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_loads_or_is_refused(source in ".{0,200}") {
        if let Err(error) = load(&source) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn known_keys_with_any_values_load_or_are_refused_with_a_location(
        entries in prop::collection::vec((known_key(), toml_value()), 0..8),
    ) {
        let mut source = String::from("[environments.production]\nurl = \"http://127.0.0.1:9\"\n");
        for ((table, key), value) in &entries {
            let header = if table.starts_with("smoke.check") {
                "[[smoke.check]]\nname = \"c\"\n".to_owned()
            } else {
                format!("[{table}]\n")
            };
            let _ = writeln!(source, "{header}{key} = {value}");
        }
        match load(&source) {
            Ok(config) => {
                for duration in [config.smoke.ready_within, config.migrate.lock_timeout] {
                    prop_assert!(duration <= super::ConfigDuration::MAX);
                }
            }
            Err(ConfigError::Invalid { location, message, .. }) => {
                prop_assert!(location.line >= 1, "{message}");
                prop_assert!(!message.is_empty());
            }
            Err(_) => {}
        }
    }

    #[test]
    fn any_value_with_dollars_resolves_or_names_what_is_wrong(value in "([a-z ]|\\$|\\{|\\}|\\$\\{[A-Z_]{0,4}\\}?){0,12}") {
        let lookup = |name: &str| (name.len() % 2 == 0).then(|| format!("<{name}>"));
        match super::secret::resolve(&value, &lookup, &Redactor::default()) {
            Ok(resolved) => prop_assert!(resolved.len() <= value.len() * 3 + 8),
            Err(super::secret::ResolveFailure::Unset(reference)) => {
                let opens_reference = value[reference.offset..].starts_with("${");
                prop_assert!(opens_reference);
                prop_assert!(lookup(&reference.name).is_none());
            }
            Err(super::secret::ResolveFailure::Malformed { offset, text }) => {
                prop_assert!(value[offset..].starts_with(&text[..1]));
            }
        }
    }

    #[test]
    fn references_resolve_to_exactly_their_values(
        parts in prop::collection::vec(("[a-z /:@.]{0,6}", "[A-Z_][A-Z0-9_]{0,5}", ".{1,8}"), 1..5),
    ) {
        let mut template = String::new();
        let mut expected = String::new();
        let mut values = std::collections::BTreeMap::new();
        for (literal, name, value) in &parts {
            // A name used twice keeps its first value.
            let value = values.entry(name.clone()).or_insert_with(|| value.clone()).clone();
            template.push_str(literal);
            let _ = write!(template, "${{{name}}}");
            expected.push_str(literal);
            expected.push_str(&value);
        }
        let lookup = |name: &str| values.get(name).cloned();
        let redactor = Redactor::default();
        let resolved = super::secret::resolve(&template, &lookup, &redactor);
        prop_assert_eq!(resolved, Ok(expected));
    }
}
