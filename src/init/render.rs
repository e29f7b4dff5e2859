//! Turns a detected [`Stack`] into a commented `shipgate.toml` and the three
//! caller workflows, plus the list of what the user must still fill in.

use std::fmt::Write as _;

use super::detect::{Stack, VercelProject};

/// The caller templates users copy (`workflows/` in this repository).
const DEPLOY_TEMPLATE: &str = include_str!("../../workflows/deploy.yml");
const ROLLBACK_TEMPLATE: &str = include_str!("../../workflows/rollback.yml");
const PR_CHECKS_TEMPLATE: &str = include_str!("../../workflows/pr-checks.yml");

/// What `init` writes and tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rendered {
    /// `shipgate.toml`.
    pub(super) config: String,
    /// `(path, text)` for each workflow under `.github/workflows/`.
    pub(super) workflows: Vec<(&'static str, String)>,
    /// One line per thing detected.
    pub(super) detected: Vec<String>,
    /// What the user must still do (placeholders, secrets).
    pub(super) todo: Vec<String>,
}

/// One `[environments.NAME]` to write.
struct Target<'s> {
    name: String,
    platform: Platform<'s>,
    /// Whether the database and migrations belong to it.
    database: bool,
}

enum Platform<'s> {
    None,
    Vercel(&'s VercelProject),
    Railway(Vec<String>),
}

/// Renders everything for `stack`.
pub(super) fn render(stack: &Stack) -> Rendered {
    let mut detected = Vec::new();
    let mut todo = Vec::new();
    let mut secrets = Vec::new();
    if let Some(migrations) = &stack.migrations {
        detected.push(format!(
            "{} migrations in `{}`",
            migrations.layout, migrations.dir
        ));
        secrets.push("DATABASE_URL");
        if stack.direct_url {
            detected.push("a Prisma `directUrl` (migrations bypass the pooler)".to_owned());
            secrets.push("DIRECT_URL");
        }
    }
    let targets = targets(stack);
    let mut config = String::from(
        "# shipgate.toml, written by `shipgate init` from what it found in this\n\
         # repository. Check it with `shipgate check`; lines marked TODO need you.\n",
    );
    for target in &targets {
        environment(
            &mut config,
            stack,
            target,
            &mut detected,
            &mut todo,
            &mut secrets,
        );
    }
    gates(&mut config, stack, &mut detected, &targets);
    if let Some(migrations) = &stack.migrations {
        let _ = write!(
            config,
            "\n[migrate]\ndir = \"{}\"\nlayout = \"{}\"\n\
             # A backup (pg_dump) is taken before migrating; keep it off the runner with\n\
             # `backup_to = \"s3://bucket/prefix\"` and `backup_recipient = \"age1…\"`.\n",
            migrations.dir, migrations.layout
        );
    }
    config.push_str(
        "\n[[smoke.check]]\nname = \"home\"\npath = \"/\"\nexpect = { status = 200 }\n\
         # TODO: add your health endpoint, e.g.\n\
         # [[smoke.check]]\n# name = \"health\"\n# path = \"/api/health\"\n\
         # expect = { status = 200, json = { \"$.status\" = \"ok\" } }\n",
    );
    config.push_str(
        "\n[rollback]\n# Keep the database when every migration of the deploy was additive;\n\
         # restore the pre-deploy backup when one was destructive.\ndatabase = \"auto\"\n",
    );
    if targets
        .iter()
        .all(|target| matches!(target.platform, Platform::None))
    {
        todo.push(
            "no Vercel or Railway project found: set `provider` (`vercel`, `railway`, `command` or `releases`) so shipgate can deploy and roll back"
                .to_owned(),
        );
    }
    todo.push("set each `url` to the address smoke checks should hit".to_owned());
    secrets.dedup();
    if !secrets.is_empty() {
        todo.push(format!(
            "add these repository secrets (Settings → Secrets and variables → Actions): {}",
            secrets.join(", ")
        ));
    }
    let names: Vec<&str> = targets.iter().map(|target| target.name.as_str()).collect();
    Rendered {
        config,
        workflows: workflows(&names, &secrets),
        detected,
        todo,
    }
}

/// One environment per platform found: Railway (with the database) first,
/// then each Vercel project; `production` alone when there is none.
fn targets(stack: &Stack) -> Vec<Target<'_>> {
    let mut targets = Vec::new();
    if !stack.railway.is_empty() {
        targets.push(Target {
            name: "production".to_owned(),
            platform: Platform::Railway(
                stack
                    .railway
                    .iter()
                    .map(|service| service.dir.clone())
                    .collect(),
            ),
            database: true,
        });
    }
    for project in &stack.vercel {
        let name = if targets.is_empty() {
            "production".to_owned()
        } else {
            format!("production-{}", last_segment(&project.dir))
        };
        let database = targets.is_empty();
        targets.push(Target {
            name,
            platform: Platform::Vercel(project),
            database,
        });
    }
    if targets.is_empty() {
        targets.push(Target {
            name: "production".to_owned(),
            platform: Platform::None,
            database: true,
        });
    }
    targets
}

fn environment(
    config: &mut String,
    stack: &Stack,
    target: &Target<'_>,
    detected: &mut Vec<String>,
    todo: &mut Vec<String>,
    secrets: &mut Vec<&'static str>,
) {
    let name = &target.name;
    let _ = write!(
        config,
        "\n[environments.{name}]\nurl = \"https://app.example.com\" # TODO: where this environment serves\n"
    );
    if target.database && stack.migrations.is_some() {
        config.push_str("database = \"${DATABASE_URL}\"\n");
        if stack.direct_url {
            config.push_str("direct_url = \"${DIRECT_URL}\"\n");
        }
    }
    match &target.platform {
        Platform::None => config.push_str(
            "# provider = \"releases\" | \"vercel\" | \"railway\" | \"command\" (see the README's Providers)\n",
        ),
        Platform::Vercel(project) => {
            let _ = write!(config, "provider = \"vercel\"\n\n[environments.{name}.vercel]\ntoken = \"${{VERCEL_TOKEN}}\"\n");
            secrets.push("VERCEL_TOKEN");
            if let Some(id) = &project.project_id {
                let _ = writeln!(config, "project = \"{id}\"");
                detected.push(format!("Vercel project `{id}` linked in `{}`", project.dir));
            } else {
                let _ = writeln!(
                    config,
                    "project = \"TODO-project-id\" # from `vercel link` (.vercel/project.json)"
                );
                detected.push(format!("a Vercel app in `{}` (not linked)", project.dir));
                todo.push(format!(
                    "run `vercel link` in `{}` and copy its `projectId` into `[environments.{name}.vercel] project`",
                    project.dir
                ));
            }
            // A personal account's `orgId` is its user id, not a team.
            if let Some(team) = project.org_id.as_deref().filter(|id| id.starts_with("team_")) {
                let _ = writeln!(config, "team = \"{team}\"");
            }
            config.push_str(
                "# deploy = \"git\" (the default): wait for Vercel's build of the pushed commit.\n",
            );
        }
        Platform::Railway(services) => {
            let _ = write!(
                config,
                "provider = \"railway\"\n\n[environments.{name}.railway]\ntoken = \"${{RAILWAY_TOKEN}}\"\n\
                 project = \"TODO-project-id\"\nenvironment = \"TODO-environment-id\"\n"
            );
            secrets.push("RAILWAY_TOKEN");
            let ids: Vec<String> = services
                .iter()
                .map(|dir| format!("\"TODO-{}-service-id\"", last_segment(dir)))
                .collect();
            let _ = writeln!(
                config,
                "# One id per service, deployed and rolled back in this order: {}\nservices = [{}]",
                services.join(", "),
                ids.join(", ")
            );
            detected.push(format!(
                "{} Railway service(s): {}",
                services.len(),
                services.join(", ")
            ));
            todo.push(format!(
                "copy the Railway project, environment and service ids (project settings, or `railway status --json`) into `[environments.{name}.railway]`"
            ));
        }
    }
}

fn gates(config: &mut String, stack: &Stack, detected: &mut Vec<String>, targets: &[Target<'_>]) {
    for script in &stack.scripts {
        let _ = write!(
            config,
            "\n[[gate.command]]\nname = \"{}\"\nrun = \"{}\"\n",
            script.name, script.run
        );
    }
    if !stack.scripts.is_empty() {
        let names: Vec<&str> = stack
            .scripts
            .iter()
            .map(|script| script.name.as_str())
            .collect();
        detected.push(format!("package scripts: {}", names.join(", ")));
    }
    config.push_str("\n[gate.git]\n");
    if let Some(migrations) = &stack.migrations {
        let _ = writeln!(config, "clean = [\"{}\"]", migrations.dir);
        config.push_str("\n[gate.migrations]\n");
    }
    if let Some(manifest) = &stack.env_manifest {
        let _ = write!(config, "\n[gate.env]\nmanifest = \"{manifest}\"\n");
        detected.push(format!(
            "`{manifest}` (every variable it lists must be set)"
        ));
    }
    if targets
        .iter()
        .any(|target| !matches!(target.platform, Platform::None))
    {
        config.push_str("\n[gate.provider]\n");
    }
}

/// The caller workflows with this repository's environments and secrets.
fn workflows(environments: &[&str], secrets: &[&str]) -> Vec<(&'static str, String)> {
    let secrets_block = |extra: &str| {
        if secrets.is_empty() {
            // `secrets:` with only comments under it is not valid YAML for GitHub.
            return extra.replace("      # ", "    # ");
        }
        let mut block = String::from("    secrets:\n");
        for secret in secrets {
            let _ = writeln!(block, "      {secret}: ${{{{ secrets.{secret} }}}}");
        }
        block.push_str(extra);
        block
    };
    let mut deploy = before_secrets(DEPLOY_TEMPLATE);
    let job = deploy
        .split_once("  production:\n")
        .map(|(_, job)| job.to_owned())
        .unwrap_or_default();
    deploy = deploy.replace(&format!("  production:\n{job}"), "");
    for environment in environments {
        let _ = write!(
            deploy,
            "  {environment}:\n{}{}",
            job.replace(
                "environment: production",
                &format!("environment: {environment}")
            ),
            secrets_block("")
        );
    }
    let options = environments.join(", ");
    let rollback = before_secrets(ROLLBACK_TEMPLATE)
        .replace("options: [production]", &format!("options: [{options}]"))
        + &secrets_block(
            "      # The age private key for `backup_to` backups, if you use them:\n      # SHIPGATE_BACKUP_IDENTITY: ${{ secrets.SHIPGATE_BACKUP_IDENTITY }}\n",
        );
    vec![
        (".github/workflows/deploy.yml", deploy),
        (".github/workflows/rollback.yml", rollback),
        (
            ".github/workflows/pr-checks.yml",
            PR_CHECKS_TEMPLATE.to_owned(),
        ),
    ]
}

/// The template up to (not including) its trailing `secrets:` block.
fn before_secrets(template: &str) -> String {
    template
        .split_once("    secrets:\n")
        .map_or(template, |(head, _)| head)
        .to_owned()
}

fn last_segment(dir: &str) -> &str {
    dir.rsplit('/')
        .next()
        .filter(|name| !name.is_empty() && *name != ".")
        .unwrap_or("app")
}
