//! `shipgate gate`: command gates run concurrently; a failure shows the
//! command's exit code and output tail without hiding the other gates.

use std::fmt::Write as _;

use crate::support::Test;

const GATES: &str = r#"
[environments.production]

[[gate.command]]
name = "lint"
run = "echo linting; true"

[[gate.command]]
name = "typecheck"
run = "echo 'src/app.ts(3,1): error TS2304' >&2; exit 2"
"#;

#[test]
fn failing_gate_is_reported_with_exit_code_and_output_and_others_still_run() {
    let output = Test::new().config(GATES).args(["gate"]).run(1);
    output
        .stdout_has("✓ lint `echo linting; true`")
        .stdout_has("✗ typecheck `echo 'src/app.ts(3,1): error TS2304' >&2; exit 2` failed")
        .stdout_has("expected: exit 0")
        .stdout_has("got:      exit 2")
        .stdout_has("│ src/app.ts(3,1): error TS2304")
        .stdout_has("✗ gate 1 of 2 failed");
}

#[test]
fn only_and_skip_select_gates_and_unknown_names_are_usage_errors() {
    Test::new()
        .config(GATES)
        .args(["gate", "--only", "lint"])
        .run(0)
        .stdout_has("- typecheck skipped");
    Test::new()
        .config(GATES)
        .args(["gate", "--skip", "typecheck"])
        .run(0)
        .stdout_has("✓ lint");
    Test::new()
        .config(GATES)
        .args(["gate", "--only", "lnt"])
        .run(2)
        .stderr_has("error: no gate named `lnt` in the config")
        .stderr_has("hint: did you mean `lint`?");
}

#[test]
fn gates_run_concurrently() {
    let config = r#"
[environments.production]
[[gate.command]]
name = "a"
run = "sleep 1"
[[gate.command]]
name = "b"
run = "sleep 1"
"#;
    let started = std::time::Instant::now();
    Test::new().config(config).args(["gate"]).run(0);
    // Two 1 s gates on at least 2 workers: well under the 2 s a sequential run takes.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1900),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn gate_timeout_kills_the_command() {
    let config = "[environments.production]\n[[gate.command]]\nname = \"slow\"\nrun = \"sleep 30\"\ntimeout = \"300ms\"\n";
    Test::new()
        .config(config)
        .args(["gate"])
        .run(1)
        .stdout_has("`sleep 30` timed out after 300ms and was killed");
}

#[test]
fn dry_run_runs_nothing() {
    let config =
        "[environments.production]\n[[gate.command]]\nname = \"touch\"\nrun = \"touch ran\"\n";
    let test = Test::new().config(config).args(["gate", "--dry-run"]);
    test.run(0).stdout_has("would run `touch ran`");
    assert!(!test.path().join("ran").exists());
}

/// Runs `git` in `dir` with a fixed identity; panics on failure.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const GIT_GATE: &str = r#"
[environments.production]

[gate.git]
clean = ["db/migrations"]
branches = ["main", "release/*"]
"#;

#[test]
fn git_gate_fails_on_dirty_paths_a_wrong_branch_and_conflict_markers() {
    let test = Test::new()
        .config(GIT_GATE)
        .file(
            "db/migrations/0001_users.sql",
            "CREATE TABLE users (id int);\n",
        )
        .file(
            "src/app.js",
            "let a = 1;\n<<<<<<< HEAD\nlet b = 2;\n=======\nlet b = 3;\n>>>>>>> feature\n",
        )
        .file("docs/readme.md", "Title\n=======\n")
        .args(["gate"]);
    let dir = test.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
    git(dir, &["checkout", "-qb", "feature/x"]);
    fs_err::write(
        dir.join("db/migrations/0001_users.sql"),
        "CREATE TABLE users (id bigint);\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("db/migrations/0002_orders.sql"),
        "CREATE TABLE orders ();\n",
    )
    .unwrap();
    fs_err::write(dir.join("notes.txt"), "outside the clean paths\n").unwrap();

    let output = test.run(1);
    output
        .stdout_has("✗ git 2 uncommitted change(s) in `db/migrations`: `db/migrations/0001_users.sql (modified)`, `db/migrations/0002_orders.sql (untracked)`")
        .stdout_has("branch `feature/x` is not in `main`, `release/*`")
        .stdout_has("2 conflict marker(s) in tracked files: `src/app.js:2`, `src/app.js:6`")
        .stdout_has("--> shipgate.toml:4:1")
        .nowhere("notes.txt")
        .nowhere("readme.md");

    // Committed on an allowed branch with the markers resolved: green (no remote).
    fs_err::write(dir.join("src/app.js"), "let a = 1;\n").unwrap();
    git(dir, &["checkout", "-qb", "release/1.2"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "fix"]);
    test.run(0).stdout_has(
        "✓ git `db/migrations` clean; on branch `release/1.2`; no conflict markers; no remote configured",
    );
}

#[test]
fn git_and_migrations_gates_refuse_paths_that_do_not_exist() {
    let config = "[environments.production]\n[migrate]\ndir = \"db/migratoins\"\n[gate.git]\nclean = [\"db/migratoins\"]\n[gate.migrations]\n";
    let test = Test::new()
        .config(config)
        .file("db/migrations/0001_a.sql", "SELECT 1;\n")
        .args(["gate"]);
    git(test.path(), &["init", "-q"]);
    git(test.path(), &["add", "-A"]);
    git(test.path(), &["commit", "-qm", "initial"]);
    test.run(1)
        .stdout_has("✗ git `clean` path(s) not found: `db/migratoins` (relative to the config's directory)")
        .stdout_has("✗ migrations the migrations directory `db/migratoins` does not exist; set `[migrate] dir`");
}

#[test]
fn git_gate_requires_head_pushed_when_a_remote_exists() {
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    let test = Test::new()
        .config("[environments.production]\n[gate.git]\n")
        .args(["gate"]);
    let dir = test.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
    git(
        dir,
        &[
            "remote",
            "add",
            "origin",
            &remote.path().display().to_string(),
        ],
    );
    git(dir, &["push", "-q", "origin", "main"]);
    test.run(0).stdout_has("HEAD pushed (`origin/main`)");

    fs_err::write(dir.join("new.txt"), "x\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "local only"]);
    let head = git(dir, &["rev-parse", "--short", "HEAD"]);
    test.run(1).stdout_has(&format!(
        "✗ git HEAD `{}` is not pushed: no remote branch contains it",
        head.trim()
    ));
}

#[test]
fn env_gate_names_missing_empty_and_placeholder_keys_but_never_values() {
    let manifest = "# required at runtime\nexport DATABASE_URL=postgres://localhost/dev\nAPI_KEY=your-api-key-here\n\nSTRIPE_KEY=\nSENTRY_DSN=\n";
    let config = "[environments.production]\n[gate.env]\nmanifest = \".env.example\"\nkeys = [\"EXTRA_TOKEN\"]\n";
    let output = Test::new()
        .config(config)
        .file(".env.example", manifest)
        .env("DATABASE_URL", "postgres://prod-db.internal/app")
        .env("API_KEY", "changeme")
        .env("STRIPE_KEY", "")
        .env("EXTRA_TOKEN", "tok_live_Zm9vYmFy")
        .args(["gate"])
        .run(1);
    output
        .stdout_has("✗ env 3 of 5 key(s) from `.env.example`: not set: `SENTRY_DSN`; empty: `STRIPE_KEY`; placeholder value: `API_KEY`")
        .nowhere("prod-db.internal")
        .nowhere("changeme")
        .nowhere("tok_live");

    Test::new()
        .config(config)
        .file(".env.example", manifest)
        .env("DATABASE_URL", "postgres://prod-db.internal/app")
        .env("API_KEY", "k_9f8e7d")
        .env("STRIPE_KEY", "sk_live_1")
        .env("SENTRY_DSN", "https://o1.ingest.sentry.io/2")
        .env("EXTRA_TOKEN", "tok_live_Zm9vYmFy")
        .args(["gate"])
        .run(0)
        .stdout_has("✓ env 5 key(s) from `.env.example` set");
}

const WINDOW: &str = r#"
[environments.production]

[gate.window]
timezone = "Europe/Berlin"
allow = ["Mon-Thu 10:00-16:00"]
freeze = ["2026-12-20..2027-01-03"]
holidays = ["2026-12-08"]
"#;

#[test]
fn window_gate_uses_the_injected_clock_and_the_override_is_recorded() {
    // Thursday 11:00 in Berlin (UTC+1 in November).
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-11-26T10:00:00Z")
        .args(["gate"])
        .run(0)
        .stdout_has(
            "✓ window Thu 2026-11-26 11:00 CET (Europe/Berlin) is inside `Mon-Thu 10:00-16:00`",
        );
    // Friday afternoon: closed, and the next opening is named.
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-11-27T14:00:00Z")
        .args(["gate"])
        .run(1)
        .stdout_has("✗ window Fri 2026-11-27 15:00 CET (Europe/Berlin) is outside `Mon-Thu 10:00-16:00`; next opens Mon 2026-11-30 10:00 CET");
    // A freeze and a holiday win over an open window.
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-12-22T10:00:00Z")
        .args(["gate"])
        .run(1)
        .stdout_has("is in the freeze `2026-12-20..2027-01-03`");
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-12-08T10:00:00Z")
        .args(["gate"])
        .run(1)
        .stdout_has("2026-12-08 is a holiday");
    // The emergency override passes with a warning that keeps the reason.
    let output = Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-12-22T10:00:00Z")
        .args([
            "gate",
            "--format",
            "json",
            "--override-window",
            "hotfix for INC-42",
        ])
        .run(0);
    let json = output.json();
    let check = &json["phases"][0]["checks"][0];
    assert_eq!(check["status"], "warn");
    assert_eq!(
        check["detail"],
        "OVERRIDDEN: Tue 2026-12-22 11:00 CET is in the freeze `2026-12-20..2027-01-03`; reason: hotfix for INC-42"
    );
    assert_eq!(check["artifacts"][0]["value"], "hotfix for INC-42");
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-12-22T10:00:00Z")
        .args(["gate", "--override-window", " "])
        .run(2)
        .stderr_has("error: `--override-window` needs a reason");
    // The same override from the environment (how a workflow input passes it).
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "2026-11-27T14:00:00Z")
        .env("SHIPGATE_OVERRIDE_WINDOW", "rollback of a bad config")
        .args(["gate"])
        .run(0)
        .stdout_has("! window OVERRIDDEN: Fri 2026-11-27 15:00 CET (Europe/Berlin) is outside `Mon-Thu 10:00-16:00`; next opens Mon 2026-11-30 10:00 CET; reason: rollback of a bad config");
    Test::new()
        .config(WINDOW)
        .env("SHIPGATE_NOW", "next friday")
        .args(["gate"])
        .run(2)
        .stderr_has("error: invalid `SHIPGATE_NOW` value `next friday`")
        .stderr_has("hint: write an instant with a zone offset");
}

#[test]
fn after_with_an_unknown_name_or_a_cycle_is_a_config_error_with_its_location() {
    let unknown = "[environments.production]\n[[gate.command]]\nname = \"build\"\nrun = \"true\"\n[[gate.command]]\nname = \"test\"\nrun = \"true\"\nafter = [\"biuld\"]\n";
    Test::new()
        .config(unknown)
        .args(["gate"])
        .run(2)
        .stderr_has("error: gate `test` runs after `biuld`, which is not a defined gate")
        .stderr_has("shipgate.toml:8:10")
        .stderr_has("hint: did you mean `build`?");
    let cycle = "[environments.production]\n[[gate.command]]\nname = \"a\"\nrun = \"true\"\nafter = [\"b\"]\n[[gate.command]]\nname = \"b\"\nrun = \"true\"\nafter = [\"git\"]\n[gate.git]\nafter = [\"a\"]\n";
    Test::new()
        .config(cycle)
        .args(["gate"])
        .run(2)
        .stderr_has("error: gates wait for each other in a cycle: `a` → `b` → `git` → `a`")
        .stderr_has("shipgate.toml:11:10");
}

#[test]
fn four_one_second_gates_finish_well_under_four_seconds_and_after_is_respected() {
    let config = r#"
[environments.production]
[gate]
concurrency = 4
[[gate.command]]
name = "a"
run = "sleep 1; echo a >> order"
[[gate.command]]
name = "b"
run = "sleep 1; echo b >> order"
[[gate.command]]
name = "c"
run = "sleep 1; echo c >> order"
[[gate.command]]
name = "d"
run = "sleep 1; echo d >> order"
[[gate.command]]
name = "after-a"
run = "echo after-a >> order"
after = ["a"]
"#;
    let test = Test::new().config(config).args(["gate"]);
    let started = std::time::Instant::now();
    test.run(0).stdout_has("✓ gate 5 of 5 passed");
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(3),
        "took {elapsed:?}"
    );
    let order = fs_err::read_to_string(test.path().join("order")).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    let position = |name: &str| lines.iter().position(|line| *line == name).unwrap();
    assert_eq!(lines.len(), 5, "{order}");
    assert!(position("a") < position("after-a"), "{order}");
}

/// A TLS server on 127.0.0.1 whose certificate for `localhost` (signed by a
/// CA made here) expires `days` days from today's UTC midnight; stops on drop.
struct TlsServer {
    port: u16,
    ca_pem: String,
    _runtime: tokio::runtime::Runtime,
}

impl TlsServer {
    fn start(expires_in_days: i64) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        // Midnight (UTC) `expires_in_days + 1` days from today, so the whole
        // days left are exactly `expires_in_days` whenever the test runs.
        let expiry = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .checked_add(jiff::Span::new().days(expires_in_days + 1))
            .unwrap();
        leaf_params.not_after = rcgen::date_time_ymd(
            i32::from(expiry.year()),
            u8::try_from(expiry.month()).unwrap(),
            u8::try_from(expiry.day()).unwrap(),
        );
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone(), ca_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_config));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(stream).await;
                });
            }
        });
        Self {
            port,
            ca_pem: ca_cert.pem(),
            _runtime: runtime,
        }
    }

    fn config(&self, min_days: u32, ca_file: bool) -> String {
        let ca = if ca_file {
            "ca_file = \"ca.pem\"\n"
        } else {
            ""
        };
        format!(
            "[environments.production]\n[gate.tls]\nhosts = [\"localhost:{}\"]\nmin_days = {min_days}\n{ca}",
            self.port
        )
    }
}

#[test]
fn tls_gate_fails_a_certificate_expiring_in_three_days_under_min_days_14() {
    let server = TlsServer::start(3);
    let output = Test::new()
        .config(&server.config(14, true))
        .file("ca.pem", &server.ca_pem)
        .args(["gate"])
        .run(1);
    output
        .stdout_has(&format!(
            "✗ tls `localhost:{}` expires in 3 days (",
            server.port
        ))
        .stdout_has("), under `min_days = 14`")
        .stdout_has("expected: at least 14 days left")
        .stdout_has("got:      3 days left");

    Test::new()
        .config(&server.config(2, true))
        .file("ca.pem", &server.ca_pem)
        .args(["gate"])
        .run(0)
        .stdout_has("✓ tls 1 host(s) valid; fewest days left: 3 (minimum 2)");
}

#[test]
fn tls_gate_verifies_the_chain_against_the_trusted_roots() {
    let server = TlsServer::start(90);
    // The test CA is in no system store: the handshake must fail.
    Test::new()
        .config(&server.config(14, false))
        .args(["gate"])
        .run(1)
        .stdout_has("TLS handshake failed: invalid peer certificate: UnknownIssuer");
    // Trusting it through `ca_file` passes.
    Test::new()
        .config(&server.config(14, true))
        .file("ca.pem", &server.ca_pem)
        .args(["gate"])
        .run(0)
        .stdout_has("fewest days left: 90 (minimum 14)");
}

#[test]
fn in_github_actions_the_gates_become_a_check_run_with_batched_annotations() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const SHA: &str = "feedfacefeedfacefeedfacefeedfacefeedface";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start());
    let auth = |builder| crate::support::github_headers(builder, "ghs_cli_token");
    let count = |request: &Request| {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        body["output"]["annotations"].as_array().map_or(0, Vec::len)
    };
    runtime.block_on(async {
        auth(
            Mock::given(method("GET"))
                .and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))),
        )
        .and(query_param("check_name", "shipgate / gates"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"total_count": 0, "check_runs": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
        auth(Mock::given(method("POST")).and(path("/repos/acme/shop/check-runs")))
            .and(move |request: &Request| count(request) == 50)
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 99})))
            .expect(1)
            .mount(&server)
            .await;
        auth(Mock::given(method("PATCH")).and(path("/repos/acme/shop/check-runs/99")))
            .and(move |request: &Request| count(request) == 5)
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": 99})))
            .expect(1)
            .mount(&server)
            .await;
    });
    let mut config = String::from("[environments.production]\n[gate]\nconcurrency = 8\n");
    for index in 0..55 {
        let _ = write!(
            config,
            "[[gate.command]]\nname = \"g{index:02}\"\nrun = \"exit 1\"\n"
        );
    }
    config.push_str("[[gate.command]]\nname = \"fine\"\nrun = \"true\"\n");
    let output = Test::new()
        .config(&config)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_TOKEN", "ghs_cli_token")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_API_URL", &server.uri())
        .args(["gate"])
        .run(1);
    output
        .stdout_has("✓ check run `shipgate / gates` published on `feedfacefeed` (55 annotation(s))")
        .stdout_has("::error title=shipgate gate%3A g00,file=shipgate.toml,line=4,col=1::")
        .nowhere("ghs_cli_token");
    let requests = runtime.block_on(server.received_requests()).unwrap();
    let post = requests
        .iter()
        .find(|request| request.method.as_str() == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["name"], "shipgate / gates");
    assert_eq!(body["head_sha"], SHA);
    assert_eq!(body["status"], "completed");
    assert_eq!(body["conclusion"], "failure");
    assert_eq!(body["output"]["title"], "55 gate(s) failed");
    assert!(
        body["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("| gate | g00 | ✗ fail | `exit 1` failed expected exit 0, got exit 1 |"),
        "{}",
        body["output"]["summary"]
    );
    assert_eq!(
        body["output"]["annotations"][0],
        serde_json::json!({
            "path": "shipgate.toml",
            "start_line": 4,
            "end_line": 4,
            "annotation_level": "failure",
            "message": "`exit 1` failed\nexpected: exit 0\ngot: exit 1",
            "title": "shipgate gate: g00"
        })
    );
    runtime.block_on(server.verify());
}

#[test]
fn migrations_gate_checks_files_are_committed_and_applied_ones_unedited() {
    let config = "[environments.production]\ndatabase = \"sqlite://app.db\"\n[migrate]\ndir = \"db/migrations\"\n[gate.migrations]\n";
    let test = Test::new()
        .config(config)
        .file(".gitignore", "app.db\n.state/\n")
        .file(
            "db/migrations/0001_users.sql",
            "CREATE TABLE users (id INTEGER);\n",
        )
        .args(["gate"]);
    let dir = test.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
    Test::args_for(&test, ["migrate", "apply"]).run(0);
    test.run(0).stdout_has(
        "✓ migrations every file in `db/migrations` is committed; no applied migration was edited",
    );

    // An applied migration edited (and committed) afterwards.
    fs_err::write(
        dir.join("db/migrations/0001_users.sql"),
        "CREATE TABLE users (id INTEGER, email TEXT);\n",
    )
    .unwrap();
    git(dir, &["commit", "-qam", "edit history"]);
    test.run(1)
        .stdout_has("✗ migrations applied migration(s) edited after they ran: `0001_users`");

    // A new migration that is not committed.
    git(dir, &["revert", "--no-edit", "HEAD"]);
    fs_err::write(
        dir.join("db/migrations/0002_orders.sql"),
        "CREATE TABLE orders (id INTEGER);\n",
    )
    .unwrap();
    test.run(1).stdout_has(
        "✗ migrations 1 file(s) in `db/migrations` not committed: `db/migrations/0002_orders.sql (untracked)`",
    );

    // Lint the pending migrations: additive passes, destructive fails.
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "orders"]);
    let with_lint = format!("{config}lint = \"deny-destructive\"\n");
    fs_err::write(dir.join("shipgate.toml"), with_lint).unwrap();
    test.run(0).stdout_has(
        "✓ migrations every file in `db/migrations` is committed; no applied migration was edited; lint `deny-destructive`: 1 migration(s), 0 with errors",
    );
    fs_err::write(
        dir.join("db/migrations/0003_drop.sql"),
        "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN id;\n",
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "drop"]);
    test.run(1)
        .stdout_has("lint `deny-destructive`: 2 migration(s), 1 with errors, destructive: `db/migrations/0003_drop.sql`")
        .stdout_has("db/migrations/0003_drop.sql:2:1 error drop-column: dropping `users.id`");
}

#[test]
fn provider_gate_reports_itself_unavailable_instead_of_passing() {
    let output = Test::new()
        .config("[environments.production]\n[gate.provider]\n")
        .args(["gate", "--format", "json"])
        .run(0);
    let json = output.json();
    let check = &json["phases"][0]["checks"][0];
    assert_eq!(check["name"], "provider");
    assert_eq!(check["status"], "warn");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("not verified: the environment has no provider"),
        "{check}"
    );
}

#[test]
fn the_gates_example_prints_one_table_with_every_gate() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gates");
    let server = TlsServer::start(60);
    let config = fs_err::read_to_string(example.join("shipgate.toml"))
        .unwrap()
        .replace(
            "hosts = [\"app.example.com\"]",
            &format!(
                "hosts = [\"localhost:{}\"]\nca_file = \"ca.pem\"",
                server.port
            ),
        );
    let test = Test::new()
        .copy_dir(&example, "", &[".state"])
        .config(&config)
        .file("ca.pem", &server.ca_pem);
    let dir = test.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
    let sha = git(dir, &["rev-parse", "HEAD"]).trim().to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let github = runtime.block_on(MockServer::start());
    runtime.block_on(async {
        let json = |value: serde_json::Value| ResponseTemplate::new(200).set_body_json(value);
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/commits/{sha}/check-runs")))
            .respond_with(json(serde_json::json!({"total_count": 1, "check_runs": [
                {"id": 1, "name": "build", "status": "completed", "conclusion": "success"}
            ]})))
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/commits/{sha}/status")))
            .respond_with(json(
                serde_json::json!({"state": "success", "statuses": []}),
            ))
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/commits/{sha}/pulls")))
            .respond_with(json(serde_json::json!([{"number": 5, "state": "open"}])))
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/shop/pulls/5/reviews"))
            .respond_with(json(serde_json::json!([
                {"id": 1, "user": {"login": "ana"}, "state": "APPROVED"},
                {"id": 2, "user": {"login": "bo"}, "state": "APPROVED"}
            ])))
            .mount(&github)
            .await;
    });

    let output = test
        .env("DATABASE_URL", "postgres://db.internal/app")
        .env("SESSION_SECRET", "3f9a0c1e")
        // Tuesday 11:00 in São Paulo.
        .env("SHIPGATE_NOW", "2026-11-24T14:00:00Z")
        .env("GITHUB_TOKEN", "ghs_example")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", &sha)
        .env("GITHUB_API_URL", &github.uri())
        .args(["gate"])
        .run(0);
    output
        .stdout_has("! gate 9 of 9 passed")
        .stdout_has("✓ lint `sh -n check.sh`")
        .stdout_has("✓ test `sh check.sh`")
        .stdout_has(
            "✓ git `migrations` clean; on branch `main`; no conflict markers; no remote configured",
        )
        .stdout_has("✓ env 2 key(s) from `.env.example` set")
        .stdout_has(
            "✓ window Tue 2026-11-24 11:00 -03 (America/Sao_Paulo) is inside `Mon-Thu 10:00-16:00`",
        )
        .stdout_has("✓ tls 1 host(s) valid; fewest days left: 60 (minimum 14)")
        .stdout_has("check(s) green on")
        .stdout_has("PR #5 approved by `ana`, `bo`")
        .stdout_has(
            "✓ migrations every file in `migrations` is committed; no applied migration was edited",
        )
        .stdout_has("! provider not verified")
        .nowhere("3f9a0c1e");
}

#[test]
fn gate_settings_are_validated_with_their_location() {
    let rejects = |config: &str, fragments: &[&str]| {
        let output = Test::new().config(config).args(["check"]).run(2);
        for fragment in fragments {
            output.stderr_has(fragment);
        }
    };
    let window = "[environments.production]\n[gate.window]\ntimezone = \"Europe/Berlin\"\nallow = [\"Tue-Thu 10-14\"]\n";
    rejects(
        window,
        &[
            "error: invalid window `Tue-Thu 10-14`: `10` is not a time like `09:30`",
            "--> shipgate.toml:4:10",
            "hint: write days and a local time range",
        ],
    );
    rejects(
        "[environments.production]\n[gate.window]\ntimezone = \"Mars/Olympus\"\n",
        &[
            "error: unknown time zone `Mars/Olympus`",
            "--> shipgate.toml:3:12",
        ],
    );
    rejects(
        "[environments.production]\n[gate.window]\ntimezone = \"UTC\"\nallow = [\"Mon-Fri 09:00-17:00\"]\nfreeze = [\"2027-01-03..2026-12-20\"]\n",
        &[
            "error: invalid freeze range `2027-01-03..2026-12-20`: it ends (2026-12-20) before it starts (2027-01-03)",
        ],
    );
    rejects(
        "[environments.production]\n[gate.github]\nchecks = \"some\"\n",
        &["error: `gate.github.checks` must be `\"all\"`, `\"none\"` or a list of check names"],
    );
    rejects(
        "[environments.production]\n[gate.tls]\nhosts = [\"app.example.com:https\"]\n",
        &["error: invalid port in TLS host `app.example.com:https`"],
    );
    rejects(
        "[environments.production]\n[[gate.command]]\nname = \"git\"\nrun = \"true\"\n[gate.git]\n",
        &["error: duplicate gate name `git`: it is already used at line 3"],
    );
    rejects(
        "[environments.production]\n[gate.env]\n",
        &["error: `[gate.env]` names neither a `manifest` nor any `keys`"],
    );
}

#[test]
fn github_gate_without_a_token_fails_with_how_to_pass_one() {
    Test::new()
        .config("[environments.production]\n[gate.github]\n")
        .args(["gate"])
        .run(1)
        .stdout_has("✗ github no GitHub token: `GITHUB_TOKEN` is not set (hint: pass the token to the step: `env: GITHUB_TOKEN: ${{ github.token }}`)");
}

#[test]
fn a_failing_command_shows_its_last_20_lines_and_the_full_log_in_a_group() {
    let config = "[environments.production]\n[[gate.command]]\nname = \"noisy\"\nrun = \"for i in $(seq 1 30); do echo line-$i; done; exit 1\"\n";
    let human = Test::new().config(config).args(["gate"]).run(1);
    human
        .stdout_has("… 10 earlier lines")
        .stdout_has("│ line-11\n")
        .stdout_has("│ line-30\n");
    assert!(!human.stdout.contains("line-10\n"), "{}", human.stdout);
    let github = Test::new()
        .config(config)
        .args(["gate", "--format", "github"])
        .run(1);
    let group = github
        .stdout
        .split("::group::gate noisy log\n")
        .nth(1)
        .expect("a collapsed group for the log");
    let group = group.split("::endgroup::").next().unwrap();
    assert_eq!(group.lines().count(), 30, "{group}");
    assert!(group.starts_with("line-1\nline-2\n"), "{group}");
}

/// Issue 14: inside Actions, `checks = "all"` saw the job running shipgate
/// as `in_progress`, waited for it and then failed. The jobs of this
/// workflow run (matched by `GITHUB_RUN_ID` in `details_url`) and shipgate's
/// own check runs are not waited on; other checks still count.
#[test]
fn github_gate_never_waits_on_its_own_in_progress_job() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SHA: &str = "abcabcabcabcabcabcabcabcabcabcabcabcabca";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start());
    let auth = |builder| crate::support::github_headers(builder, "ghs_self");
    runtime.block_on(async {
        auth(
            Mock::given(method("GET"))
                .and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs"))),
        )
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "total_count": 4,
            "check_runs": [
                {"id": 1, "name": "deploy", "status": "in_progress", "conclusion": null,
                 "details_url": "https://github.com/acme/shop/actions/runs/4242/job/777"},
                {"id": 2, "name": "shipgate / run", "status": "in_progress", "conclusion": null,
                 "details_url": "https://shipgate.example/elsewhere"},
                {"id": 3, "name": "build", "status": "completed", "conclusion": "success",
                 "details_url": "https://github.com/acme/shop/actions/runs/4000/job/700"},
                {"id": 4, "name": "lint", "status": "completed", "conclusion": "success",
                 "details_url": "https://github.com/acme/shop/actions/runs/42420/job/1"}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
        auth(
            Mock::given(method("GET")).and(path(format!("/repos/acme/shop/commits/{SHA}/status"))),
        )
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"state": "success", "statuses": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    });
    let started = std::time::Instant::now();
    let output = Test::new()
        .config("[environments.production]\n[gate.github]\nchecks = \"all\"\nwait_for = \"5m\"\n")
        .env("GITHUB_TOKEN", "ghs_self")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_API_URL", &server.uri())
        .args(["gate"])
        .run(0);
    output
        .stdout_has("✓ github 2 check(s) green on `abcabcabcabc`")
        .nowhere("waiting for")
        .nowhere("ghs_self");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    runtime.block_on(server.verify());
}

/// A check named in `checks` still counts when it is a job of the workflow
/// run executing shipgate (a `build` job the deploy job needs): only `all`
/// skips this run's jobs (issue 14).
#[test]
fn github_gate_with_named_checks_still_counts_a_job_of_its_own_run() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SHA: &str = "abcabcabcabcabcabcabcabcabcabcabcabcabca";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start());
    runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/commits/{SHA}/check-runs")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "total_count": 1,
                "check_runs": [
                    {"id": 3, "name": "build", "status": "completed", "conclusion": "failure",
                     "details_url": "https://github.com/acme/shop/actions/runs/4242/job/700"}
                ]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/commits/{SHA}/status")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"state": "success", "statuses": []})),
            )
            .mount(&server)
            .await;
    });
    Test::new()
        .config("[environments.production]\n[gate.github]\nchecks = [\"build\"]\n")
        .env("GITHUB_TOKEN", "ghs_self")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_API_URL", &server.uri())
        .args(["gate"])
        .run(1)
        .stdout_has("failing on `abcabcabcabc`: `build` (failure)");
}
