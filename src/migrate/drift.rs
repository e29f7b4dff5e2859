//! Schema drift (issue 16): does the database's schema match what its
//! applied migrations build?
//!
//! The check applies, to a scratch database, exactly the migrations the
//! target's history table records as applied (pending ones are the next
//! deploy's, not drift), then compares the two catalogs with
//! [`crate::db::postgres::catalog`] and says each difference in words. The
//! scratch database is a temporary `shipgate_drift_<pid>_<random>` on the
//! target's server, dropped on success, failure, deadline and Ctrl-C; or,
//! when the environment sets `shadow_database`, that database, emptied
//! first. Nothing is ever written to the target: it is only read.
//!
//! This module owns the scratch lifecycle, the comparison's noise rules
//! (history tables, column order, `public.`), the `allow` patterns and the
//! sentences; the `migrate drift` report and the `drift` gate render
//! [`DriftOutcome`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use globset::{GlobBuilder, GlobMatcher};

use super::MigrateError;
use super::layout::Layout;
use super::plan::{MigrationPlan, MigrationState};
use crate::config::{DatabaseUrl, DriftAllow, DriftGate};
use crate::context::Context;
use crate::db::postgres::PostgresDatabase;
use crate::db::postgres::catalog::{
    self, Catalog, CatalogObject, CatalogOptions, Difference, ObjectClass,
};
use crate::db::postgres::scratch::SCRATCH_PREFIX;
use crate::db::{self, Database as _, DatabaseError, Migration};
use crate::report::{Check, Phase, PhaseName, Report, Status, format_duration};

/// The deadline of `migrate drift` (the gate uses its own `timeout`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// How many characters of a definition a sentence shows.
const SHOWN_LIMIT: usize = 160;

/// How long dropping the scratch database may take.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);

/// Which side of the comparison has an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// Only the database has it: no migration creates it.
    Extra,
    /// Only the migrations create it.
    Missing,
    /// Both have it, defined differently.
    Changed,
}

impl DriftKind {
    /// The kind as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extra => "extra",
            Self::Missing => "missing",
            Self::Changed => "changed",
        }
    }
}

/// One difference between the database and its migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftFinding {
    /// The object's class.
    pub class: ObjectClass,
    /// Its qualified name, as the catalog has it (`public.users.email`).
    pub name: String,
    /// Which side has it.
    pub kind: DriftKind,
    /// Its definition in the database, when it has it.
    pub database: Option<String>,
    /// Its definition as the migrations build it, when they do.
    pub migrations: Option<String>,
    /// The difference in words.
    pub sentence: String,
}

/// How the check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftVerdict {
    /// The catalogs were compared.
    Compared {
        /// Differences no `allow` pattern matched.
        findings: Vec<DriftFinding>,
        /// Differences an `allow` pattern silenced.
        allowed: usize,
        /// Objects compared (the database's side).
        objects: usize,
    },
    /// An applied migration failed on the scratch database, so the
    /// migrations' schema could not be built.
    ReplayFailed {
        /// The migration, `<version>_<name>`.
        migration: String,
        /// Why, with the engine's message.
        reason: String,
    },
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// The deadline passed first.
    TimedOut(Duration),
}

/// What a drift check found and did.
#[derive(Debug, Clone)]
pub struct DriftOutcome {
    /// The verdict.
    pub verdict: DriftVerdict,
    /// How many migrations were applied to the scratch database.
    pub replayed: usize,
    /// Pending migrations, not part of the comparison.
    pub pending: usize,
    /// The scratch database, and what became of it.
    pub scratch: String,
    /// Set when the scratch database could not be dropped (a human should).
    pub cleanup_failed: Option<String>,
    /// Wall time.
    pub duration: Duration,
}

impl DriftOutcome {
    /// Whether the check passed: compared and nothing unexplained differs.
    pub fn passed(&self) -> bool {
        matches!(&self.verdict, DriftVerdict::Compared { findings, .. } if findings.is_empty())
            && self.cleanup_failed.is_none()
    }
}

/// The `[gate.drift]` settings `migrate drift` uses: the gate's when the
/// config has one, else the defaults (no `allow`, no comments, no grants).
pub fn settings(ctx: &Context) -> DriftGate {
    ctx.config
        .gates
        .iter()
        .find_map(|gate| match &gate.kind {
            crate::config::GateKind::Drift(drift) => Some(drift.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `shipgate migrate drift`: the check as a report; exit 1 on drift.
pub async fn command(ctx: &Context) -> Result<Report, MigrateError> {
    let settings = settings(ctx);
    let environment = ctx.config.environment.name.clone();
    let mut report = Report::new("migrate drift", Some(&environment), ctx.dry_run);
    if ctx.dry_run {
        let check = Check::new("drift", Status::Skip).detail(
            "would apply the applied migrations to a scratch database and compare its schema with the database's",
        );
        report.push(Phase::new(PhaseName::Migrate, vec![check], Duration::ZERO));
        return Ok(report);
    }
    let outcome = check(ctx, &settings, DEFAULT_DEADLINE).await?;
    let summary = summary(&outcome);
    let mut checks = vec![scratch_check(&outcome)];
    if let DriftVerdict::Compared { findings, .. } = &outcome.verdict {
        report.output("drift", findings.len().to_string());
        checks.extend(findings.iter().map(finding_check));
    }
    report.push(Phase::new(PhaseName::Migrate, checks, outcome.duration).summary(summary));
    Ok(report)
}

/// The check as one line: how many differences, or why none were counted.
pub fn summary(outcome: &DriftOutcome) -> String {
    match &outcome.verdict {
        DriftVerdict::Compared {
            findings, allowed, ..
        } => {
            let mut text = match findings.len() {
                0 => "no drift".to_owned(),
                1 => "1 difference".to_owned(),
                count => format!("{count} differences"),
            };
            if *allowed > 0 {
                let _ = write!(text, " ({allowed} allowed)");
            }
            text
        }
        DriftVerdict::ReplayFailed { migration, .. } => {
            format!("could not rebuild the schema: `{migration}` failed")
        }
        DriftVerdict::Interrupted => "interrupted".to_owned(),
        DriftVerdict::TimedOut(deadline) => {
            format!("timed out after {}", format_duration(*deadline))
        }
    }
}

/// The line that says what was replayed where, and how it ended.
pub fn scratch_check(outcome: &DriftOutcome) -> Check {
    let mut detail = format!(
        "applied {} migration(s) to {}",
        outcome.replayed, outcome.scratch
    );
    if outcome.pending > 0 {
        let _ = write!(
            detail,
            "; {} pending migration(s) not compared (this deploy's)",
            outcome.pending
        );
    }
    let mut check = match &outcome.verdict {
        DriftVerdict::Compared {
            objects, allowed, ..
        } => {
            let _ = write!(detail, "; compared {objects} objects");
            if *allowed > 0 {
                let _ = write!(detail, ", {allowed} difference(s) allowed by `allow`");
            }
            Check::pass("scratch").detail(detail)
        }
        DriftVerdict::ReplayFailed { migration, reason } => Check::fail("scratch").detail(format!(
            "{detail}; `{migration}` failed there: {reason}; a migration that needs objects the platform provides (Supabase's `auth.uid()`) needs a `shadow_database` that has them, with `allow = [\"schema:auth\"]`"
        )),
        DriftVerdict::Interrupted => {
            Check::new("scratch", Status::Skip).detail(format!("{detail}; interrupted"))
        }
        DriftVerdict::TimedOut(deadline) => Check::fail("scratch").detail(format!(
            "{detail}; timed out after {}",
            format_duration(*deadline)
        )),
    };
    if let Some(problem) = &outcome.cleanup_failed {
        check.status = Status::Fail;
        let detail = check.detail.take().unwrap_or_default();
        check = check.detail(format!("{detail}; {problem}"));
    }
    check.duration(outcome.duration)
}

/// The whole check as one line, for the `drift` gate and the pipeline's
/// check after migrating: the differences in the detail (the first few)
/// and the log (all of them).
pub fn one_check(name: &str, outcome: &DriftOutcome) -> Check {
    let scratch = scratch_check(outcome);
    let mut check = Check::new(name, scratch.status).duration(outcome.duration);
    match &outcome.verdict {
        DriftVerdict::Compared { findings, .. } if !findings.is_empty() => {
            const SHOWN: usize = 3;
            let mut detail = format!("{}: ", summary(outcome));
            let sentences: Vec<&str> = findings
                .iter()
                .map(|finding| finding.sentence.as_str())
                .collect();
            detail.push_str(&sentences[..sentences.len().min(SHOWN)].join("; "));
            if sentences.len() > SHOWN {
                let _ = write!(detail, "; and {} more", sentences.len() - SHOWN);
            }
            check.status = Status::Fail;
            check = check.detail(detail).log(format!(
                "{}\n{}",
                sentences.join("\n"),
                scratch.detail.unwrap_or_default()
            ));
        }
        _ => {
            check = check.detail(format!(
                "{}; {}",
                summary(outcome),
                scratch.detail.unwrap_or_default()
            ));
        }
    }
    check
}

/// One finding as a failed check: the sentence, both definitions, and its
/// class, name and kind as artifacts (the JSON report lists them).
pub fn finding_check(finding: &DriftFinding) -> Check {
    let mut check = Check::fail(format!("{} {}", finding.class, shown_name(finding)))
        .detail(finding.sentence.clone())
        .artifact("class", finding.class.key())
        .artifact("object", finding.name.clone())
        .artifact("difference", finding.kind.as_str());
    check.expected = Some(
        finding
            .migrations
            .clone()
            .unwrap_or_else(|| "absent".to_owned()),
    );
    check.actual = Some(
        finding
            .database
            .clone()
            .unwrap_or_else(|| "absent".to_owned()),
    );
    check
}

/// Runs the check within `deadline`: replays the applied migrations on a
/// scratch database, compares, and drops the scratch database whatever
/// happened (also on Ctrl-C).
pub async fn check(
    ctx: &Context,
    settings: &DriftGate,
    deadline: Duration,
) -> Result<DriftOutcome, MigrateError> {
    let started = Instant::now();
    let layout = Layout::of(&ctx.config);
    let url = target_url(ctx)?;
    let target = db::connect_postgres(&ctx.config, url, layout.history())?;
    let plan = read_plan(ctx, layout, &target).await?;
    let (replay, pending) = replay_list(ctx, &plan)?;
    let shadow = match &ctx.config.environment.shadow_database {
        Some(DatabaseUrl::Postgres { url }) => {
            let shadow = db::connect_postgres(&ctx.config, url, layout.history())?;
            if shadow.is_same_database(&target) {
                return Err(MigrateError::ShadowIsTarget {
                    database: shadow.database_name().to_owned(),
                });
            }
            Some(shadow)
        }
        Some(DatabaseUrl::Sqlite { .. }) => {
            return Err(MigrateError::DriftNeedsPostgres {
                key: "shadow_database",
            });
        }
        None => None,
    };
    let mut scratch = Scratch::open(ctx, &target, shadow, layout, settings).await?;
    let options = CatalogOptions {
        comments: settings.comments,
        grants: settings.grants,
    };
    let work = compare(ctx, &target, &scratch.database, &replay, settings, options);
    let verdict = tokio::select! {
        finished = tokio::time::timeout(deadline, work) => match finished {
            Ok(verdict) => verdict,
            Err(_) => Ok(DriftVerdict::TimedOut(deadline)),
        },
        () = ctx.cancel.cancelled() => Ok(DriftVerdict::Interrupted),
    };
    let description = scratch.describe();
    let cleanup_failed = scratch.close().await;
    let verdict = verdict?;
    let replayed = match &verdict {
        DriftVerdict::ReplayFailed { migration, .. } => replay
            .iter()
            .position(|entry| entry.id() == *migration)
            .unwrap_or(0),
        DriftVerdict::Compared { .. } => replay.len(),
        DriftVerdict::Interrupted | DriftVerdict::TimedOut(_) => 0,
    };
    Ok(DriftOutcome {
        verdict,
        replayed,
        pending,
        scratch: description,
        cleanup_failed,
        duration: started.elapsed(),
    })
}

/// The target's URL: `direct_url` when set, else `database`; PostgreSQL only.
fn target_url(ctx: &Context) -> Result<&crate::config::Masked, MigrateError> {
    let environment = &ctx.config.environment;
    match environment
        .direct_database
        .as_ref()
        .or(environment.database.as_ref())
    {
        Some(DatabaseUrl::Postgres { url }) => Ok(url),
        Some(DatabaseUrl::Sqlite { .. }) => {
            Err(MigrateError::DriftNeedsPostgres { key: "database" })
        }
        None => Err(DatabaseError::NotConfigured {
            environment: environment.name.clone(),
        }
        .into()),
    }
}

/// The files and the target's history, merged.
async fn read_plan(
    ctx: &Context,
    layout: Layout,
    target: &PostgresDatabase,
) -> Result<MigrationPlan, MigrateError> {
    let local = layout.read(&ctx.config.migrate.dir, &ctx.config.base_dir)?;
    let mut applied = target.applied().await?;
    layout.reconcile(&local, &mut applied);
    Ok(MigrationPlan::new(local, applied, layout.identity()))
}

/// The migrations to replay (those the target records as applied, in
/// order) and how many are pending. Refuses when the history cannot be
/// rebuilt from the files: an applied migration edited, missing or failed
/// part-way.
fn replay_list(
    ctx: &Context,
    plan: &MigrationPlan,
) -> Result<(Vec<Migration>, usize), MigrateError> {
    super::apply::refuse_failed(plan)?;
    super::apply::refuse_edited(plan)?;
    let mut replay = Vec::new();
    let mut pending = 0;
    for entry in &plan.entries {
        match (&entry.state, &entry.local) {
            (MigrationState::Applied { .. }, Some(local)) => replay.push(local.clone()),
            (MigrationState::Pending, _) => pending += 1,
            (MigrationState::MissingLocally { .. } | MigrationState::Applied { .. }, _) => {
                return Err(MigrateError::DriftMissingFile {
                    name: entry.id.clone(),
                    dir: super::source::relative_to(&ctx.config.migrate.dir, &ctx.config.base_dir),
                });
            }
            (MigrationState::Edited { .. } | MigrationState::Failed { .. }, _) => {}
        }
    }
    Ok((replay, pending))
}

/// Replays, reads both catalogs and compares them.
async fn compare(
    ctx: &Context,
    target: &PostgresDatabase,
    scratch: &PostgresDatabase,
    replay: &[Migration],
    settings: &DriftGate,
    options: CatalogOptions,
) -> Result<DriftVerdict, MigrateError> {
    scratch.ensure_history().await?;
    for migration in replay {
        ctx.printer
            .progress(&format!("replaying `{}`", migration.path.display()));
        if let Err(error) = scratch.apply(migration).await {
            if !error.is_migration_failure() {
                return Err(error.into());
            }
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let _ = write!(reason, ": {cause}");
                source = cause.source();
            }
            return Ok(DriftVerdict::ReplayFailed {
                migration: migration.id(),
                reason,
            });
        }
    }
    let (database, migrations) =
        tokio::try_join!(target.read_catalog(options), scratch.read_catalog(options))?;
    let matchers = Allow::compile(&settings.allow);
    let keep = |catalog: Catalog| Catalog {
        version: catalog.version,
        objects: catalog
            .objects
            .into_iter()
            .filter(|object| !is_bookkeeping(object))
            .map(normalize)
            .collect(),
    };
    let (database, migrations) = (keep(database), keep(migrations));
    let mut findings = Vec::new();
    let mut allowed = 0;
    let all: Vec<DriftFinding> = catalog::diff(&migrations, &database)
        .iter()
        .map(|difference| finding(difference, &ctx.config.environment.name))
        .collect();
    for finding in fold(all) {
        if matchers.iter().any(|allow| allow.matches(&finding)) {
            allowed += 1;
        } else {
            findings.push(finding);
        }
    }
    Ok(DriftVerdict::Compared {
        findings,
        allowed,
        objects: database.objects.len(),
    })
}

/// The parts of a qualified name as the catalog writes it
/// (`public."User".email`), unquoted: split on the dots outside double
/// quotes, up to a routine's argument list, which stays with the last part.
pub fn identifiers(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            '(' if !quoted => {
                current.push('(');
                current.extend(chars.by_ref());
            }
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// The history tables of every layout, and shipgate's own bookkeeping:
/// each tool writes its own columns, so they are never compared.
fn is_bookkeeping(object: &CatalogObject) -> bool {
    const TABLES: [&str; 4] = [
        "shipgate_migrations",
        "shipgate_failed_migrations",
        "_prisma_migrations",
        "schema_migrations",
    ];
    if object.class == ObjectClass::Comment || object.class == ObjectClass::DefaultPrivileges {
        return TABLES.iter().any(|table| object.name.ends_with(table))
            || object.name.contains("supabase_migrations");
    }
    let parts = identifiers(&object.name);
    if parts[0] == "supabase_migrations" {
        return true;
    }
    let Some(second) = parts.get(1) else {
        return false;
    };
    TABLES
        .iter()
        .any(|table| second == table || *second == format!("{table}_pkey"))
}

/// Drops what is noise for drift: a column's position (a column added by
/// hand shifts every later one).
fn normalize(mut object: CatalogObject) -> CatalogObject {
    if object.class == ObjectClass::Column && object.definition.starts_with('#') {
        let rest = object
            .definition
            .split_once(' ')
            .map_or("", |(_, rest)| rest);
        object.definition = rest.to_owned();
    }
    object
}

/// Drops the parts of a table or view that is itself extra or missing
/// (its columns, constraints, triggers and policies): the table's own
/// sentence says it all.
fn fold(findings: Vec<DriftFinding>) -> Vec<DriftFinding> {
    let whole: Vec<(DriftKind, Vec<String>)> = findings
        .iter()
        .filter(|finding| {
            matches!(finding.class, ObjectClass::Table | ObjectClass::View)
                && finding.kind != DriftKind::Changed
        })
        .map(|finding| (finding.kind, identifiers(&finding.name)))
        .collect();
    findings
        .into_iter()
        .filter(|finding| {
            if !matches!(
                finding.class,
                ObjectClass::Column
                    | ObjectClass::Constraint
                    | ObjectClass::Trigger
                    | ObjectClass::Policy
            ) {
                return true;
            }
            let parts = identifiers(&finding.name);
            let owner = &parts[..parts.len().saturating_sub(1)];
            !whole
                .iter()
                .any(|(kind, table)| *kind == finding.kind && table.as_slice() == owner)
        })
        .collect()
}

/// `diff(migrations, database)` turned into a finding with its sentence.
fn finding(difference: &Difference, environment: &str) -> DriftFinding {
    let (object, kind, database, migrations) = match difference {
        Difference::Added(object) => (
            object,
            DriftKind::Extra,
            Some(object.definition.clone()),
            None,
        ),
        Difference::Removed(object) => (
            object,
            DriftKind::Missing,
            None,
            Some(object.definition.clone()),
        ),
        Difference::Changed { before, after } => (
            before,
            DriftKind::Changed,
            Some(after.definition.clone()),
            Some(before.definition.clone()),
        ),
    };
    let mut finding = DriftFinding {
        class: object.class,
        name: object.name.clone(),
        kind,
        database,
        migrations,
        sentence: String::new(),
    };
    let shown = shown_name(&finding);
    let class = finding.class;
    finding.sentence = match kind {
        DriftKind::Extra => {
            format!("{environment} has {class} {shown} that no migration creates")
        }
        DriftKind::Missing => {
            format!("{class} {shown} is missing in {environment}: the migrations create it")
        }
        DriftKind::Changed => format!(
            "{class} {shown} differs: `{}` in {environment}, `{}` from the migrations",
            shown_definition(class, finding.database.as_deref().unwrap_or_default()),
            shown_definition(class, finding.migrations.as_deref().unwrap_or_default()),
        ),
    };
    finding
}

/// The name as sentences show it: without `public.`, and a constraint,
/// trigger or policy as "`name` on `table`".
fn shown_name(finding: &DriftFinding) -> String {
    if matches!(
        finding.class,
        ObjectClass::Comment | ObjectClass::DefaultPrivileges
    ) {
        return format!("`{}`", finding.name);
    }
    let mut parts = identifiers(&finding.name);
    if parts.len() > 1 && parts[0] == "public" {
        parts.remove(0);
    }
    match (finding.class, parts.split_last()) {
        (
            ObjectClass::Constraint | ObjectClass::Trigger | ObjectClass::Policy,
            Some((own, table)),
        ) if !table.is_empty() => format!("`{own}` on `{}`", table.join(".")),
        _ => format!("`{}`", parts.join(".")),
    }
}

/// A definition as sentences show it: an index as `btree (user_id)`
/// (`unique btree (…)`), without `public.`, shortened.
fn shown_definition(class: ObjectClass, definition: &str) -> String {
    let mut text = definition.replace("public.", "");
    if class == ObjectClass::Index {
        if let Some((head, method)) = text.split_once(" USING ") {
            let unique = if head.starts_with("CREATE UNIQUE") {
                "unique "
            } else {
                ""
            };
            text = format!("{unique}{method}");
        }
    }
    if text.chars().count() > SHOWN_LIMIT {
        text = text.chars().take(SHOWN_LIMIT).collect::<String>() + "…";
    }
    text
}

/// One compiled `allow` pattern.
struct Allow {
    class: Option<ObjectClass>,
    glob: GlobMatcher,
}

impl Allow {
    /// The patterns the config validated; one that no longer compiles is
    /// skipped (it cannot: the config compiled it).
    fn compile(patterns: &[DriftAllow]) -> Vec<Self> {
        patterns
            .iter()
            .filter_map(|pattern| {
                let glob = GlobBuilder::new(&pattern.glob)
                    .literal_separator(false)
                    .build()
                    .ok()?
                    .compile_matcher();
                let class = if pattern.class == "*" {
                    None
                } else {
                    Some(ObjectClass::from_key(&pattern.class)?)
                };
                Some(Self { class, glob })
            })
            .collect()
    }

    /// Whether the pattern covers the finding: same class (or `*`) and the
    /// glob matches its name (quotes removed; `public.` optional). A
    /// `schema:` pattern also covers everything inside the schemas it
    /// matches.
    fn matches(&self, finding: &DriftFinding) -> bool {
        let parts = identifiers(&finding.name);
        let name = parts.join(".");
        let unqualified = match parts.split_first() {
            Some((schema, rest)) if schema == "public" && !rest.is_empty() => rest.join("."),
            _ => name.clone(),
        };
        let named = |text: &str| self.glob.is_match(text);
        match self.class {
            Some(ObjectClass::Schema) => {
                object_schema(finding).is_some_and(|schema| named(&schema))
            }
            Some(class) if class != finding.class => false,
            _ => named(&name) || named(&unqualified),
        }
    }
}

/// The schema an object lives in (a schema is its own), when it has one.
fn object_schema(finding: &DriftFinding) -> Option<String> {
    match finding.class {
        ObjectClass::Extension => finding
            .database
            .as_deref()
            .or(finding.migrations.as_deref())
            .and_then(|definition| definition.rsplit_once(" in "))
            .map(|(_, schema)| identifiers(schema).remove(0)),
        ObjectClass::Publication
        | ObjectClass::EventTrigger
        | ObjectClass::DefaultPrivileges
        | ObjectClass::Comment => None,
        _ => Some(identifiers(&finding.name).remove(0)),
    }
}

/// The scratch database: a temporary one this run created (dropped by
/// [`Scratch::close`], or on drop as a last resort), or the shadow.
struct Scratch {
    database: PostgresDatabase,
    /// The temporary database's name and a connection to the target's
    /// server to drop it from; `None` for a shadow database or once dropped.
    temporary: Option<(String, PostgresDatabase)>,
}

impl Scratch {
    /// Creates the temporary database, or empties the shadow one (keeping
    /// the schemas `schema:` allow patterns name: the platform's).
    async fn open(
        ctx: &Context,
        target: &PostgresDatabase,
        shadow: Option<PostgresDatabase>,
        layout: Layout,
        settings: &DriftGate,
    ) -> Result<Self, MigrateError> {
        if let Some(shadow) = shadow {
            let keep: Vec<String> = settings
                .allow
                .iter()
                .filter(|pattern| {
                    pattern.class == "schema" && !pattern.glob.contains(['*', '?', '[', '{'])
                })
                .map(|pattern| pattern.glob.clone())
                .collect();
            ctx.printer.progress(&format!(
                "emptying the shadow database `{}`",
                shadow.database_name()
            ));
            shadow.reset_shadow(&keep).await?;
            return Ok(Self {
                database: shadow,
                temporary: None,
            });
        }
        let name = scratch_name();
        let admin = target.on_database(target.database_name(), layout.history());
        ctx.printer
            .progress(&format!("creating the scratch database `{name}`"));
        admin.create_database(&name).await?;
        Ok(Self {
            database: target.on_database(&name, layout.history()),
            temporary: Some((name, admin)),
        })
    }

    fn describe(&self) -> String {
        match &self.temporary {
            Some((name, admin)) => format!(
                "the scratch database `{name}` on {} (dropped afterwards)",
                admin.server_address()
            ),
            None => format!(
                "the shadow database `{}` (`shadow_database`)",
                self.database.database_name()
            ),
        }
    }

    /// Drops the temporary database; the problem in words when it could
    /// not be dropped.
    async fn close(&mut self) -> Option<String> {
        let (name, admin) = self.temporary.take()?;
        // Its own session first, so nothing holds the database open.
        let closed = std::mem::replace(
            &mut self.database,
            admin.on_database(admin.database_name(), crate::db::HistoryLayout::Plain),
        );
        drop(closed);
        match tokio::time::timeout(CLEANUP_DEADLINE, admin.drop_database(&name)).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!(
                "the scratch database `{name}` could not be dropped ({error}): drop it with `DROP DATABASE \"{name}\"`"
            )),
            Err(_) => Some(format!(
                "dropping the scratch database `{name}` timed out after {}: drop it with `DROP DATABASE \"{name}\"`",
                format_duration(CLEANUP_DEADLINE)
            )),
        }
    }
}

impl Drop for Scratch {
    /// A check abandoned mid-way (its gate timed out, the process is
    /// stopping) still drops its temporary database, on the runtime, as a
    /// last resort.
    fn drop(&mut self) {
        if let Some((name, admin)) = self.temporary.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ =
                        tokio::time::timeout(CLEANUP_DEADLINE, admin.drop_database(&name)).await;
                });
            }
        }
    }
}

/// `shipgate_drift_<pid>_<random>`: unique, and recognisable as shipgate's.
fn scratch_name() -> String {
    format!(
        "{SCRATCH_PREFIX}{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(class: ObjectClass, name: &str, definition: &str) -> CatalogObject {
        CatalogObject {
            class,
            name: name.to_owned(),
            definition: definition.to_owned(),
        }
    }

    fn allow(pattern: &str) -> Allow {
        let (class, glob) = pattern.split_once(':').unwrap();
        let compiled = Allow::compile(&[DriftAllow {
            class: class.to_owned(),
            glob: glob.to_owned(),
            location: None,
        }]);
        compiled.into_iter().next().unwrap()
    }

    fn extra(class: ObjectClass, name: &str, definition: &str) -> DriftFinding {
        finding(
            &Difference::Added(object(class, name, definition)),
            "production",
        )
    }

    #[test]
    fn names_split_on_dots_outside_quotes() {
        assert_eq!(
            identifiers("public.users.email"),
            ["public", "users", "email"]
        );
        assert_eq!(
            identifiers("public.profiles.\"Users can update own profile.\""),
            ["public", "profiles", "Users can update own profile."]
        );
        assert_eq!(identifiers("public.\"a\"\"b\""), ["public", "a\"b"]);
        assert_eq!(
            identifiers("auth.uid(x public.mood, y text)"),
            ["auth", "uid(x public.mood, y text)"]
        );
        assert_eq!(identifiers("plain"), ["plain"]);
    }

    #[test]
    fn the_parts_of_an_extra_table_are_folded_into_it() {
        let findings = vec![
            extra(ObjectClass::Table, "public.hotfix", "table"),
            extra(ObjectClass::Column, "public.hotfix.id", "integer"),
            extra(
                ObjectClass::Constraint,
                "public.hotfix.hotfix_pkey",
                "PRIMARY KEY (id)",
            ),
            extra(ObjectClass::Column, "public.users.flag", "boolean"),
        ];
        let names: Vec<String> = fold(findings)
            .into_iter()
            .map(|finding| finding.name)
            .collect();
        assert_eq!(names, ["public.hotfix", "public.users.flag"]);
    }

    proptest::proptest! {
        #[test]
        fn splitting_a_quoted_name_gives_back_its_identifiers(
            parts in proptest::collection::vec("[a-zA-Z0-9_ .\"()]{0,12}", 1..4)
        ) {
            let quoted: Vec<String> = parts
                .iter()
                .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
                .collect();
            proptest::prop_assert_eq!(identifiers(&quoted.join(".")), parts);
        }

        #[test]
        fn any_name_and_definition_make_a_sentence(
            name in "\\PC{0,40}",
            definition in "\\PC{0,300}",
            class in proptest::sample::select(ObjectClass::ALL.to_vec()),
        ) {
            let changed = finding(
                &Difference::Changed {
                    before: object(class, &name, "x"),
                    after: object(class, &name, &definition),
                },
                "production",
            );
            proptest::prop_assert!(changed.sentence.contains("production"));
            proptest::prop_assert!(!identifiers(&name).is_empty());
            let normalized = normalize(object(class, &name, &definition));
            proptest::prop_assert_eq!(normalize(normalized.clone()), normalize(normalized));
            let _ = allow("*:*").matches(&changed);
        }
    }

    #[test]
    fn the_config_lists_every_class() {
        let keys: Vec<String> = ObjectClass::ALL.iter().map(|class| class.key()).collect();
        assert_eq!(keys, crate::config::DRIFT_CLASSES);
        for key in crate::config::DRIFT_CLASSES {
            assert_eq!(ObjectClass::from_key(key).unwrap().key(), key);
        }
    }

    #[test]
    fn sentences_name_the_environment_and_the_migrations() {
        let column = extra(ObjectClass::Column, "public.users.legacy_flag", "boolean");
        assert_eq!(
            column.sentence,
            "production has column `users.legacy_flag` that no migration creates"
        );
        let index = finding(
            &Difference::Changed {
                before: object(
                    ObjectClass::Index,
                    "public.orders_user_idx",
                    "CREATE INDEX orders_user_idx ON public.orders USING btree (user_id, created_at)",
                ),
                after: object(
                    ObjectClass::Index,
                    "public.orders_user_idx",
                    "CREATE INDEX orders_user_idx ON public.orders USING btree (user_id)",
                ),
            },
            "production",
        );
        assert_eq!(
            index.sentence,
            "index `orders_user_idx` differs: `btree (user_id)` in production, `btree (user_id, created_at)` from the migrations"
        );
        let policy = finding(
            &Difference::Removed(object(
                ObjectClass::Policy,
                "public.profiles.profiles_select",
                "permissive for r",
            )),
            "production",
        );
        assert_eq!(
            policy.sentence,
            "policy `profiles_select` on `profiles` is missing in production: the migrations create it"
        );
        assert_eq!(policy.kind, DriftKind::Missing);
    }

    #[test]
    fn column_positions_are_not_drift() {
        let moved = normalize(object(
            ObjectClass::Column,
            "public.t.a",
            "#3 integer not null",
        ));
        assert_eq!(moved.definition, "integer not null");
        let view = normalize(object(ObjectClass::View, "public.v", "#3 x"));
        assert_eq!(view.definition, "#3 x");
    }

    #[test]
    fn history_tables_are_not_compared() {
        assert!(is_bookkeeping(&object(
            ObjectClass::Table,
            "public._prisma_migrations",
            ""
        )));
        assert!(is_bookkeeping(&object(
            ObjectClass::Index,
            "public.shipgate_migrations_pkey",
            ""
        )));
        assert!(is_bookkeeping(&object(
            ObjectClass::Column,
            "supabase_migrations.schema_migrations.version",
            ""
        )));
        assert!(!is_bookkeeping(&object(
            ObjectClass::Table,
            "public.users",
            ""
        )));
        assert!(!is_bookkeeping(&object(ObjectClass::Schema, "public", "")));
    }

    #[test]
    fn allow_patterns_match_exactly_what_they_name() {
        let legacy = extra(ObjectClass::Table, "public.legacy_orders", "table");
        let users = extra(ObjectClass::Table, "public.users", "table");
        let legacy_column = extra(ObjectClass::Column, "public.legacy_orders.id", "integer");
        assert!(allow("table:public.legacy_*").matches(&legacy));
        assert!(allow("table:legacy_*").matches(&legacy));
        assert!(!allow("table:public.legacy_*").matches(&users));
        assert!(!allow("table:public.legacy_*").matches(&legacy_column));
        assert!(allow("*:public.legacy_*").matches(&legacy_column));

        let auth_schema = extra(ObjectClass::Schema, "auth", "");
        let auth_function = extra(ObjectClass::Function, "auth.uid()", "function");
        let extension = extra(
            ObjectClass::Extension,
            "pgcrypto",
            "version 1.3 in extensions",
        );
        assert!(allow("schema:auth").matches(&auth_schema));
        assert!(allow("schema:auth").matches(&auth_function));
        assert!(!allow("schema:auth").matches(&users));
        assert!(allow("schema:extensions").matches(&extension));
        assert!(!allow("schema:auth").matches(&extension));

        let quoted = extra(ObjectClass::Table, "public.\"User\"", "table");
        assert!(allow("table:User").matches(&quoted));
    }
}
