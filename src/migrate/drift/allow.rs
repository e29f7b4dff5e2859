//! `[gate.drift] allow`: `CLASS:GLOB` patterns for known, accepted
//! differences (objects a platform adds), matched against a finding's
//! class and unquoted qualified name.

use globset::{GlobBuilder, GlobMatcher};

use super::DriftFinding;
use super::words::identifiers;
use crate::config::DriftAllow;
use crate::db::postgres::catalog::ObjectClass;

/// One compiled `allow` pattern.
pub(super) struct Allow {
    class: Option<ObjectClass>,
    glob: GlobMatcher,
}

impl Allow {
    /// The patterns the config validated; one that no longer compiles is
    /// skipped (it cannot: the config compiled it).
    pub(super) fn compile(patterns: &[DriftAllow]) -> Vec<Self> {
        patterns
            .iter()
            .filter_map(|pattern| {
                let glob = GlobBuilder::new(&pattern.glob)
                    .literal_separator(false)
                    .build()
                    .ok()?
                    .compile_matcher();
                let class = if pattern.class == "*" {
                    None
                } else {
                    Some(ObjectClass::from_key(&pattern.class)?)
                };
                Some(Self { class, glob })
            })
            .collect()
    }

    /// Whether the pattern covers the finding: same class (or `*`) and the
    /// glob matches its name (quotes removed; `public.` optional). A
    /// `schema:` pattern also covers everything inside the schemas it
    /// matches.
    pub(super) fn matches(&self, finding: &DriftFinding) -> bool {
        let parts = identifiers(&finding.name);
        let name = parts.join(".");
        let unqualified = match parts.split_first() {
            Some((schema, rest)) if schema == "public" && !rest.is_empty() => rest.join("."),
            _ => name.clone(),
        };
        let named = |text: &str| self.glob.is_match(text);
        match self.class {
            Some(ObjectClass::Schema) => {
                object_schema(finding).is_some_and(|schema| named(&schema))
            }
            Some(class) if class != finding.class => false,
            _ => named(&name) || named(&unqualified),
        }
    }
}

/// The schema an object lives in (a schema is its own), when it has one.
fn object_schema(finding: &DriftFinding) -> Option<String> {
    match finding.class {
        ObjectClass::Extension => finding
            .database
            .as_deref()
            .or(finding.migrations.as_deref())
            .and_then(|definition| definition.rsplit_once(" in "))
            .map(|(_, schema)| identifiers(schema).remove(0)),
        ObjectClass::Publication
        | ObjectClass::EventTrigger
        | ObjectClass::DefaultPrivileges
        | ObjectClass::Comment => None,
        _ => Some(identifiers(&finding.name).remove(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::postgres::catalog::{CatalogObject, Difference};

    fn allow(pattern: &str) -> Allow {
        let (class, glob) = pattern.split_once(':').unwrap();
        let compiled = Allow::compile(&[DriftAllow {
            class: class.to_owned(),
            glob: glob.to_owned(),
            location: None,
        }]);
        compiled.into_iter().next().unwrap()
    }

    fn extra(class: ObjectClass, name: &str, definition: &str) -> DriftFinding {
        let object = CatalogObject {
            class,
            name: name.to_owned(),
            definition: definition.to_owned(),
        };
        super::super::words::finding(&Difference::Added(object), "production")
    }

    #[test]
    fn allow_patterns_match_exactly_what_they_name() {
        let legacy = extra(ObjectClass::Table, "public.legacy_orders", "table");
        let users = extra(ObjectClass::Table, "public.users", "table");
        let legacy_column = extra(ObjectClass::Column, "public.legacy_orders.id", "integer");
        assert!(allow("table:public.legacy_*").matches(&legacy));
        assert!(allow("table:legacy_*").matches(&legacy));
        assert!(!allow("table:public.legacy_*").matches(&users));
        assert!(!allow("table:public.legacy_*").matches(&legacy_column));
        assert!(allow("*:public.legacy_*").matches(&legacy_column));

        let auth_schema = extra(ObjectClass::Schema, "auth", "");
        let auth_function = extra(ObjectClass::Function, "auth.uid()", "function");
        let extension = extra(
            ObjectClass::Extension,
            "pgcrypto",
            "version 1.3 in extensions",
        );
        assert!(allow("schema:auth").matches(&auth_schema));
        assert!(allow("schema:auth").matches(&auth_function));
        assert!(!allow("schema:auth").matches(&users));
        assert!(allow("schema:extensions").matches(&extension));
        assert!(!allow("schema:auth").matches(&extension));

        let quoted = extra(ObjectClass::Table, "public.\"User\"", "table");
        assert!(allow("table:User").matches(&quoted));
    }
}
