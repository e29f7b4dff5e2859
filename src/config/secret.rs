//! `${NAME}` references and the redaction of every value they resolve to.
//!
//! Secrets never live in the config file: a value may contain `${NAME}`, which
//! reads the environment at run time. Every value read that way is treated as a
//! secret and registered with the [`Redactor`], which every output sink passes
//! its text through. Use literal values for things that are not secret.

use std::fmt;
use std::sync::{Arc, RwLock};

/// Placeholder printed instead of a secret.
pub const MASK: &str = "***";

/// One `${NAME}` reference found in a config value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The variable's name.
    pub name: String,
    /// Byte offset of the `$` inside the value.
    pub offset: usize,
}

/// Why a value's `${…}` references could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveFailure {
    /// `${NAME}` names a variable that is unset or empty.
    Unset(Reference),
    /// A `${` without a closing `}` or with an invalid name.
    Malformed { offset: usize, text: String },
}

/// Resolves every `${NAME}` in `value` through `lookup`, registering each
/// resolved value as a secret. `$$` is a literal `$`.
pub fn resolve(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    redactor: &Redactor,
) -> Result<String, ResolveFailure> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut offset = 0;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            offset += dollar + 2;
            rest = stripped;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            offset += dollar + 1;
            rest = after;
            continue;
        };
        let at = offset + dollar;
        let Some(close) = body.find('}') else {
            return Err(ResolveFailure::Malformed {
                offset: at,
                text: rest[dollar..].to_owned(),
            });
        };
        let name = &body[..close];
        if !is_variable_name(name) {
            return Err(ResolveFailure::Malformed {
                offset: at,
                text: format!("${{{name}}}"),
            });
        }
        match lookup(name).filter(|resolved| !resolved.is_empty()) {
            Some(resolved) => {
                redactor.register(&resolved);
                out.push_str(&resolved);
            }
            None => {
                return Err(ResolveFailure::Unset(Reference {
                    name: name.to_owned(),
                    offset: at,
                }));
            }
        }
        let consumed = dollar + 2 + close + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Letters, digits and `_`, not starting with a digit (shared with `{{name}}`).
pub(super) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The set of secret values known to this run; every output passes through it.
///
/// Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// Adds a secret value; its URL-encoded and JSON-escaped forms are masked too.
    pub fn register(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut forms = vec![secret.to_owned()];
        let json = serde_json::to_string(secret).unwrap_or_default();
        let json = json.trim_matches('"').to_owned();
        forms.push(json);
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        forms.push(encoded);
        let Ok(mut secrets) = self.secrets.write() else {
            return;
        };
        for form in forms {
            if !form.is_empty() && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// The registered secrets (for `::add-mask::`).
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Replaces every occurrence of a registered secret with [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else {
            return text.to_owned();
        };
        let mut out = text.to_owned();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// A string that prints with its secrets masked, for URLs and headers that may
/// carry credentials. The password of a URL is always masked, even when it was
/// written literally in the config.
#[derive(Clone)]
pub struct Masked {
    value: String,
    shown: String,
}

impl Masked {
    /// Wraps `value`; `redactor` decides what is secret.
    pub fn new(value: String, redactor: &Redactor) -> Self {
        let mut shown = value.clone();
        if let Ok(mut url) = url::Url::parse(&value) {
            if url.password().is_some() && url.set_password(Some(MASK)).is_ok() {
                shown = url.to_string();
            }
        }
        let shown = redactor.redact(&shown);
        Self { value, shown }
    }

    /// The real value, for use (never for printing).
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t-value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn resolves_and_registers() {
        let redactor = Redactor::default();
        let value = resolve("Bearer ${TOKEN}", &env, &redactor).unwrap();
        assert_eq!(value, "Bearer s3cr3t-value");
        assert_eq!(redactor.redact("got Bearer s3cr3t-value"), "got Bearer ***");
    }

    #[test]
    fn dollar_escapes_and_plain_dollars_pass_through() {
        let redactor = Redactor::default();
        assert_eq!(resolve("a$$b $x", &env, &redactor).unwrap(), "a$b $x");
    }

    #[test]
    fn unset_and_empty_are_errors_with_offsets() {
        let redactor = Redactor::default();
        assert_eq!(
            resolve("x${NOPE}", &env, &redactor),
            Err(ResolveFailure::Unset(Reference {
                name: "NOPE".into(),
                offset: 1
            }))
        );
        assert!(matches!(
            resolve("${EMPTY}", &env, &redactor),
            Err(ResolveFailure::Unset(_))
        ));
        assert!(matches!(
            resolve("${OPEN", &env, &redactor),
            Err(ResolveFailure::Malformed { .. })
        ));
        assert!(matches!(
            resolve("${1X}", &env, &redactor),
            Err(ResolveFailure::Malformed { .. })
        ));
    }

    #[test]
    fn masked_hides_url_passwords_and_registered_secrets() {
        let redactor = Redactor::default();
        redactor.register("tok");
        let masked = Masked::new("postgres://app:pw@db:5432/x?key=tok".into(), &redactor);
        assert_eq!(masked.to_string(), "postgres://app:***@db:5432/x?key=***");
        assert_eq!(masked.expose(), "postgres://app:pw@db:5432/x?key=tok");
    }
}
