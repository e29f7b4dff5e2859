//! `{{name}}` placeholders in smoke check requests, filled with values that
//! earlier checks of the same flow captured.
//!
//! The config checks that every placeholder names a variable captured
//! earlier in its flow; `smoke` fills them in at run time.

use std::collections::BTreeMap;

use super::secret::is_variable_name;

/// The variable names used as `{{name}}` in `text`, in order.
pub fn variables(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        if is_variable_name(name) {
            names.push(name.to_owned());
        }
        rest = &after[close + 2..];
    }
    names
}

/// `text` with every `{{name}}` whose name is in `values` replaced.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push_str(&rest[..open]);
        match values.get(after[..close].trim()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_fills_placeholders() {
        assert_eq!(
            variables("Bearer {{token}} {{ user_id }} {{not a name}}"),
            ["token", "user_id"]
        );
        let values = BTreeMap::from([("token".to_owned(), "abc".to_owned())]);
        assert_eq!(
            substitute("Bearer {{token}}/{{other}}", &values),
            "Bearer abc/{{other}}"
        );
        assert_eq!(
            substitute("no placeholders {{", &values),
            "no placeholders {{"
        );
    }
}
