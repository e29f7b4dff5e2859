//! `shipgate check`: good configs pass, bad ones name file:line:column, the
//! key, what was expected and a fix.

use crate::support::Test;

const GOOD: &str = r#"
[environments.production]
url = "http://127.0.0.1:9"

[[smoke.check]]
name = "health"
path = "/api/health"
"#;

#[test]
fn check_accepts_a_valid_config() {
    Test::new().config(GOOD).args(["check"]).run(0).stdout_has("✓ config");
}
