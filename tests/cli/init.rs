//! `shipgate init` on small repositories shaped like each runbook family: the
//! config it writes passes `shipgate check`, the workflows pass actionlint and
//! zizmor, and nothing is overwritten without `--force`.

use std::path::Path;
use std::process::Command;

use crate::support::shipgate;

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// Runs `shipgate ARGS` in `root` with `vars` set; returns (code, stdout, stderr).
fn run(root: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = shipgate(root);
    command.args(args);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// actionlint and zizmor over the workflows `init` wrote.
fn lint_workflows(root: &Path) {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        repository.join(".tools/venv/bin/zizmor").exists(),
        "run `scripts/lint-workflows --install-only` once (scripts/test does)"
    );
    let files: Vec<String> = ["deploy", "rollback", "pr-checks"]
        .iter()
        .map(|name| {
            root.join(format!(".github/workflows/{name}.yml"))
                .display()
                .to_string()
        })
        .collect();
    let output = Command::new(repository.join("scripts/lint-workflows"))
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("actionlint: 3 file(s), 0 finding(s)"),
        "{text}"
    );
    assert!(text.contains("No findings to report"), "{text}");
}

const SECRETS: [(&str, &str); 4] = [
    ("DATABASE_URL", "postgres://app@127.0.0.1:5432/app"),
    ("DIRECT_URL", "postgres://app@127.0.0.1:5432/app"),
    ("VERCEL_TOKEN", "vercel-token-for-check"),
    ("RAILWAY_TOKEN", "railway-token-for-check"),
];

#[test]
fn a_nextjs_prisma_app_on_vercel_gets_a_config_that_checks_and_linted_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "prisma/migrations/20260101000000_init/migration.sql",
        "CREATE TABLE \"User\" (id text PRIMARY KEY);\n",
    );
    write(
        root,
        "prisma/migrations/migration_lock.toml",
        "provider = \"postgresql\"\n",
    );
    write(
        root,
        "prisma/schema.prisma",
        "datasource db {\n  provider = \"postgresql\"\n  url = env(\"DATABASE_URL\")\n  directUrl = env(\"DIRECT_URL\")\n}\n",
    );
    write(
        root,
        ".vercel/project.json",
        r#"{"projectId":"prj_harbor123","orgId":"team_harbor"}"#,
    );
    write(
        root,
        "package.json",
        r#"{"scripts":{"lint":"next lint","typecheck":"tsc --noEmit","build":"next build"}}"#,
    );
    write(root, "bun.lock", "");
    write(root, ".env.example", "DATABASE_URL=\nDIRECT_URL=\n");

    let (code, stdout, stderr) = run(root, &["init"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for line in [
        "prisma migrations in `prisma/migrations`",
        "a Prisma `directUrl` (migrations bypass the pooler)",
        "Vercel project `prj_harbor123` linked in `.`",
        "package scripts: lint, typecheck, build",
        "write shipgate.toml",
        "write .github/workflows/deploy.yml",
        "add these repository secrets (Settings → Secrets and variables → Actions): DATABASE_URL, DIRECT_URL, VERCEL_TOKEN",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    let config = fs_err::read_to_string(root.join("shipgate.toml")).unwrap();
    for line in [
        "project = \"prj_harbor123\"",
        "team = \"team_harbor\"",
        "run = \"bun run typecheck\"",
        "manifest = \".env.example\"",
        "layout = \"prisma\"",
        "direct_url = \"${DIRECT_URL}\"",
    ] {
        assert!(config.contains(line), "missing {line:?} in:\n{config}");
    }
    let (code, stdout, stderr) = run(root, &["check"], &SECRETS);
    assert_eq!(code, 0, "{stdout}{stderr}");
    lint_workflows(root);
    let deploy = fs_err::read_to_string(root.join(".github/workflows/deploy.yml")).unwrap();
    assert!(
        deploy.contains("      VERCEL_TOKEN: ${{ secrets.VERCEL_TOKEN }}"),
        "{deploy}"
    );
    assert!(!deploy.contains("RAILWAY_TOKEN"), "{deploy}");
}

#[test]
fn a_supabase_app_on_vercel() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "supabase/migrations/20260101000000_init.sql",
        "create table profiles (id uuid primary key);\n",
    );
    write(root, "supabase/config.toml", "project_id = \"ibimina\"\n");
    write(root, "vercel.json", "{}");
    write(root, "package.json", r#"{"scripts":{"test":"vitest run"}}"#);
    write(root, "package-lock.json", "{}");
    let (code, stdout, stderr) = run(root, &["init"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("supabase migrations in `supabase/migrations`"),
        "{stdout}"
    );
    assert!(stdout.contains("run `vercel link` in `.`"), "{stdout}");
    let (code, stdout, stderr) = run(root, &["check"], &SECRETS);
    assert_eq!(code, 0, "{stdout}{stderr}");
    lint_workflows(root);
}

#[test]
fn a_railway_api_with_a_worker_and_a_vercel_console_gets_one_environment_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "apps/api/railway.json", "{\"build\":{}}");
    write(root, "apps/worker/railway.toml", "[build]\n");
    write(
        root,
        "apps/console/.vercel/project.json",
        r#"{"projectId":"prj_console","orgId":"user_1"}"#,
    );
    write(
        root,
        "db/migrations/20260101000000_init.sql",
        "-- migrate:up\ncreate table a (id int);\n\n-- migrate:down\ndrop table a;\n",
    );
    let (code, stdout, stderr) = run(root, &["init"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("2 Railway service(s): apps/api, apps/worker"),
        "{stdout}"
    );
    let config = fs_err::read_to_string(root.join("shipgate.toml")).unwrap();
    assert!(
        config.contains("services = [\"TODO-api-service-id\", \"TODO-worker-service-id\"]"),
        "{config}"
    );
    assert!(
        config.contains("[environments.production-console.vercel]"),
        "{config}"
    );
    assert!(
        !config.contains("team ="),
        "a personal account has no team: {config}"
    );
    for environment in ["production", "production-console"] {
        let (code, stdout, stderr) = run(root, &["--env", environment, "check"], &SECRETS);
        assert_eq!(code, 0, "{environment}: {stdout}{stderr}");
    }
    let rollback = fs_err::read_to_string(root.join(".github/workflows/rollback.yml")).unwrap();
    assert!(
        rollback.contains("options: [production, production-console]"),
        "{rollback}"
    );
    let deploy = fs_err::read_to_string(root.join(".github/workflows/deploy.yml")).unwrap();
    assert!(deploy.contains("  production-console:\n"), "{deploy}");
    lint_workflows(root);
}

#[test]
fn an_unrecognised_repository_gets_a_commented_skeleton_and_a_list_to_fill_in() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "app.py", "print('hello')\n");
    let (code, stdout, stderr) = run(root, &["init"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("no migrations, platform or package scripts recognised"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no Vercel or Railway project found: set `provider`"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(root, &["check"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    lint_workflows(root);
}

#[test]
fn init_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "shipgate.toml", "# mine\n");
    write(root, ".github/workflows/deploy.yml", "# mine too\n");
    let (code, stdout, stderr) = run(root, &["init"], &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "error: refusing to overwrite `shipgate.toml`, `.github/workflows/deploy.yml`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pass `--force` to replace them"),
        "{stderr}"
    );
    assert_eq!(
        fs_err::read_to_string(root.join("shipgate.toml")).unwrap(),
        "# mine\n"
    );
    assert!(
        !root.join(".github/workflows/rollback.yml").exists(),
        "nothing written"
    );

    let (code, stdout, _) = run(root, &["--dry-run", "init"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("would write it (--dry-run)"), "{stdout}");
    assert_eq!(
        fs_err::read_to_string(root.join("shipgate.toml")).unwrap(),
        "# mine\n"
    );

    let (code, stdout, stderr) = run(root, &["init", "--force"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        fs_err::read_to_string(root.join("shipgate.toml"))
            .unwrap()
            .starts_with("# shipgate.toml, written by `shipgate init`")
    );
}
