//! `${NAME}` references and the redaction of every value they resolve to.
//!
//! Secrets never live in the config file: a value may contain `${NAME}`, which
//! reads the environment at run time. Every value read that way is treated as a
//! secret and registered with the [`Redactor`], which every output sink passes
//! its text through. Use literal values for things that are not secret.

use std::fmt::{self, Write as _};
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
/// Sinks mask each string *before* they encode it ([`Redactor::redact`] on the
/// report's fields, then JSON, XML, workflow-command or Markdown escaping), so
/// an escaped secret never exists to be missed (issue 10, item 5). The
/// finished text passes through again as a second net, which is why every
/// encoded form a sink could produce is registered too. Cheap to clone
/// (shared).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Secrets>>,
}

#[derive(Debug, Default)]
struct Secrets {
    /// The values as registered, for `::add-mask::`.
    values: Vec<String>,
    /// Every value and its encoded forms, longest first.
    forms: Vec<String>,
}

impl Redactor {
    /// Adds a secret value; its encoded forms (JSON, XML, URL, workflow
    /// command and Markdown escaping, and those nested once) are masked too.
    pub fn register(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let Ok(mut secrets) = self.inner.write() else {
            return;
        };
        if secrets.values.iter().any(|value| value == secret) {
            return;
        }
        secrets.values.push(secret.to_owned());
        for form in encoded_forms(secret) {
            if !form.is_empty() && !secrets.forms.contains(&form) {
                secrets.forms.push(form);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        secrets.forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// The registered values, as registered (for `::add-mask::`).
    pub fn secrets(&self) -> Vec<String> {
        self.inner
            .read()
            .map(|s| s.values.clone())
            .unwrap_or_default()
    }

    /// Replaces every occurrence of a registered secret (in any of its
    /// forms) with [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let Ok(secrets) = self.inner.read() else {
            return text.to_owned();
        };
        let mut out = text.to_owned();
        for secret in &secrets.forms {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// `secret` and the forms the sinks (and the servers that echo it) encode it
/// in: JSON, XML, form- and percent-encoding, the URL component encodings,
/// GitHub's workflow-command escaping and Markdown table cells; then each of
/// those JSON-escaped and workflow-command-escaped once more.
fn encoded_forms(secret: &str) -> Vec<String> {
    let json = |text: &str| {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        quoted
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or_default()
            .to_owned()
    };
    let xml = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
    };
    let workflow_data = |text: &str| {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let workflow_property =
        |text: &str| workflow_data(text).replace(':', "%3A").replace(',', "%2C");
    let mut base = vec![
        secret.to_owned(),
        json(secret),
        xml(secret),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encode_all(secret),
        secret.replace('|', "\\|").replace('\n', "<br>"),
    ];
    base.extend(url_component_forms(secret));
    let mut forms = base.clone();
    for form in &base {
        forms.push(json(form));
        forms.push(workflow_data(form));
        forms.push(workflow_property(form));
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
fn percent_encode_all(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `text` as a URL's password, path segment, query and fragment encode it
/// (a secret interpolated into a URL is sent, and echoed, in these forms).
fn url_component_forms(text: &str) -> Vec<String> {
    let Ok(base) = url::Url::parse("http://host/") else {
        return Vec::new();
    };
    let mut forms = Vec::new();
    let mut url = base.clone();
    if url.set_password(Some(text)).is_ok() {
        forms.extend(url.password().map(str::to_owned));
    }
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(text);
    }
    forms.push(url.path().trim_start_matches('/').to_owned());
    let mut url = base.clone();
    url.set_query(Some(text));
    forms.extend(url.query().map(str::to_owned));
    let mut url = base;
    url.set_fragment(Some(text));
    forms.extend(url.fragment().map(str::to_owned));
    forms
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
        // A password in a URL sits before an `@`; most values have none and
        // are not parsed (a 500-check suite parsed every path).
        if value.contains('@') {
            if let Ok(mut url) = url::Url::parse(&value) {
                if url.password().is_some() && url.set_password(Some(MASK)).is_ok() {
                    shown = url.to_string();
                }
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
    fn every_encoded_form_of_a_secret_is_masked() {
        // issue 10, item 5: the forms the sinks produce were leaking.
        let redactor = Redactor::default();
        let secret = r#"a&b"c<d\e/f+g=h|i%j:k,l'm"#;
        redactor.register(secret);
        let json = serde_json::to_string(secret).unwrap();
        let double_json = serde_json::to_string(&json).unwrap();
        for form in [
            secret.to_owned(),
            json.clone(),
            double_json,
            "a&amp;b&quot;c&lt;d\\e/f+g=h|i%j:k,l&apos;m".to_owned(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            percent_encode_all(secret),
            percent_encode_all(secret).replace('%', "%25"),
            secret.replace('%', "%25"),
            secret.replace('|', "\\|"),
        ] {
            assert!(
                !redactor.redact(&format!("<{form}>")).contains(&form),
                "`{form}` not masked"
            );
        }
        assert_eq!(redactor.secrets(), [secret]);
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
