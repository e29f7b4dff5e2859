//! The `command` provider and `[[deploy.hook]]` end to end (issue 12): a fake
//! "platform" made of one shell script in the test's dir that keeps its
//! state in files, and a real HTTP server whose answer follows the release
//! the platform serves.
//!
//! `platform/releases/<id>/status` is a release (copied from
//! `build/<next-build>/status`), `platform/current` links to the live one and
//! `platform/history` lists deployments oldest first (`id at commit`).

use crate::support::Test;
use crate::support::app::ReleaseApp;

/// The fake platform: `sh platform.sh deploy|current|list|promote ID COMMIT`.
/// `list` reports every release as `$PLATFORM_STATE` (default `deployed`).
pub(crate) const PLATFORM: &str = r#"#!/bin/sh
set -eu
json() {
    commit=null
    [ -n "$3" ] && commit="\"$3\""
    printf '{"id": "%s", "state": "%s", "deployed_at": "%s", "commit": %s, "url": "https://%s.example"}' \
        "$1" "${PLATFORM_STATE:-deployed}" "$2" "$commit" "$1"
}
case "$1" in
deploy)
    echo "uploading $2" >&2
    n=$(( $(cat platform/history 2>/dev/null | wc -l) ))
    mkdir -p "platform/releases/$2"
    cp "build/$(cat next-build)/status" "platform/releases/$2/status"
    printf '%s 2025-01-01T00:%02d:00Z %s\n' "$2" "$n" "$3" >> platform/history
    ln -sfn "releases/$2" platform/current
    echo "deployed"
    echo "$2"
    ;;
current)
    [ -L platform/current ] || { echo null; exit 0; }
    live=$(basename "$(readlink platform/current)")
    while read -r id at commit; do
        if [ "$id" = "$live" ]; then json "$id" "$at" "${commit:-}"; fi
    done < platform/history
    ;;
list)
    printf '['
    sep=''
    for line in $(tac platform/history 2>/dev/null | tr ' ' ','); do
        IFS=, read -r id at commit <<EOF
$line
EOF
        printf '%s' "$sep"; json "$id" "$at" "${commit:-}"; sep=', '
    done
    printf ']\n'
    ;;
promote)
    [ -d "platform/releases/$2" ] || { echo "no release $2" >&2; exit 2; }
    ln -sfn "releases/$2" platform/current
    ;;
esac
"#;

/// The provider table; `promote` may be swapped for a broken one.
pub(crate) fn config(app: &ReleaseApp, promote: &str, list: &str, extra: &str) -> String {
    format!(
        r#"
[environments.prod]
url = "{url}"
provider = "command"

[environments.prod.command]
deploy = "sh platform.sh deploy {{release}} {{commit}}"
current = "sh platform.sh current"
list = "{list}"
promote = "{promote}"
timeout = "20s"

[smoke]
ready_within = "1s"

[[smoke.check]]
name = "health"
path = "/health"
timeout = "1s"
{extra}
"#,
        url = app.url()
    )
}

pub(crate) const PROMOTE: &str = "sh platform.sh promote {release}";
pub(crate) const LIST: &str = "sh platform.sh list";

pub(crate) fn project() -> (Test, ReleaseApp) {
    let test = Test::new()
        .file("platform.sh", PLATFORM)
        .file("build/good/status", "200")
        .file("build/bad/status", "503")
        .file("next-build", "good");
    fs_err::create_dir_all(test.path().join("platform")).unwrap();
    let app = ReleaseApp::start(test.path().join("platform"));
    (test, app)
}

pub(crate) fn next_build(test: &Test, build: &str) {
    fs_err::write(test.path().join("next-build"), build).unwrap();
}

pub(crate) fn live(test: &Test) -> String {
    let link = fs_err::read_link(test.path().join("platform/current")).unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

fn health_record(test: &Test) -> serde_json::Value {
    let contents = fs_err::read_to_string(test.path().join(".state/health-prod.json")).unwrap();
    serde_json::from_str(&contents).unwrap()
}

#[test]
fn check_accepts_the_command_table() {
    let (test, app) = project();
    let test = test.config(&config(&app, PROMOTE, LIST, ""));
    Test::args_for(&test, ["check"])
        .run(0)
        .stdout_has("command (deploy, current, list, promote)");
}

#[test]
fn deploy_makes_the_release_live_and_proves_it_through_current() {
    let (test, app) = project();
    let test = test.config(&config(&app, PROMOTE, LIST, ""));
    Test::args_for(&test, ["deploy", "--id", "v1", "--commit", "abc1234"])
        .run(0)
        .stdout_has("✓ v1")
        .stdout_has("live via `command` (nothing live yet)");
    assert_eq!(live(&test), "v1");
    assert_eq!(
        fs_err::read_to_string(test.path().join("platform/history")).unwrap(),
        "v1 2025-01-01T00:00:00Z abc1234\n"
    );
}

#[test]
fn failed_smoke_promotes_the_previous_release_and_verifies_it() {
    let (test, app) = project();
    let test = test.config(&config(&app, PROMOTE, LIST, ""));
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    next_build(&test, "bad");
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(4)
        .stdout_has("got:      status 503")
        .stdout_has("✓ promote v1")
        .stdout_has("(exit 4");
    assert_eq!(live(&test), "v1");
    let record = health_record(&test);
    assert_eq!(record["releases"]["v1"]["state"], "healthy", "{record}");
    assert_eq!(record["releases"]["v2"]["state"], "failed", "{record}");
}

#[test]
fn a_list_printing_invalid_json_is_a_clear_error() {
    let (test, app) = project();
    let list = r#"echo '[{\"id\": \"v1\",}]'"#;
    let test = test.config(&config(&app, PROMOTE, list, ""));
    Test::args_for(&test, ["deploy", "--id", "v1"]).run(0);
    Test::args_for(&test, ["rollback", "--yes"])
        .run(5)
        .stdout_has("✗ read release history")
        .stdout_has(r#"the list command `echo '[{"id": "v1",}]'` printed invalid JSON: trailing comma at line 1 column 14"#)
        .stdout_has(r#"[{"id": "v1",}]"#);
}

#[test]
fn a_promote_that_switches_nothing_fails_the_rollback() {
    let (test, app) = project();
    let test = test.config(&config(&app, "echo promoted {release}", LIST, ""));
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    next_build(&test, "bad");
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(5)
        .stdout_has("✗ promote v1")
        .stdout_has("the promote command `echo promoted {release}` exited 0, but `current` still reports `v2` instead of `v1`");
    assert_eq!(live(&test), "v2");
}

#[test]
fn rollback_skips_a_release_recorded_failed_that_the_platform_calls_healthy() {
    let (test, app) = project();
    let test = test
        .config(&config(&app, PROMOTE, LIST, ""))
        .env("PLATFORM_STATE", "healthy");
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    next_build(&test, "bad");
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(4)
        .stdout_has("✓ promote v1");
    // The platform lists v2 as healthy; shipgate recorded it failed.
    let output = Test::args_for(&test, ["run", "--id", "v3"]).run(4);
    output.stdout_has("✓ promote v1");
    assert!(!output.stdout.contains("promote v2"), "{}", output.stdout);
    assert_eq!(live(&test), "v1");
}

/// `git` in `test`'s dir with a fixed identity; returns trimmed stdout.
fn git(test: &Test, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(test.path())
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", test.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A repository with two commits; the second changes `src/inngest/` only.
fn two_commits(test: &Test) -> (String, String) {
    fs_err::write(
        test.path().join(".gitignore"),
        "platform/\n.state/\nmarker-*\n",
    )
    .unwrap();
    fs_err::create_dir_all(test.path().join("src/inngest")).unwrap();
    fs_err::write(test.path().join("src/app.ts"), "app\n").unwrap();
    git(test, &["init", "-q"]);
    git(test, &["add", "."]);
    git(test, &["commit", "-q", "-m", "one"]);
    let first = git(test, &["rev-parse", "HEAD"]);
    fs_err::write(test.path().join("src/inngest/jobs.ts"), "jobs\n").unwrap();
    git(test, &["add", "."]);
    git(test, &["commit", "-q", "-m", "two"]);
    let second = git(test, &["rev-parse", "HEAD"]);
    (first, second)
}

const HOOKS: &str = r#"
[[deploy.hook]]
name = "inngest"
run = "touch marker-inngest-$SHIPGATE_RELEASE_ID"
when_changed = ["src/inngest/**"]

[[deploy.hook]]
name = "docs"
run = "touch marker-docs-{release}"
when_changed = ["docs/**", "*.md"]
"#;

#[test]
fn hooks_run_only_when_their_paths_changed_since_the_last_healthy_release() {
    let (test, app) = project();
    let test = test.config(&config(&app, PROMOTE, LIST, HOOKS));
    let (first, second) = two_commits(&test);
    let marker = |name: &str| test.path().join(name).exists();

    // No earlier healthy release: both run, and say why.
    Test::args_for(&test, ["run", "--id", "v1", "--commit", &first])
        .run(0)
        .stdout_has("✓ hook inngest")
        .stdout_has("changes unknown: no earlier healthy release with a known commit");
    assert!(marker("marker-inngest-v1") && marker("marker-docs-v1"));

    let short = &first[..7];
    Test::args_for(&test, ["deploy", "--dry-run", "--id", "v2", "--commit", &second])
        .run(0)
        .stdout_has(&format!(
            "would run: `src/inngest/jobs.ts` changed since `{short}`"
        ))
        .stdout_has(&format!(
            "would skip: no change under `docs/**`, `*.md` since `{short}` (changed: `src/inngest/jobs.ts`)"
        ));
    assert!(!marker("marker-inngest-v2"));

    Test::args_for(&test, ["run", "--id", "v2", "--commit", &second])
        .run(0)
        .stdout_has("✓ hook inngest")
        .stdout_has("- hook docs")
        .stdout_has(&format!(
            "no change under `docs/**`, `*.md` since `{short}`"
        ));
    assert!(marker("marker-inngest-v2"));
    assert!(!marker("marker-docs-v2"));
}

#[test]
fn a_failing_hook_fails_the_deploy_and_rolls_back() {
    let (test, app) = project();
    let hooks = r#"
[[deploy.hook]]
name = "inngest"
run = "test \"$SHIPGATE_RELEASE_ID\" != v2 || { echo 'inngest: invalid signing key' >&2; exit 3; }"

[[deploy.hook]]
name = "after"
run = "touch marker-after-$SHIPGATE_RELEASE_ID"
"#;
    let test = test.config(&config(&app, PROMOTE, LIST, hooks));
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    let output = Test::args_for(&test, ["run", "--id", "v2"]).run(4);
    output
        .stdout_has("✗ hook inngest")
        .stdout_has("exited with status 3")
        .stdout_has("inngest: invalid signing key")
        .stdout_has("not run: hook `inngest` failed")
        .stdout_has("`deploy` failed")
        .stdout_has("✓ promote v1");
    assert_eq!(live(&test), "v1");
    assert!(!test.path().join("marker-after-v2").exists());
    assert_eq!(health_record(&test)["releases"]["v2"]["state"], "failed");
}

#[test]
fn secrets_in_config_and_command_output_never_reach_the_output() {
    let (test, app) = project();
    let secret = "Sg-s3cr3t'$\"tok&en";
    let hooks = r#"
[[deploy.hook]]
name = "leaky"
run = "echo \"token is $SMOKE_TOKEN\"; echo \"token is $SMOKE_TOKEN\" >&2; test \"$SHIPGATE_RELEASE_ID\" = v1"
"#;
    let extra = format!("headers = {{ Authorization = \"Bearer ${{SMOKE_TOKEN}}\" }}\n{hooks}");
    let test = test
        .config(&config(&app, PROMOTE, LIST, &extra))
        .env("SMOKE_TOKEN", secret);
    Test::args_for(&test, ["run", "--id", "v1"])
        .run(0)
        .nowhere(secret);
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(4)
        .stdout_has("✗ hook leaky")
        .stdout_has("token is ")
        .nowhere(secret);
    let escaped = serde_json::to_string(secret).unwrap();
    Test::args_for(&test, ["run", "--id", "v3", "--format", "json"])
        .run(4)
        .nowhere(secret)
        .nowhere(&escaped[1..escaped.len() - 1]);
}

#[test]
fn a_destructive_migration_in_a_failed_run_is_restored_per_the_database_policy() {
    let (test, app) = project();
    let with_database = config(&app, PROMOTE, LIST, "\n[migrate]\ndir = \"migrations\"\n").replace(
        "provider = \"command\"",
        "provider = \"command\"\ndatabase = \"sqlite://app.db\"",
    );
    let test = test.config(&with_database).file(
        "migrations/0001_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\nINSERT INTO users VALUES (1), (2);\n",
    );
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);

    // Destructive: `rollback.database = "auto"` restores the pre-run backup.
    fs_err::write(
        test.path().join("migrations/0002_drop_users.sql"),
        "DROP TABLE users;\n",
    )
    .unwrap();
    next_build(&test, "bad");
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(4)
        .stdout_has("✓ promote v1")
        .stdout_has("restored `");
    assert_eq!(live(&test), "v1");
    let connection = rusqlite::Connection::open(test.path().join("app.db")).unwrap();
    let users: i64 = connection
        .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
        .unwrap();
    assert_eq!(users, 2, "the dropped table and its rows are back");
}

#[test]
fn with_no_valid_target_the_rollback_fails_listing_each_release_and_why() {
    let (test, app) = project();
    // The platform reports every release as failed.
    let test = test
        .config(&config(&app, PROMOTE, LIST, ""))
        .env("PLATFORM_STATE", "failed");
    Test::args_for(&test, ["run", "--id", "v1"]).run(0);
    next_build(&test, "bad");
    Test::args_for(&test, ["run", "--id", "v2"])
        .run(5)
        .stdout_has("✗ choose target no earlier release passed its checks, so there is nothing safe to roll back to; considered `v2`: it is the release being rolled back from; `v1`: it is recorded as failed (the platform says failed)");
    assert_eq!(live(&test), "v2", "nothing was promoted");
}

/// The reusable workflow's separate steps: `deploy`, then `smoke` records the
/// release healthy, so a later failing deploy's `rollback` step finds it.
#[test]
fn separate_deploy_smoke_and_rollback_steps_record_and_use_the_verdict() {
    let (test, app) = project();
    let test = test.config(&config(&app, PROMOTE, LIST, ""));
    Test::args_for(&test, ["deploy", "--id", "v1"]).run(0);
    Test::args_for(&test, ["smoke"])
        .run(0)
        .stdout_has("✓ record healthy `v1`, deployed by this run, passed and is recorded healthy");
    assert_eq!(health_record(&test)["releases"]["v1"]["state"], "healthy");
    // A second smoke step records nothing more.
    let again = Test::args_for(&test, ["smoke"]).run(0);
    assert!(!again.stdout.contains("record healthy"), "{}", again.stdout);

    next_build(&test, "bad");
    Test::args_for(&test, ["deploy", "--id", "v2"]).run(0);
    let failed = Test::args_for(&test, ["smoke"]).run(1);
    assert!(
        !failed.stdout.contains("record healthy"),
        "{}",
        failed.stdout
    );
    Test::args_for(&test, ["rollback", "--yes"])
        .run(0)
        .stdout_has("✓ promote v1");
    assert_eq!(live(&test), "v1");
    assert_eq!(health_record(&test)["releases"]["v2"]["state"], "failed");
}
