//! The GitHub Action as a runner would execute it: `action/install.sh`
//! against a release server on 127.0.0.1, `action/run.sh` with the env GitHub
//! sets, and the workflows checked against `action.yml`'s inputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;

/// The repository root (the action's checkout, `GITHUB_ACTION_PATH`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Serves `dir` over HTTP on 127.0.0.1 (404 for what it lacks) and counts
/// requests, for as long as the returned runtime lives.
struct ReleaseServer {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl ReleaseServer {
    fn start(dir: &Path) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = dir.to_owned();
        let url = runtime.block_on(async move {
            let app = Router::new().route("/{*path}", get(serve)).with_state(dir);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            format!("http://{address}")
        });
        Self {
            url,
            _runtime: runtime,
        }
    }
}

async fn serve(
    State(dir): State<PathBuf>,
    UrlPath(path): UrlPath<String>,
) -> Result<Vec<u8>, StatusCode> {
    if path.contains("..") {
        return Err(StatusCode::BAD_REQUEST);
    }
    fs_err::read(dir.join(path)).map_err(|_| StatusCode::NOT_FOUND)
}

/// A release directory `VERSION/` holding `shipgate-x86_64-unknown-linux-musl.tar.gz`
/// (the binary under test, stripped) and its `.sha256`, packaged by
/// `scripts/package-release` exactly as the release workflow packages it.
fn publish_release(site: &Path, version: &str) -> String {
    let staging = site.join("staging");
    fs_err::create_dir_all(&staging).unwrap();
    fs_err::copy(env!("CARGO_BIN_EXE_shipgate"), staging.join("shipgate")).unwrap();
    // The debug binary is mostly debug info: drop it so packing takes a second.
    let stripped = Command::new("strip")
        .arg(staging.join("shipgate"))
        .status()
        .unwrap();
    assert!(stripped.success());
    let output = Command::new(root().join("scripts/package-release"))
        .arg("x86_64-unknown-linux-musl")
        .arg(staging.join("shipgate"))
        .arg(site.join(version))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let asset = site
        .join(version)
        .join("shipgate-x86_64-unknown-linux-musl.tar.gz");
    let digest = sha256(&asset);
    assert_eq!(
        fs_err::read_to_string(
            site.join(version)
                .join("shipgate-x86_64-unknown-linux-musl.tar.gz.sha256")
        )
        .unwrap(),
        format!("{digest}  shipgate-x86_64-unknown-linux-musl.tar.gz\n")
    );
    digest
}

fn sha256(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}

/// The runner's directories for one job.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tool-cache", "temp", "bin"] {
            fs_err::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Self { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// `action/install.sh` with the env action.yml gives it.
    fn install(&self, download_url: &str, version: &str) -> Output {
        let output_file = self.path("install-output");
        let _ = fs_err::remove_file(&output_file);
        Command::new("bash")
            .arg(root().join("action/install.sh"))
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", self.path("tool-cache"))
            .env("RUNNER_TEMP", self.path("temp"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("SHIPGATE_VERSION", "")
            .env("SHIPGATE_ACTION_REF", version)
            .env("SHIPGATE_ACTION_REPOSITORY", "shipgate-dev/shipgate")
            .env("SHIPGATE_ACTION_PATH", root())
            .env("SHIPGATE_DOWNLOAD_URL", download_url)
            .output()
            .unwrap()
    }

    fn installed(&self, version: &str) -> PathBuf {
        self.path("tool-cache")
            .join("shipgate")
            .join(version)
            .join("x86_64-unknown-linux-musl/bin/shipgate")
    }
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_installer_verifies_the_checksum_installs_and_then_uses_the_cache() {
    let site = tempfile::tempdir().unwrap();
    publish_release(site.path(), "v9.9.9");
    let server = ReleaseServer::start(site.path());
    let runner = Runner::new();

    let first = runner.install(&server.url, "v9.9.9");
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("installed from http://127.0.0.1"),
        "{}",
        text(&first)
    );
    let binary = runner.installed("v9.9.9");
    assert_eq!(
        fs_err::read_to_string(runner.path("install-output")).unwrap(),
        format!("path={}\n", binary.display())
    );
    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "shipgate 0.1.0"
    );

    // The second use in the job never touches the network.
    drop(server);
    let second = runner.install("http://127.0.0.1:9", "v9.9.9");
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("from the tool cache"),
        "{}",
        text(&second)
    );
}

#[test]
fn a_checksum_mismatch_installs_nothing() {
    let site = tempfile::tempdir().unwrap();
    publish_release(site.path(), "v9.9.9");
    fs_err::write(
        site.path()
            .join("v9.9.9/shipgate-x86_64-unknown-linux-musl.tar.gz.sha256"),
        format!(
            "{}  shipgate-x86_64-unknown-linux-musl.tar.gz\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let server = ReleaseServer::start(site.path());
    let runner = Runner::new();
    let output = runner.install(&server.url, "v9.9.9");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "checksum mismatch for shipgate-x86_64-unknown-linux-musl.tar.gz: expected {}",
            "0".repeat(64)
        )) && stderr.contains("nothing was installed"),
        "{}",
        text(&output)
    );
    assert!(!runner.installed("v9.9.9").exists());
    assert!(
        !runner
            .path("tool-cache/shipgate/v9.9.9/x86_64-unknown-linux-musl/bin")
            .exists(),
        "no half install left"
    );
}

#[test]
fn a_ref_without_release_assets_builds_from_the_action_source_with_cargo() {
    let site = tempfile::tempdir().unwrap();
    let server = ReleaseServer::start(site.path());
    let runner = Runner::new();
    // A stand-in cargo that records its arguments and "builds" the binary.
    let log = runner.path("cargo-args");
    fs_err::write(
        runner.path("bin/cargo"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nmkdir -p \"$6/bin\"\ncp '{}' \"$6/bin/shipgate\"\n",
            log.display(),
            env!("CARGO_BIN_EXE_shipgate")
        ),
    )
    .unwrap();
    make_executable(&runner.path("bin/cargo"));

    let output = runner.install(&server.url, "feature/branch");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("::notice title=shipgate install::no prebuilt shipgate for `feature/branch`"),
        "{}",
        text(&output)
    );
    let cache = runner.path("tool-cache/shipgate/feature_branch/x86_64-unknown-linux-musl");
    assert_eq!(
        fs_err::read_to_string(&log).unwrap(),
        format!(
            "install\n--locked\n--path\n{}\n--root\n{}\n",
            root().display(),
            cache.display()
        )
    );
    assert!(cache.join("bin/shipgate").exists());
}

#[test]
fn the_installer_refuses_a_version_that_could_escape_the_url() {
    let runner = Runner::new();
    let output = runner.install("http://127.0.0.1:9", "v1;rm -rf ~");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("invalid version `v1;rm -rf ~`"),
        "{}",
        text(&output)
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `action/run.sh` as the composite action's second step runs it.
fn run_step(dir: &Path, command: &str, args: &str, output_file: &Path) -> Output {
    Command::new("bash")
        .arg(root().join("action/run.sh"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RUNNER_TEMP", dir.join("runner-temp"))
        .env("GITHUB_OUTPUT", output_file)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTION", "__shipgate-dev_shipgate")
        .env("SHIPGATE_BIN", env!("CARGO_BIN_EXE_shipgate"))
        .env("SHIPGATE_COMMAND", command)
        .env("SHIPGATE_ARGS", args)
        .env("SHIPGATE_CONFIG", "")
        .env("SHIPGATE_ENV", "")
        .env("GITHUB_TOKEN", "ghs_not_used")
        .output()
        .unwrap()
}

/// The `key=value` lines of a `$GITHUB_OUTPUT` file (single-line values).
fn outputs(path: &Path) -> std::collections::BTreeMap<String, String> {
    fs_err::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn the_run_step_passes_arguments_and_writes_the_action_outputs() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("shipgate.toml"),
        "[environments.production]\n[[gate.command]]\nname = \"ok\"\nrun = \"true\"\n[[gate.command]]\nname = \"two words\"\nrun = \"true\"\n",
    )
    .unwrap();
    let output_file = dir.path().join("github-output");

    // One argument per line keeps `two words` one argument.
    let passed = run_step(dir.path(), "gate", "--only\ntwo words\n", &output_file);
    assert!(passed.status.success(), "{}", text(&passed));
    let values = outputs(&output_file);
    assert_eq!(values["exit-code"], "0");
    assert_eq!(values["outcome"], "success");
    assert_eq!(values["rolled-back"], "false");
    let report_path = PathBuf::from(&values["report"]);
    assert_eq!(
        report_path,
        dir.path()
            .join("runner-temp/shipgate/report-__shipgate-dev_shipgate-gate.json")
    );
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&report_path).unwrap()).unwrap();
    let ran: Vec<&str> = report["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["status"] == "pass")
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["two words"], "{report}");

    // A failing command: the step fails with shipgate's own code.
    fs_err::remove_file(&output_file).unwrap();
    let failed = run_step(dir.path(), "gate", "--only nope", &output_file);
    assert_eq!(failed.status.code(), Some(2), "{}", text(&failed));
    assert_eq!(outputs(&output_file)["exit-code"], "2");

    let refused = run_step(dir.path(), "rm", "", &output_file);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("input `command` must be one of gate, migrate, smoke, watch, rollback, deploy, run, check (got `rm`)"),
        "{}",
        text(&refused)
    );
}

/// The inputs `action.yml` declares, and which are required.
fn action_inputs() -> (BTreeSet<String>, BTreeSet<String>) {
    let action = yaml(&root().join("action.yml"));
    let mut all = BTreeSet::new();
    let mut required = BTreeSet::new();
    for (name, spec) in action["inputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap().to_owned();
        if spec["required"].as_bool() == Some(true) {
            required.insert(name.clone());
        }
        all.insert(name);
    }
    (all, required)
}

fn yaml(path: &Path) -> yaml_rust2::Yaml {
    let text = fs_err::read_to_string(path).unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .remove(0)
}

fn workflow_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join(".github/workflows"), root().join("workflows")];
    for example in fs_err::read_dir(root().join("examples")).unwrap() {
        let example = example.unwrap().path().join(".github/workflows");
        if example.is_dir() {
            dirs.push(example);
        }
    }
    for dir in dirs {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_use_of_the_action_passes_inputs_it_declares_and_all_it_requires() {
    let name = published_name();
    let (inputs, required) = action_inputs();
    let mut uses = 0;
    for file in workflow_files() {
        let workflow = yaml(&file);
        let Some(jobs) = workflow["jobs"].as_hash() else {
            continue;
        };
        for (job, spec) in jobs {
            let Some(steps) = spec["steps"].as_vec() else {
                continue;
            };
            for step in steps {
                let Some(reference) = step["uses"].as_str() else {
                    continue;
                };
                if !reference.starts_with(&format!("{name}@")) {
                    continue;
                }
                uses += 1;
                let with: BTreeSet<String> = step["with"]
                    .as_hash()
                    .map(|with| {
                        with.keys()
                            .map(|key| key.as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let unknown: Vec<_> = with.difference(&inputs).collect();
                let missing: Vec<_> = required.difference(&with).collect();
                assert!(
                    unknown.is_empty() && missing.is_empty(),
                    "{} job {job:?}: unknown inputs {unknown:?}, missing required {missing:?}",
                    file.display()
                );
            }
        }
    }
    assert!(uses >= 8, "found {uses} uses of {name}");
}

#[test]
fn callers_pass_the_reusable_workflows_only_inputs_they_declare() {
    let name = published_name();
    for caller in workflow_files()
        .into_iter()
        .filter(|file| !file.starts_with(root().join(".github")))
    {
        let workflow = yaml(&caller);
        for (job, spec) in workflow["jobs"].as_hash().unwrap() {
            let used = spec["uses"].as_str().unwrap();
            let prefix = format!("{name}/.github/workflows/");
            let file = used
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split_once('@'))
                .map_or_else(
                    || panic!("{}: `{used}` is not {prefix}…", caller.display()),
                    |(file, _)| file,
                );
            let reusable = yaml(&root().join(".github/workflows").join(file));
            let call = &reusable["on"]["workflow_call"];
            for (section, declared_key) in [("with", "inputs"), ("secrets", "secrets")] {
                let none = yaml_rust2::yaml::Hash::new();
                let declared = call[declared_key].as_hash().unwrap_or(&none);
                if let Some(passed) = spec[section].as_hash() {
                    for key in passed.keys() {
                        assert!(
                            declared.contains_key(key),
                            "{} job {job:?} passes {section} {key:?} that {file} does not declare",
                            caller.display()
                        );
                    }
                }
                for (key, value) in declared {
                    if value["required"].as_bool() == Some(true) && section == "with" {
                        assert!(
                            spec[section]
                                .as_hash()
                                .is_some_and(|passed| passed.contains_key(key)),
                            "{} job {job:?} misses required input {key:?} of {file}",
                            caller.display()
                        );
                    }
                }
            }
        }
    }
}

/// `action/NAME`: the one place the published name is written.
fn published_name() -> String {
    fs_err::read_to_string(root().join("action/NAME"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn the_published_name_matches_every_reference_to_it() {
    let name = published_name();
    let pattern = regex::Regex::new(r"[\w.-]+/shipgate(/\.github/workflows/[\w.-]+)?@").unwrap();
    let mut files = workflow_files();
    files.extend(["action.yml", "README.md", "zizmor.yml"].map(|file| root().join(file)));
    let mut references = 0;
    for file in files {
        let text = fs_err::read_to_string(&file).unwrap();
        for found in pattern.find_iter(&text) {
            references += 1;
            assert!(
                found.as_str().starts_with(&format!("{name}/"))
                    || found.as_str().starts_with(&format!("{name}@")),
                "{}: `{}` does not use the name in action/NAME (`{name}`); run scripts/rename-action",
                file.display(),
                found.as_str()
            );
        }
    }
    assert!(references >= 10, "{references}");
}

/// Every example's config passes `shipgate check` for each of its
/// environments, with its secrets set to stand-ins.
#[test]
fn every_example_config_passes_check() {
    let cases: [(&str, &[&str]); 4] = [
        ("vercel-prisma", &["production"]),
        ("vercel-supabase", &["production"]),
        ("railway-vercel", &["production", "production-console"]),
        ("vps", &["production"]),
    ];
    for (example, environments) in cases {
        let dir = root().join("examples").join(example);
        for environment in environments {
            let output = crate::support::shipgate(&dir)
                .args(["--env", environment, "check"])
                .env("DATABASE_URL", "postgres://app@127.0.0.1:5432/app")
                .env("DIRECT_URL", "postgres://app@127.0.0.1:5432/app")
                .env("VERCEL_TOKEN", "vercel-stand-in")
                .env("RAILWAY_TOKEN", "railway-stand-in")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "examples/{example} --env {environment}: {}",
                text(&output)
            );
        }
    }
}

/// `action/pg-client.sh` against a real PostgreSQL server, with `sudo`,
/// `apt-get`, `curl`, `tee` and `lsb_release` stood in by scripts that log
/// their arguments, and the `pg_dump` on PATH older or as new as the server.
fn pg_client_step(
    database: &crate::support::postgres::TestDatabase,
    pg_dump_major: u32,
) -> (Output, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    fs_err::write(
        dir.path().join("shipgate.toml"),
        "[environments.production]\ndatabase = \"${DATABASE_URL}\"\n[migrate]\ndir = \"migrations\"\n",
    )
    .unwrap();
    fs_err::create_dir_all(dir.path().join("migrations")).unwrap();
    let log = dir.path().join("calls");
    let logger = format!(
        "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> '{}'\n",
        log.display()
    );
    for tool in ["apt-get", "curl", "lsb_release", "install"] {
        fs_err::write(bin.join(tool), &logger).unwrap();
        make_executable(&bin.join(tool));
    }
    fs_err::write(bin.join("lsb_release"), "#!/bin/sh\necho jammy\n").unwrap();
    // `sudo CMD…` runs CMD (itself a logger); `tee FILE` logs what it was given.
    fs_err::write(bin.join("sudo"), "#!/bin/sh\nexec \"$@\"\n").unwrap();
    fs_err::write(
        bin.join("tee"),
        format!(
            "#!/bin/sh\necho \"tee $* <- $(cat)\" >> '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    fs_err::write(
        bin.join("pg_dump"),
        format!("#!/bin/sh\necho 'pg_dump (PostgreSQL) {pg_dump_major}.1'\n"),
    )
    .unwrap();
    for tool in ["sudo", "tee", "pg_dump"] {
        make_executable(&bin.join(tool));
    }
    let github_path = dir.path().join("github-path");
    let output = Command::new("bash")
        .arg(root().join("action/pg-client.sh"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("GITHUB_PATH", &github_path)
        .env("SHIPGATE_BIN", env!("CARGO_BIN_EXE_shipgate"))
        .env("SHIPGATE_CONFIG", "")
        .env("SHIPGATE_ENV", "")
        .env("DATABASE_URL", database.url())
        .output()
        .unwrap();
    let calls = fs_err::read_to_string(&log).unwrap_or_default();
    let path = fs_err::read_to_string(&github_path).unwrap_or_default();
    (output, calls, path)
}

fn server_major(database: &crate::support::postgres::TestDatabase) -> u32 {
    let version: i32 = database.column("SELECT current_setting('server_version_num')")[0]
        .parse()
        .unwrap();
    u32::try_from(version / 10_000).unwrap()
}

#[test]
fn postgres_an_older_pg_dump_gets_the_servers_client_installed_first_on_path() {
    let database = crate::support::postgres::TestDatabase::new();
    let major = server_major(&database);
    let (output, calls, path) = pg_client_step(&database, major - 1);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!(
            "the server runs PostgreSQL {major}; pg_dump on PATH is {}: installing postgresql-client-{major}",
            major - 1
        )),
        "{}",
        text(&output)
    );
    assert!(
        calls.contains(&format!("apt-get install -y -qq postgresql-client-{major}")),
        "{calls}"
    );
    assert!(
        calls.contains("apt.postgresql.org/pub/repos/apt jammy-pgdg main"),
        "{calls}"
    );
    assert_eq!(path, format!("/usr/lib/postgresql/{major}/bin\n"));
}

#[test]
fn postgres_a_pg_dump_as_new_as_the_server_installs_nothing() {
    let database = crate::support::postgres::TestDatabase::new();
    let major = server_major(&database);
    let (output, calls, path) = pg_client_step(&database, major);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!(
            "pg_dump {major} can dump the PostgreSQL {major} server"
        )),
        "{}",
        text(&output)
    );
    assert_eq!(calls, "");
    assert_eq!(path, "");
}
