//! What `shipgate init` can tell about a repository from its files alone:
//! the migration tool and directory, the deploy platform(s), the package
//! manager and its check scripts, and an `.env.example`. Pure reading; no
//! network, no commands.

use std::path::{Path, PathBuf};

/// How deep `init` looks for platform files in a monorepo (`apps/api/railway.json`).
const MAX_DEPTH: usize = 3;
/// Directories never searched.
const SKIPPED: [&str; 6] = ["node_modules", ".git", "target", "dist", ".next", "vendor"];

/// Everything detected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Stack {
    /// The migrations, when a known layout was found.
    pub(super) migrations: Option<Migrations>,
    /// Vercel projects (`.vercel/project.json`, or a bare `vercel.json`).
    pub(super) vercel: Vec<VercelProject>,
    /// Railway services (`railway.json` / `railway.toml`), by directory.
    pub(super) railway: Vec<RailwayService>,
    /// `package.json` scripts worth gating on, with the package manager.
    pub(super) scripts: Vec<Script>,
    /// `.env.example` (or `.env.sample`), relative to the repository.
    pub(super) env_manifest: Option<String>,
    /// The Prisma schema declares a `directUrl` (a pooler in front of the database).
    pub(super) direct_url: bool,
}

/// Migrations found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Migrations {
    /// `prisma`, `supabase`, `dbmate` or `plain`.
    pub(super) layout: &'static str,
    /// Relative directory, e.g. `prisma/migrations`.
    pub(super) dir: String,
}

/// A Vercel project linked in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VercelProject {
    /// Where it lives, relative (`.` or `apps/web`).
    pub(super) dir: String,
    /// `projectId` from `.vercel/project.json`, when linked.
    pub(super) project_id: Option<String>,
    /// `orgId`: a team id (`team_…`) or the personal account's id.
    pub(super) org_id: Option<String>,
}

/// A Railway service's config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RailwayService {
    /// Its directory, relative (`.` or `apps/api`).
    pub(super) dir: String,
}

/// A `package.json` script to run as a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Script {
    /// `lint`, `typecheck`, `test`, `build`.
    pub(super) name: String,
    /// The command, e.g. `pnpm run lint`.
    pub(super) run: String,
}

/// Reads `root`.
pub(super) fn detect(root: &Path) -> Stack {
    let mut stack = Stack {
        migrations: migrations(root),
        env_manifest: [".env.example", ".env.sample"]
            .into_iter()
            .find(|name| root.join(name).is_file())
            .map(str::to_owned),
        direct_url: fs_err::read_to_string(root.join("prisma/schema.prisma"))
            .is_ok_and(|schema| schema.contains("directUrl")),
        ..Stack::default()
    };
    for dir in directories(root) {
        let relative = relative(root, &dir);
        if dir.join(".vercel/project.json").is_file() || dir.join("vercel.json").is_file() {
            let linked = fs_err::read_to_string(dir.join(".vercel/project.json"))
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
            let field = |name: &str| {
                linked
                    .as_ref()
                    .and_then(|json| json.get(name))
                    .and_then(serde_json::Value::as_str)
                    .filter(|value| is_plain_id(value))
                    .map(str::to_owned)
            };
            stack.vercel.push(VercelProject {
                dir: relative.clone(),
                project_id: field("projectId"),
                org_id: field("orgId"),
            });
        }
        if dir.join("railway.json").is_file() || dir.join("railway.toml").is_file() {
            stack.railway.push(RailwayService { dir: relative });
        }
    }
    stack.scripts = scripts(root);
    stack
}

/// The first migration layout found, in the order the runbooks use them.
fn migrations(root: &Path) -> Option<Migrations> {
    let found = |layout, dir: &str| {
        Some(Migrations {
            layout,
            dir: dir.to_owned(),
        })
    };
    if root.join("prisma/migrations").is_dir() {
        return found("prisma", "prisma/migrations");
    }
    if root.join("supabase/migrations").is_dir() {
        return found("supabase", "supabase/migrations");
    }
    for dir in ["db/migrations", "migrations"] {
        let Ok(entries) = fs_err::read_dir(root.join(dir)) else {
            continue;
        };
        let sql: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        if sql.is_empty() {
            continue;
        }
        let dbmate = sql.iter().any(|path| {
            fs_err::read_to_string(path).is_ok_and(|text| {
                text.lines()
                    .any(|line| line.trim_end().starts_with("-- migrate:up"))
            })
        });
        return found(if dbmate { "dbmate" } else { "plain" }, dir);
    }
    None
}

/// `root` and its subdirectories up to [`MAX_DEPTH`], skipping dependency
/// and build folders, in a stable order.
fn directories(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.to_owned()];
    let mut frontier = vec![root.to_owned()];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for dir in frontier {
            let Ok(entries) = fs_err::read_dir(&dir) else {
                continue;
            };
            let mut children: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
                .filter(|entry| {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    !name.starts_with('.') && !SKIPPED.contains(&name.as_ref())
                })
                .map(|entry| entry.path())
                .collect();
            children.sort();
            next.extend(children);
        }
        found.extend(next.iter().cloned());
        frontier = next;
    }
    found
}

/// The package manager, from the lockfile, and the scripts worth gating on.
fn scripts(root: &Path) -> Vec<Script> {
    let Some(package) = fs_err::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
    else {
        return Vec::new();
    };
    let manager = if root.join("bun.lockb").is_file() || root.join("bun.lock").is_file() {
        "bun run"
    } else if root.join("pnpm-lock.yaml").is_file() {
        "pnpm run"
    } else if root.join("yarn.lock").is_file() {
        "yarn run"
    } else {
        "npm run"
    };
    let Some(defined) = package
        .get("scripts")
        .and_then(serde_json::Value::as_object)
    else {
        return Vec::new();
    };
    ["lint", "typecheck", "type-check", "test", "build"]
        .into_iter()
        .filter(|name| defined.contains_key(*name))
        .map(|name| Script {
            name: name.to_owned(),
            run: format!("{manager} {name}"),
        })
        .collect()
}

/// An id safe to write into TOML and URLs.
fn is_plain_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn relative(root: &Path, dir: &Path) -> String {
    match dir.strip_prefix(root) {
        Ok(path) if path.as_os_str().is_empty() => ".".to_owned(),
        Ok(path) => path.to_string_lossy().into_owned(),
        Err(_) => dir.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn a_nextjs_prisma_app_linked_to_vercel() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "prisma/migrations/20260101000000_init/migration.sql",
            "CREATE TABLE a (id int);",
        );
        write(
            root,
            "prisma/schema.prisma",
            "datasource db {\n url = env(\"DATABASE_URL\")\n directUrl = env(\"DIRECT_URL\")\n}\n",
        );
        write(
            root,
            ".vercel/project.json",
            r#"{"projectId":"prj_abc","orgId":"team_xyz"}"#,
        );
        write(
            root,
            "package.json",
            r#"{"scripts":{"lint":"next lint","build":"next build","dev":"next dev"}}"#,
        );
        write(root, "pnpm-lock.yaml", "");
        write(root, ".env.example", "DATABASE_URL=\n");
        write(root, "node_modules/x/railway.json", "{}");
        let stack = detect(root);
        assert_eq!(
            stack,
            Stack {
                migrations: Some(Migrations {
                    layout: "prisma",
                    dir: "prisma/migrations".into()
                }),
                vercel: vec![VercelProject {
                    dir: ".".into(),
                    project_id: Some("prj_abc".into()),
                    org_id: Some("team_xyz".into()),
                }],
                railway: vec![],
                scripts: vec![
                    Script {
                        name: "lint".into(),
                        run: "pnpm run lint".into()
                    },
                    Script {
                        name: "build".into(),
                        run: "pnpm run build".into()
                    },
                ],
                env_manifest: Some(".env.example".into()),
                direct_url: true,
            }
        );
    }

    #[test]
    fn a_monorepo_with_two_railway_services_and_a_vercel_console() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "apps/api/railway.json", "{}");
        write(root, "apps/worker/railway.toml", "");
        write(root, "apps/console/vercel.json", "{}");
        write(
            root,
            "db/migrations/20260101_init.sql",
            "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n",
        );
        let stack = detect(root);
        assert_eq!(stack.migrations.unwrap().layout, "dbmate");
        assert_eq!(
            stack.railway,
            vec![
                RailwayService {
                    dir: "apps/api".into()
                },
                RailwayService {
                    dir: "apps/worker".into()
                },
            ]
        );
        assert_eq!(stack.vercel.len(), 1);
        assert_eq!(stack.vercel[0].dir, "apps/console");
        assert_eq!(stack.vercel[0].project_id, None);
    }

    #[test]
    fn an_unrecognised_repository_yields_nothing_and_odd_ids_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".vercel/project.json",
            r#"{"projectId":"a\"b","orgId":7}"#,
        );
        let stack = detect(dir.path());
        assert_eq!(stack.vercel[0].project_id, None);
        assert_eq!(stack.vercel[0].org_id, None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(detect(empty.path()), Stack::default());
    }
}
