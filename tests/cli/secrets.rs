//! The secrets sweep (issue 10, "Secrets", and item 5): every command that
//! touches a secret, in every format and sink, with secrets covering every
//! ASCII punctuation character, a base64 token and URL-unsafe values; then
//! every byte written is searched for each secret and each of its escaped
//! forms. Zero hits.
//!
//! The secrets reach the output every way they can: the environment URL's
//! query, a request header, query and body, a database password, a gate's
//! environment that the gate prints, and a failing HTTP server that echoes
//! the request and the secrets (raw, in headers and JSON-escaped).

use std::fmt::Write as _;
use std::path::Path;

use crate::support::http::{Reply, Scripted, Server};

/// Every ASCII punctuation character, split over four secrets, plus one with
/// all of them, a base64 token and URL-unsafe values. All longer than six
/// characters, so no escaped form matches innocent output.
fn secrets() -> Vec<String> {
    let punctuation = r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##;
    assert_eq!(punctuation.len(), 32);
    let mut secrets: Vec<String> = punctuation
        .as_bytes()
        .chunks(8)
        .enumerate()
        .map(|(index, chunk)| format!("Sg{index}{}Zq", std::str::from_utf8(chunk).unwrap()))
        .collect();
    secrets.push(format!("Sg4all{punctuation}"));
    secrets.push("dGhpcyBpcyBh+/c2VjcmV0Lg==".to_owned());
    secrets.push("Sg6 p@ss/w0rd?#%41&x=y|z".to_owned());
    secrets.push("Sg7%25%2F%zz\\u0041<x>".to_owned());
    secrets
}

fn variable(index: usize) -> String {
    format!("SWEEP_SECRET_{index}")
}

/// `${SWEEP_SECRET_0}…${SWEEP_SECRET_n}` joined by `separator`.
fn references(count: usize, separator: &str) -> String {
    (0..count)
        .map(|index| format!("${{{}}}", variable(index)))
        .collect::<Vec<_>>()
        .join(separator)
}

/// Each secret's escaped forms: the ones the sinks could produce.
fn forms(secret: &str) -> Vec<String> {
    let json = |text: &str| {
        let quoted = serde_json::to_string(text).unwrap();
        quoted[1..quoted.len() - 1].to_owned()
    };
    let xml_text = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let xml_attribute = |text: &str| xml_text(text).replace('"', "&quot;");
    let xml_all = |text: &str| xml_attribute(text).replace('\'', "&apos;");
    let percent = |text: &str| {
        text.bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    char::from(byte).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect::<String>()
    };
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut forms = vec![
        secret.to_owned(),
        xml_text(secret),
        xml_attribute(secret),
        xml_all(secret),
        json(secret),
        json(&json(secret)),
        percent(secret),
        form.clone(),
        // GitHub's workflow-command escaping (`%` → `%25`) of the raw and the
        // URL-encoded forms.
        secret.replace('%', "%25"),
        percent(secret).replace('%', "%25"),
        form.replace('%', "%25"),
        // A Markdown table cell.
        secret.replace('|', "\\|"),
    ];
    forms.sort();
    forms.dedup();
    for form in &forms {
        assert!(form.len() >= 6, "`{form}` is too short to search for");
    }
    forms
}

/// A server whose every answer is a 500 echoing the request and the secrets:
/// raw in a header and a text body, JSON-escaped in a JSON body.
fn echo_server(secrets: &[String]) -> Server {
    let for_json = secrets.to_vec();
    let for_text = secrets.to_vec();
    Server::builder()
        .route(
            "/json",
            Reply::script(move |request, _| Scripted {
                status: 500,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::json!({
                    "uri": request.uri,
                    "headers": request.headers,
                    "body": request.body,
                    "secrets": for_json,
                })
                .to_string(),
                delay: None,
            }),
        )
        .route(
            "/text",
            Reply::script(move |request, _| {
                let mut body = format!("uri: {}\nbody: {}\n", request.uri, request.body);
                for (name, value) in &request.headers {
                    let _ = writeln!(body, "{name}: {value}");
                }
                for secret in &for_text {
                    let _ = writeln!(body, "secret: {secret}");
                }
                Scripted {
                    status: 500,
                    headers: for_text
                        .iter()
                        .enumerate()
                        .map(|(index, secret)| (format!("x-secret-{index}"), secret.clone()))
                        .collect(),
                    body,
                    delay: None,
                }
            }),
        )
        .start()
}

/// The config every command but `migrate status` reads.
fn main_config(server: &Server, count: usize) -> String {
    let gate_env = (0..count)
        .map(|index| format!("T{index} = \"${{{}}}\"", variable(index)))
        .collect::<Vec<_>>()
        .join(", ");
    let printed = (0..count)
        .map(|index| format!("\"$T{index}\""))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        r#"
[environments.local]
url = "{url}/?k={query}"

[smoke]
ready_within = "300ms"
timeout = "2s"

[[smoke.check]]
name = "json"
path = "/json?raw={first}"
query = {{ q = "{all}" }}
headers = {{ Authorization = "Bearer {all}" }}
body = "{all}"

[[smoke.check]]
name = "text"
method = "POST"
path = "/text"
headers = {{ X-Token = "{all}" }}
json = {{ token = "{all}" }}

[watch]
for = "600ms"
interval = "300ms"

[[gate.command]]
name = "prints-secrets"
run = '''printf '%s\n' {printed}; printf '%s\n' {printed} >&2; exit 1'''
env = {{ {gate_env} }}
"#,
        url = server.url(),
        query = references(count, "&k="),
        first = references(1, ""),
        all = references(count, "."),
    )
}

/// Runs shipgate in `dir` with a clean environment plus `env`; returns what
/// it wrote to stdout and stderr (as named blobs) and its exit code.
fn run(dir: &Path, args: &[&str], env: &[(String, String)]) -> (i32, Vec<(String, String)>) {
    let mut command = crate::support::shipgate(dir);
    command.args(args);
    command.envs(env.iter().map(|(key, value)| (key, value)));
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        vec![
            (
                "stdout".to_owned(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            ),
            (
                "stderr".to_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ),
        ],
    )
}

/// Every form of every secret found in `blobs`, as `sink: form of secret`.
fn leaks(secrets: &[String], blobs: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (sink, text) in blobs {
        // The one place a secret is written as is: GitHub needs the value to
        // mask it, and the runner hides the command from the log.
        let text: String = text
            .lines()
            .filter(|line| !line.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        for secret in secrets {
            for form in forms(secret) {
                if let Some(at) = text.find(&form) {
                    let context: String = text[at..].chars().take(form.len() + 80).collect();
                    found.push(format!(
                        "{sink}: `{form}` (a form of `{secret}`) at …{context}…"
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn secrets_sweep_no_secret_or_escaped_form_reaches_any_sink() {
    // issue 10, item 5 and its "Secrets" sweep.
    let secrets = secrets();
    let count = secrets.len();
    let server = echo_server(&secrets);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs_err::write(root.join("shipgate.toml"), main_config(&server, count)).unwrap();
    fs_err::create_dir_all(root.join("migrations")).unwrap();
    fs_err::write(
        root.join("migrations/0001_create.sql"),
        "CREATE TABLE t (id int);\n",
    )
    .unwrap();
    let closed = crate::support::http::closed_port();
    // The password as written (whatever URL that makes), and a URL with the
    // password percent-encoded, as a real `DATABASE_URL` carries it.
    fs_err::write(
        root.join("raw-password.toml"),
        format!(
            "[environments.local]\ndatabase = \"postgres://app:{}@127.0.0.1:{closed}/app\"\n[migrate]\nlock_wait = \"2s\"\n",
            references(count, "")
        ),
    )
    .unwrap();
    fs_err::write(
        root.join("database-url.toml"),
        "[environments.local]\ndatabase = \"${DATABASE_URL}\"\n[migrate]\nlock_wait = \"2s\"\n",
    )
    .unwrap();
    let mut env: Vec<(String, String)> = secrets
        .iter()
        .enumerate()
        .map(|(index, secret)| (variable(index), secret.clone()))
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(secrets[4].as_bytes()).collect();
    env.push((
        "DATABASE_URL".to_owned(),
        format!("postgres://app:{encoded}@127.0.0.1:{closed}/app?connect_timeout=2"),
    ));

    let commands: [(&[&str], &[i32]); 9] = [
        (&["check"], &[0]),
        (&["run"], &[1]),
        (&["deploy"], &[2]),
        (&["rollback", "--yes"], &[2]),
        (&["smoke"], &[1]),
        (&["watch"], &[1]),
        (&["gate"], &[1]),
        (
            &["migrate", "status", "--config", "raw-password.toml"],
            &[2, 3],
        ),
        (
            &["migrate", "status", "--config", "database-url.toml"],
            &[3],
        ),
    ];
    let formats: [(&str, &[&str], bool); 4] = [
        ("human", &[], false),
        ("json", &["--format", "json"], false),
        ("github", &["--format", "github"], false),
        ("actions", &[], true),
    ];
    let mut all_leaks = Vec::new();
    let mut runs = 0;
    for (command, codes) in commands {
        for (format, format_args, actions) in formats {
            runs += 1;
            let files = ["report.json", "junit.xml", "summary.md", "output.txt"]
                .map(|name| root.join(format!("{runs}-{name}")));
            let mut args: Vec<&str> = command.to_vec();
            args.extend(format_args);
            let (report, junit) = (files[0].to_str().unwrap(), files[1].to_str().unwrap());
            args.extend(["--report", report, "--junit", junit]);
            let mut env = env.clone();
            env.push((
                "GITHUB_STEP_SUMMARY".to_owned(),
                files[2].display().to_string(),
            ));
            env.push(("GITHUB_OUTPUT".to_owned(), files[3].display().to_string()));
            if actions {
                env.push(("GITHUB_ACTIONS".to_owned(), "true".to_owned()));
            }
            let (code, mut blobs) = run(root, &args, &env);
            let label = format!("`shipgate {}` ({format})", command.join(" "));
            assert!(
                codes.contains(&code),
                "{label} exited {code}, expected one of {codes:?}\n{blobs:#?}"
            );
            for (name, _) in &mut blobs {
                *name = format!("{label} {name}");
            }
            for file in &files {
                if let Ok(text) = fs_err::read_to_string(file) {
                    blobs.push((format!("{label} {}", file.display()), text));
                }
            }
            // Each run writes its report files, whatever its exit code
            // (issue 10, item 9), so every sink was searched.
            assert!(files[0].exists() && files[1].exists(), "{label}");
            all_leaks.extend(leaks(&secrets, &blobs));
        }
    }
    assert!(
        all_leaks.is_empty(),
        "{} leak(s):\n{}",
        all_leaks.len(),
        all_leaks.join("\n")
    );
    assert!(
        server.hits() > 0,
        "the smoke checks never reached the server"
    );
}
