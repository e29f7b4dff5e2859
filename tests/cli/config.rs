//! `shipgate check`: good configs pass; each bad one names `file:line:column`,
//! the key, what was expected and a fix, and exits 2. Secrets resolved from
//! `${VAR}` never appear in any renderer's output.

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
    Test::new()
        .config(GOOD)
        .args(["check"])
        .run(0)
        .stdout_has("✓ config `shipgate.toml` is valid")
        .stdout_has("✓ smoke 1 check(s)");
}

#[test]
fn missing_config_file_names_it_and_suggests_a_fix() {
    Test::new()
        .args(["check", "--config", "nope.toml"])
        .run(2)
        .stderr_has("error: failed to read config file `nope.toml`")
        .stderr_has("hint: create `nope.toml`");
}

/// Runs `check` on `config` and asserts exit 2 plus every expected fragment on stderr.
#[track_caller]
fn rejects(config: &str, args: &[&str], fragments: &[&str]) {
    let test = Test::new()
        .config(config)
        .args(["check"])
        .args(args.iter().copied());
    let output = test.run(2);
    for fragment in fragments {
        output.stderr_has(fragment);
    }
}

#[test]
fn unknown_key_names_the_table_and_suggests_the_close_name() {
    rejects(
        "[environments.production]\nur = \"http://x\"\n",
        &[],
        &[
            "error: unknown field `ur`, expected one of `url`, `database`, `direct_url`, `shadow_database`, `provider`, `releases`, `vercel`, `railway`, `command`, `deployments`, in table `[environments.production]`",
            "--> shipgate.toml:2:1",
            "2 | ur = \"http://x\"",
            "hint: did you mean `url`?",
        ],
    );
}

#[test]
fn wrong_type_says_what_was_expected() {
    rejects(
        "[environments.production]\nurl = \"http://x\"\n[smoke]\nconcurrency = \"eight\"\n",
        &[],
        &[
            "error: invalid type: string \"eight\", expected usize, for key `smoke.concurrency`",
            "--> shipgate.toml:4:15",
            "hint: write a whole number without quotes, e.g. `8`",
        ],
    );
}

#[test]
fn bad_duration_shows_the_accepted_forms() {
    rejects(
        "[environments.production]\nurl = \"http://x\"\n[smoke]\nready_within = \"soon\"\n",
        &[],
        &[
            "error: invalid duration `soon`: expected a number and a unit, like `250ms`, `90s`, `5m` or `1h 30m`, for key `smoke.ready_within`",
            "--> shipgate.toml:4:16",
            "|                ^^^^^^",
        ],
    );
}

#[test]
fn bad_url_names_the_key_and_the_value() {
    rejects(
        "[environments.production]\nurl = \"htp//x\"\n",
        &[],
        &[
            "error: invalid URL `htp//x` for key `environments.production.url`: relative URL without a base",
            "--> shipgate.toml:2:7",
            "hint: write an absolute URL like `https://app.example.com`",
        ],
    );
}

#[test]
fn missing_environment_lists_the_defined_ones() {
    rejects(
        "[environments.production]\nurl = \"http://x\"\n[environments.staging2]\nurl = \"http://y\"\n",
        &["--env", "staging"],
        &[
            "error: environment `staging` is not defined in `shipgate.toml`",
            "hint: did you mean `--env staging2`? defined: `production`, `staging2`",
        ],
    );
}

#[test]
fn several_environments_without_production_need_env() {
    rejects(
        "[environments.a]\nurl = \"http://x\"\n[environments.b]\nurl = \"http://y\"\n",
        &[],
        &[
            "defines several environments and none is named `production`",
            "choose one of `a`, `b` with `--env NAME`",
        ],
    );
}

#[test]
fn unset_variable_points_at_the_reference() {
    rejects(
        "[environments.production]\nurl = \"http://x\"\ndatabase = \"${SHIPGATE_TEST_UNSET_DB}\"\n",
        &[],
        &[
            "error: environment variable `SHIPGATE_TEST_UNSET_DB` is not set (or is empty), for key `environments.production.database`",
            "--> shipgate.toml:3:13",
            "hint: export `SHIPGATE_TEST_UNSET_DB` before running shipgate",
        ],
    );
}

#[test]
fn duplicate_check_names_point_at_both() {
    rejects(
        "[environments.production]\nurl = \"http://x\"\n[[smoke.check]]\nname = \"health\"\npath = \"/a\"\n[[smoke.check]]\nname = \"health\"\npath = \"/b\"\n",
        &[],
        &[
            "error: duplicate smoke check name `health`: it is already used at line 4",
            "--> shipgate.toml:7:8",
            "hint: give each `[[smoke.check]]` a unique `name`",
        ],
    );
}

#[test]
fn duplicate_gate_names_are_refused() {
    rejects(
        "[environments.production]\n[[gate.command]]\nname = \"lint\"\nrun = \"true\"\n[[gate.command]]\nname = \"lint\"\nrun = \"false\"\n",
        &[],
        &[
            "error: duplicate gate name `lint`: it is already used at line 3",
            "--> shipgate.toml:6:8",
        ],
    );
}

#[test]
fn unknown_provider_lists_the_available_ones() {
    rejects(
        "[environments.production]\nprovider = \"heroku\"\n",
        &[],
        &[
            "error: unknown variant `heroku`, expected one of `none`, `releases`, `vercel`, `railway`, `command`, for key `environments.production.provider`",
            "--> shipgate.toml:2:12",
            "hint: use one of `none`, `releases`, `vercel`, `railway`, `command`",
        ],
    );
}

#[test]
fn a_provider_without_its_table_says_which_table_to_add() {
    rejects(
        "[environments.production]\nprovider = \"vercel\"\n",
        &[],
        &[
            "error: provider `vercel` needs an `[environments.production.vercel]` table",
            "--> shipgate.toml:2:12",
            "hint: add `[environments.production.vercel]` with `token = \"${VERCEL_TOKEN}\"` and `project = \"prj_…\"`",
        ],
    );
}

#[test]
fn unsupported_database_scheme_is_named() {
    rejects(
        "[environments.production]\ndatabase = \"mysql://app@db/app\"\n",
        &[],
        &[
            "error: unsupported database URL scheme `mysql`, for key `environments.production.database`",
        ],
    );
}

#[test]
fn invalid_jsonpath_is_named() {
    rejects(
        "[environments.production]\nurl = \"http://x\"\n[[smoke.check]]\nname = \"h\"\npath = \"/\"\nexpect = { json = { \"$.a[\" = 1 } }\n",
        &[],
        &[
            "error: invalid JSONPath `$.a[` in check `h`",
            "--> shipgate.toml:6:10",
        ],
    );
}

#[test]
fn path_without_any_base_url_is_refused_when_smoke_runs() {
    let config = "[environments.production]\n[[smoke.check]]\nname = \"h\"\npath = \"/health\"\n";
    Test::new().config(config).args(["check"]).run(0);
    Test::new()
        .config(config)
        .args(["smoke"])
        .run(2)
        .stderr_has("hint: pass `--url BASE`, or set `url` in `[environments.production]`");
}

#[test]
fn provider_releases_without_its_table_is_refused() {
    rejects(
        "[environments.production]\nprovider = \"releases\"\n",
        &[],
        &["error: provider `releases` needs an `[environments.production.releases]` table"],
    );
}

const SECRET_CONFIG: &str = r#"
[environments.production]
url = "http://127.0.0.1:9/?key=${APP_KEY}"
database = "sqlite://${DB_NAME}.db"

[[smoke.check]]
name = "health"
path = "/api/health"
headers = { Authorization = "Bearer ${API_TOKEN}" }
"#;

fn secret_test(format: &str) -> Test {
    Test::new()
        .config(SECRET_CONFIG)
        .env("APP_KEY", "url-secret-1234")
        .env("DB_NAME", "db-secret-5678")
        .env("API_TOKEN", "header-secret-9012")
        .args(["check", "--format", format])
}

#[test]
fn secrets_are_masked_in_human_output() {
    let output = secret_test("human").run(0);
    output.stdout_has("key=***").stdout_has("sqlite://***.db");
    for secret in ["url-secret-1234", "db-secret-5678", "header-secret-9012"] {
        output.nowhere(secret);
    }
}

#[test]
fn secrets_are_masked_in_json_output_and_the_report_file() {
    let test = secret_test("json").args(["--report", "report.json"]);
    let output = test.run(0);
    let report = fs_err::read_to_string(test.path().join("report.json")).unwrap();
    for secret in ["url-secret-1234", "db-secret-5678", "header-secret-9012"] {
        output.nowhere(secret);
        assert!(
            !report.contains(secret),
            "report file leaks {secret}:\n{report}"
        );
    }
    assert!(
        output.json()["phases"][0]["checks"]
            .to_string()
            .contains("***")
    );
}

#[test]
fn github_output_registers_masks_and_leaks_nothing_else() {
    let output = secret_test("github").run(0);
    for secret in ["url-secret-1234", "db-secret-5678", "header-secret-9012"] {
        output.stdout_has(&format!("::add-mask::{secret}\n"));
        let leaks = output
            .stdout
            .lines()
            .filter(|line| line.contains(secret) && !line.starts_with("::add-mask::"))
            .count();
        assert_eq!(leaks, 0, "{secret} leaked:\n{}", output.stdout);
        assert!(!output.stderr.contains(secret));
    }
}

#[test]
fn secrets_in_error_messages_are_masked() {
    Test::new()
        .config("[environments.production]\nurl = \"${BAD_URL}\"\n")
        .env("BAD_URL", "not-a-url-secret")
        .args(["check"])
        .run(2)
        .stderr_has("invalid URL `***`")
        .nowhere("not-a-url-secret");
}

#[test]
fn a_platform_token_must_be_one_variable_and_is_never_echoed() {
    rejects(
        "[environments.production]\n[environments.production.vercel]\ntoken = \"vcp_pasted_token_123\"\nproject = \"prj_1\"\n",
        &[],
        &[
            "error: `environments.production.vercel.token` must be a single `${VAR}` reference, so the token stays out of the file",
            "--> shipgate.toml:3:9",
            "hint: write `token = \"${VERCEL_TOKEN}\"` and pass `VERCEL_TOKEN` from a secret",
        ],
    );
    let output = Test::new()
        .config("[environments.production]\n[environments.production.vercel]\ntoken = \"vcp_pasted_token_123\"\nproject = \"prj_1\"\n")
        .args(["check"])
        .run(2);
    output.stderr_has("3 | token = \"***\"");
    assert!(
        !output.stderr.contains("vcp_pasted_token_123"),
        "{}",
        output.stderr
    );
}

#[test]
fn provider_tables_are_checked_with_their_fix() {
    rejects(
        "[environments.production]\n[environments.production.railway]\ntoken = \"${RAILWAY_TOKEN}\"\nproject = \"p\"\nenvironment = \"e\"\n",
        &["--env", "production"],
        &[
            "error: `[environments.production.railway]` names no service",
            "hint: add `service = \"<service id>\"`",
        ],
    );
    rejects(
        "[environments.production]\nprovider = \"releases\"\n[environments.production.command]\ndeploy = \"a\"\ncurrent = \"b\"\nlist = \"c\"\npromote = \"d\"\n",
        &[],
        &[
            "error: `environments.production.command` is set but `provider = \"releases\"`",
            "--> shipgate.toml:3:1",
        ],
    );
    rejects(
        "[environments.production]\n[environments.production.vercel]\ntoken = \"${HOME}\"\nproject = \"prj_1\"\ndeploy = \"command\"\n",
        &[],
        &[
            "error: `environments.production.vercel.deploy = \"command\"` needs a `command` to run",
            "--> shipgate.toml:5:10",
        ],
    );
    rejects(
        "[environments.production]\n[[deploy.hook]]\nname = \"inngest\"\nrun = \"true\"\nwhen_changed = [\"src/[inngest/**\"]\n",
        &[],
        &["error: invalid glob `src/[inngest/**` in deploy hook `inngest`"],
    );
}
