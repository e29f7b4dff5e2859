//! A snapshot of a PostgreSQL database's schema as plain, comparable data:
//! every object a migration can create, named by schema, with a normalized
//! definition (issue 11, section 2).
//!
//! This module owns reading the catalog ([`Catalog::read`]), storing it
//! ([`Catalog::save`], [`Catalog::load`]) and comparing two snapshots
//! ([`diff`]). It knows nothing of backups or restores: the restore uses it
//! to prove a restored database equals its backup, and a schema-drift check
//! can compare a database with any earlier snapshot.
//!
//! Covered: schemas, tables (kind, persistence, row level security flags),
//! columns (position, type, default, nullability), indexes, constraints,
//! sequences, types (enums with their value order, domains, composites,
//! ranges), functions, procedures and aggregates (signature and a hash of
//! the body), views and materialized views, triggers, extensions (name,
//! version, schema), collations, publications, event triggers and policies.
//! Indexes carry their validity (`INVALID` after a failed `CREATE INDEX
//! CONCURRENTLY`), constraints their `NOT VALID`. Objects owned by an
//! extension are covered by the extension's version. Comments, privileges
//! and default privileges are read only when [`CatalogOptions`] asks (the
//! drift check, issue 16); a restore compares neither. Roles, ownership,
//! operators, casts, text search objects and foreign servers are out of
//! scope: they are not compared.
//! Objects in `pg_catalog`, `information_schema`, `pg_toast` and temporary
//! schemas are never listed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

/// One kind of catalog object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectClass {
    /// A schema (`pg_namespace`).
    Schema,
    /// An extension, with its version and schema.
    Extension,
    /// A collation.
    Collation,
    /// A type: enum, domain, composite or range.
    Type,
    /// A sequence and its parameters (not its current value).
    Sequence,
    /// A table, partitioned table or foreign table, with its RLS flags.
    Table,
    /// A column of a table, view or composite type.
    Column,
    /// A table or domain constraint.
    Constraint,
    /// An index.
    Index,
    /// A view or materialized view.
    View,
    /// A function, procedure or aggregate.
    Function,
    /// A trigger on a table.
    Trigger,
    /// A row level security policy.
    Policy,
    /// A publication with the tables it publishes.
    Publication,
    /// An event trigger.
    EventTrigger,
    /// A comment on an object (read only with [`CatalogOptions::comments`]).
    Comment,
    /// The privileges granted on a schema, relation or routine (read only
    /// with [`CatalogOptions::grants`]).
    Grant,
    /// `ALTER DEFAULT PRIVILEGES` entries (read only with
    /// [`CatalogOptions::grants`]).
    DefaultPrivileges,
}

impl ObjectClass {
    /// The class in words, as messages name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schema => "schema",
            Self::Extension => "extension",
            Self::Collation => "collation",
            Self::Type => "type",
            Self::Sequence => "sequence",
            Self::Table => "table",
            Self::Column => "column",
            Self::Constraint => "constraint",
            Self::Index => "index",
            Self::View => "view",
            Self::Function => "function",
            Self::Trigger => "trigger",
            Self::Policy => "policy",
            Self::Publication => "publication",
            Self::EventTrigger => "event trigger",
            Self::Comment => "comment",
            Self::Grant => "grant",
            Self::DefaultPrivileges => "default privileges",
        }
    }
}

impl ObjectClass {
    /// Every class, in order.
    pub const ALL: [Self; 18] = [
        Self::Schema,
        Self::Extension,
        Self::Collation,
        Self::Type,
        Self::Sequence,
        Self::Table,
        Self::Column,
        Self::Constraint,
        Self::Index,
        Self::View,
        Self::Function,
        Self::Trigger,
        Self::Policy,
        Self::Publication,
        Self::EventTrigger,
        Self::Comment,
        Self::Grant,
        Self::DefaultPrivileges,
    ];

    /// The class as config patterns spell it (`event_trigger`,
    /// `default_privileges`): [`ObjectClass::as_str`] with `_` for spaces.
    pub fn key(self) -> String {
        self.as_str().replace(' ', "_")
    }

    /// The class a config pattern names, e.g. `table` or `event_trigger`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.key() == key)
    }
}

impl fmt::Display for ObjectClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object: its class, its name qualified by schema (`public.users`,
/// `public.users.email` for a column) and its normalized definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CatalogObject {
    /// What it is.
    pub class: ObjectClass,
    /// Its name, identifiers quoted as PostgreSQL quotes them.
    pub name: String,
    /// What it is defined as, normalized so equal objects compare equal.
    pub definition: String,
}

impl CatalogObject {
    /// An object from its parts (tests build catalogs by hand).
    #[cfg(test)]
    pub(crate) fn new(class: ObjectClass, name: &str, definition: &str) -> Self {
        Self {
            class,
            name: name.to_owned(),
            definition: definition.to_owned(),
        }
    }
}

/// A snapshot of a database's schema: the objects, sorted by class and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The format of the stored file; bumped when the queries change so an
    /// old snapshot is never compared with a new one.
    pub version: u32,
    /// Every object, sorted.
    pub objects: Vec<CatalogObject>,
}

/// What a snapshot reads besides the schema objects. Restores compare
/// neither (a restore runs with `--no-owner`); the drift check reads them
/// when `[gate.drift]` asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogOptions {
    /// Comments on objects (`COMMENT ON`).
    pub comments: bool,
    /// Privileges on schemas, relations and routines, and default
    /// privileges; the owner's own privileges are named `owner`, so
    /// different owners are not a difference.
    pub grants: bool,
}

/// How the catalog's format is numbered (see [`Catalog::version`]).
pub const CATALOG_VERSION: u32 = 1;

/// One way two snapshots differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The object is in the later snapshot only.
    Added(CatalogObject),
    /// The object is in the earlier snapshot only.
    Removed(CatalogObject),
    /// The object is in both, defined differently.
    Changed {
        /// As the earlier snapshot has it.
        before: CatalogObject,
        /// As the later snapshot has it.
        after: CatalogObject,
    },
}

impl Difference {
    /// The difference in words, with the earlier snapshot called `before`
    /// and the later `now`, e.g. "extension `pg_trgm` exists now but not in
    /// the backup" with `before = "the backup"`.
    pub fn describe(&self, before: &str) -> String {
        match self {
            Self::Added(object) => format!(
                "{} `{}` exists now but not in {before}",
                object.class, object.name
            ),
            Self::Removed(object) => format!(
                "{} `{}` is in {before} but missing now",
                object.class, object.name
            ),
            Self::Changed { before: old, after } => format!(
                "{} `{}` differs from {before}: `{}` there, `{}` now",
                old.class,
                old.name,
                shorten(&old.definition),
                shorten(&after.definition)
            ),
        }
    }
}

/// The differences between `before` and `after`, by class and name.
pub fn diff(before: &Catalog, after: &Catalog) -> Vec<Difference> {
    let old = index(before);
    let new = index(after);
    let mut differences = Vec::new();
    for (key, object) in &old {
        match new.get(key) {
            None => differences.push(Difference::Removed((*object).clone())),
            Some(now) if now.definition != object.definition => {
                differences.push(Difference::Changed {
                    before: (*object).clone(),
                    after: (*now).clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (key, object) in &new {
        if !old.contains_key(key) {
            differences.push(Difference::Added((*object).clone()));
        }
    }
    differences.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    differences
}

fn index(catalog: &Catalog) -> BTreeMap<(ObjectClass, &str), &CatalogObject> {
    catalog
        .objects
        .iter()
        .map(|object| ((object.class, object.name.as_str()), object))
        .collect()
}

fn sort_key(difference: &Difference) -> (ObjectClass, &str) {
    match difference {
        Difference::Added(object) | Difference::Removed(object) => (object.class, &object.name),
        Difference::Changed { before, .. } => (before.class, &before.name),
    }
}

fn shorten(definition: &str) -> String {
    const LIMIT: usize = 120;
    if definition.chars().count() <= LIMIT {
        definition.to_owned()
    } else {
        let mut short: String = definition.chars().take(LIMIT).collect();
        short.push('…');
        short
    }
}

/// The schemas a snapshot never looks in.
const USER_NAMESPACE: &str = "SELECT oid, nspname FROM pg_namespace \
     WHERE nspname NOT IN ('pg_catalog', 'information_schema') \
     AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'";

/// Not owned by an extension (`catalog` is the object's catalog table).
fn not_in_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass \
         AND d.objid = {oid} AND d.deptype = 'e')"
    )
}

/// One query per class, each returning `(name, definition)` as text.
fn queries(options: CatalogOptions) -> Vec<(ObjectClass, String)> {
    let mut queries = schema_queries();
    queries.extend(relation_queries());
    queries.extend(routine_and_other_queries());
    if options.comments {
        queries.push(comment_query());
    }
    if options.grants {
        queries.extend(grant_queries());
    }
    queries
}

/// Comments on every object created after initdb that no extension owns.
fn comment_query() -> (ObjectClass, String) {
    (
        ObjectClass::Comment,
        "SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description \
         FROM pg_description d WHERE d.objoid >= 16384 \
         AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid \
           AND e.objid = d.objoid AND e.deptype = 'e')"
            .to_owned(),
    )
}

/// `aclitem[]` `acl` (or the default for `kind` owned by `owner` when it
/// is NULL) as a sorted list; the owner's own entry is named `owner`.
fn privileges(acl: &str, kind: &str, owner: &str) -> String {
    format!(
        "coalesce((SELECT string_agg(g, ', ' ORDER BY g) FROM (SELECT concat_ws(' ', \
         CASE WHEN a.grantee = 0 THEN 'public' WHEN a.grantee = {owner} THEN 'owner' \
         ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, \
         CASE WHEN a.is_grantable THEN 'with grant option' END) AS g \
         FROM aclexplode(coalesce({acl}, acldefault({kind}, {owner}))) a) gs), 'none')"
    )
}

/// Privileges on schemas, relations and routines, and default privileges.
fn grant_queries() -> Vec<(ObjectClass, String)> {
    let relation_kind = "(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\"";
    vec![
        (
            ObjectClass::Grant,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I', s.nspname), 'schema: ' || {} \
                 FROM pg_namespace s JOIN n ON n.oid = s.oid WHERE {}",
                privileges("s.nspacl", "'n'", "s.nspowner"),
                not_in_extension("pg_namespace", "s.oid")
            ),
        ),
        (
            ObjectClass::Grant,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, c.relname), \
                 CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
                 ELSE 'table' END || ': ' || {} \
                 FROM pg_class c JOIN n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {}",
                privileges("c.relacl", relation_kind, "c.relowner"),
                not_in_extension("pg_class", "c.oid")
            ),
        ),
        (
            ObjectClass::Grant,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I(%s)', n.nspname, p.proname, \
                 pg_get_function_identity_arguments(p.oid)), 'routine: ' || {} \
                 FROM pg_proc p JOIN n ON n.oid = p.pronamespace WHERE {}",
                privileges("p.proacl", "'f'", "p.proowner"),
                not_in_extension("pg_proc", "p.oid")
            ),
        ),
        (
            ObjectClass::DefaultPrivileges,
            "SELECT concat_ws(' ', 'for', quote_ident(pg_get_userbyid(d.defaclrole)), 'in', \
             coalesce(quote_ident(n.nspname), 'all schemas'), 'on', \
             CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' \
             WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END), \
             coalesce((SELECT string_agg(g, ', ' ORDER BY g) FROM (SELECT concat_ws(' ', \
             CASE WHEN a.grantee = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
             a.privilege_type, CASE WHEN a.is_grantable THEN 'with grant option' END) AS g \
             FROM aclexplode(d.defaclacl) a) gs), 'none') \
             FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace"
                .to_owned(),
        ),
    ]
}

/// Schemas, extensions, collations, types and sequences.
fn schema_queries() -> Vec<(ObjectClass, String)> {
    let relation_free = not_in_extension("pg_class", "c.oid");
    vec![
        (
            ObjectClass::Schema,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I', n.nspname), '' FROM n \
                 WHERE {}",
                not_in_extension("pg_namespace", "n.oid")
            ),
        ),
        (
            ObjectClass::Extension,
            "SELECT format('%I', e.extname), 'version ' || e.extversion || ' in ' || format('%I', n.nspname) \
             FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                .to_owned(),
        ),
        (
            ObjectClass::Collation,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, c.collname), \
                 concat_ws(' ', 'provider', c.collprovider, 'collate', coalesce(c.collcollate, '-'), \
                 'ctype', coalesce(c.collctype, '-'), 'deterministic', c.collisdeterministic) \
                 FROM pg_collation c JOIN n ON n.oid = c.collnamespace WHERE {}",
                not_in_extension("pg_collation", "c.oid")
            ),
        ),
        (
            ObjectClass::Type,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, t.typname), \
                 CASE t.typtype \
                   WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
                     FROM pg_enum e WHERE e.enumtypid = t.oid) || ')' \
                   WHEN 'd' THEN concat_ws(' ', 'domain over', format_type(t.typbasetype, t.typtypmod), \
                     CASE WHEN t.typnotnull THEN 'not null' END, 'default ' || t.typdefault) \
                   WHEN 'r' THEN 'range over ' || (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid) \
                   WHEN 'c' THEN 'composite (' || (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) \
                     FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')' \
                   ELSE 'type ' || t.typtype::text END \
                 FROM pg_type t JOIN n ON n.oid = t.typnamespace \
                 WHERE (t.typtype IN ('e', 'd', 'r') \
                   OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) AND {}",
                not_in_extension("pg_type", "t.oid")
            ),
        ),
        (
            ObjectClass::Sequence,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, c.relname), \
                 concat_ws(' ', format_type(s.seqtypid, NULL), 'start', s.seqstart, 'increment', s.seqincrement, \
                 'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache, CASE WHEN s.seqcycle THEN 'cycle' END) \
                 FROM pg_class c JOIN n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid \
                 WHERE c.relkind = 'S' AND {relation_free}"
            ),
        ),
    ]
}

/// Tables, columns, constraints, indexes and views.
fn relation_queries() -> Vec<(ObjectClass, String)> {
    let relation_free = not_in_extension("pg_class", "c.oid");
    vec![
        (
            ObjectClass::Table,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, c.relname), \
                 concat_ws(' ', CASE c.relkind WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table' ELSE 'table' END, \
                 CASE c.relpersistence WHEN 'u' THEN 'unlogged' END, \
                 'row level security', CASE WHEN c.relrowsecurity THEN 'on' ELSE 'off' END, \
                 CASE WHEN c.relforcerowsecurity THEN 'forced' END, \
                 CASE WHEN c.relispartition THEN 'partition ' || pg_get_expr(c.relpartbound, c.oid) END) \
                 FROM pg_class c JOIN n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'f') AND {relation_free}"
            ),
        ),
        (
            // The position counts live columns only: a restore renumbers
            // around dropped ones.
            ObjectClass::Column,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname), \
                 concat_ws(' ', '#' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), \
                 format_type(a.atttypid, a.atttypmod), \
                 CASE WHEN a.attcollation <> 0 AND a.attcollation <> (SELECT typcollation FROM pg_type WHERE oid = a.atttypid) \
                   THEN 'collate ' || a.attcollation::regcollation::text END, \
                 CASE WHEN a.attnotnull THEN 'not null' END, \
                 CASE WHEN a.attidentity <> '' THEN 'identity ' || a.attidentity::text END, \
                 CASE WHEN a.attgenerated <> '' THEN 'generated' END, \
                 'default ' || pg_get_expr(d.adbin, d.adrelid)) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped AND {relation_free}"
            ),
        ),
        (
            ObjectClass::Constraint,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I.%I', n.nspname, \
                 coalesce((SELECT relname FROM pg_class WHERE oid = k.conrelid), (SELECT typname FROM pg_type WHERE oid = k.contypid)), \
                 k.conname), pg_get_constraintdef(k.oid) \
                 FROM pg_constraint k JOIN n ON n.oid = k.connamespace WHERE {}",
                not_in_extension("pg_constraint", "k.oid")
            ),
        ),
        (
            ObjectClass::Index,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, c.relname), \
                 pg_get_indexdef(c.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END \
                 FROM pg_class c JOIN n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid \
                 WHERE c.relkind IN ('i', 'I') AND {relation_free}"
            ),
        ),
        (
            ObjectClass::View,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I', n.nspname, c.relname), \
                 CASE c.relkind WHEN 'm' THEN 'materialized ' ELSE '' END || 'view ' || pg_get_viewdef(c.oid, true) \
                 FROM pg_class c JOIN n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('v', 'm') AND {relation_free}"
            ),
        ),
    ]
}

/// Routines, triggers, policies, publications and event triggers.
fn routine_and_other_queries() -> Vec<(ObjectClass, String)> {
    vec![
        (
            ObjectClass::Function,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), \
                 concat_ws(' ', CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function' ELSE 'function' END, \
                 'returns ' || pg_get_function_result(p.oid), \
                 'body md5 ' || CASE WHEN p.prokind = 'a' THEN md5(p.prosrc) ELSE md5(pg_get_functiondef(p.oid)) END) \
                 FROM pg_proc p JOIN n ON n.oid = p.pronamespace WHERE {}",
                not_in_extension("pg_proc", "p.oid")
            ),
        ),
        (
            ObjectClass::Trigger,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I.%I', n.nspname, c.relname, g.tgname), \
                 pg_get_triggerdef(g.oid) || CASE g.tgenabled WHEN 'O' THEN '' ELSE ' enabled ' || g.tgenabled::text END \
                 FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN n ON n.oid = c.relnamespace \
                 WHERE NOT g.tgisinternal AND {}",
                not_in_extension("pg_trigger", "g.oid")
            ),
        ),
        (
            ObjectClass::Policy,
            format!(
                "WITH n AS ({USER_NAMESPACE}) SELECT format('%I.%I.%I', n.nspname, c.relname, p.polname), \
                 concat_ws(' ', CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, \
                 'for', p.polcmd, \
                 'to', (SELECT string_agg(role, ', ' ORDER BY role) FROM (SELECT CASE r WHEN 0 THEN 'public' \
                   ELSE quote_ident(pg_get_userbyid(r)) END AS role FROM unnest(p.polroles) r) roles), \
                 'using ' || pg_get_expr(p.polqual, p.polrelid), \
                 'with check ' || pg_get_expr(p.polwithcheck, p.polrelid)) \
                 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN n ON n.oid = c.relnamespace"
            ),
        ),
        (
            ObjectClass::Publication,
            "SELECT format('%I', p.pubname), \
             concat_ws(' ', CASE WHEN p.puballtables THEN 'all tables' END, \
             'publishes', concat_ws(',', CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END, \
               CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN p.pubtruncate THEN 'truncate' END), \
             'tables', coalesce((SELECT string_agg(format('%I.%I', t.schemaname, t.tablename), ', ' \
               ORDER BY t.schemaname, t.tablename) \
               FROM pg_publication_tables t WHERE t.pubname = p.pubname AND NOT p.puballtables), '-')) \
             FROM pg_publication p"
                .to_owned(),
        ),
        (
            ObjectClass::EventTrigger,
            "SELECT format('%I', e.evtname), \
             concat_ws(' ', 'on', e.evtevent, 'execute', e.evtfoid::regproc::text, 'enabled', e.evtenabled, \
             'tags ' || array_to_string(e.evttags, ', ')) \
             FROM pg_event_trigger e"
                .to_owned(),
        ),
    ]
}

impl Catalog {
    /// Reads the snapshot of the database `client` is connected to, in one
    /// `REPEATABLE READ` read-only transaction so every query sees the same
    /// state.
    pub async fn read(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Self::read_with(client, CatalogOptions::default()).await
    }

    /// [`Catalog::read`], also reading what `options` asks for.
    pub async fn read_with(
        client: &Client,
        options: CatalogOptions,
    ) -> Result<Self, tokio_postgres::Error> {
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let result = Self::read_in_transaction(client, options).await;
        let _ = client.batch_execute("COMMIT").await;
        result
    }

    async fn read_in_transaction(
        client: &Client,
        options: CatalogOptions,
    ) -> Result<Self, tokio_postgres::Error> {
        let mut objects = Vec::new();
        for (class, query) in queries(options) {
            for row in client
                .query(&format!("SELECT * FROM ({query}) q"), &[])
                .await?
            {
                objects.push(CatalogObject {
                    class,
                    name: row.get::<_, Option<String>>(0).unwrap_or_default(),
                    definition: row.get::<_, Option<String>>(1).unwrap_or_default(),
                });
            }
        }
        objects.sort();
        Ok(Self {
            version: CATALOG_VERSION,
            objects,
        })
    }

    /// Where the snapshot of the backup at `backup` is stored: beside it,
    /// as `<backup>.catalog.json`.
    pub fn path_beside(backup: &Path) -> PathBuf {
        let mut name = backup.as_os_str().to_owned();
        name.push(".catalog.json");
        PathBuf::from(name)
    }

    /// Writes the snapshot to `path` as JSON.
    pub fn save(&self, path: &Path) -> Result<(), CatalogError> {
        let json = serde_json::to_string_pretty(self).map_err(|source| CatalogError::Encode {
            path: path.to_owned(),
            source,
        })?;
        fs_err::write(path, json).map_err(|source| CatalogError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a snapshot written by [`Catalog::save`]; `None` when `path`
    /// does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, CatalogError> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CatalogError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let catalog: Self = serde_json::from_str(&text).map_err(|source| CatalogError::Decode {
            path: path.to_owned(),
            source,
        })?;
        if catalog.version != CATALOG_VERSION {
            return Err(CatalogError::Version {
                path: path.to_owned(),
                found: catalog.version,
            });
        }
        Ok(Some(catalog))
    }
}

/// Storing or loading a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The snapshot could not be written.
    #[error("failed to write the catalog snapshot `{}`", path.display())]
    Write {
        /// The snapshot file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot could not be read.
    #[error("failed to read the catalog snapshot `{}`", path.display())]
    Read {
        /// The snapshot file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot could not be encoded.
    #[error("failed to encode the catalog snapshot `{}`", path.display())]
    Encode {
        /// The snapshot file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file is not a snapshot.
    #[error("the catalog snapshot `{}` is not valid JSON of a snapshot", path.display())]
    Decode {
        /// The snapshot file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The snapshot was written by another version of shipgate.
    #[error(
        "the catalog snapshot `{}` has format {found}, this shipgate reads format {CATALOG_VERSION}",
        path.display()
    )]
    Version {
        /// The snapshot file.
        path: PathBuf,
        /// The format it has.
        found: u32,
    },
}

impl CatalogError {
    /// The error and its cause on one line, for a detail.
    pub fn with_cause(&self) -> String {
        match std::error::Error::source(self) {
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(class: ObjectClass, name: &str, definition: &str) -> CatalogObject {
        CatalogObject::new(class, name, definition)
    }

    fn catalog(objects: Vec<CatalogObject>) -> Catalog {
        let mut objects = objects;
        objects.sort();
        Catalog {
            version: CATALOG_VERSION,
            objects,
        }
    }

    #[test]
    fn equal_snapshots_have_no_difference() {
        let one = catalog(vec![
            object(ObjectClass::Table, "public.users", "table"),
            object(ObjectClass::Extension, "citext", "version 1.6 in public"),
        ]);
        assert_eq!(diff(&one, &one.clone()), Vec::new());
    }

    #[test]
    fn names_each_difference_in_words() {
        let before = catalog(vec![
            object(
                ObjectClass::Table,
                "public.users",
                "table row level security off",
            ),
            object(ObjectClass::Type, "public.mood", "enum ('sad', 'ok')"),
            object(
                ObjectClass::Index,
                "public.users_pkey",
                "CREATE UNIQUE INDEX …",
            ),
        ]);
        let after = catalog(vec![
            object(
                ObjectClass::Table,
                "public.users",
                "table row level security on",
            ),
            object(ObjectClass::Type, "public.mood", "enum ('sad', 'ok')"),
            object(ObjectClass::Extension, "pg_trgm", "version 1.6 in public"),
        ]);
        let words: Vec<String> = diff(&before, &after)
            .iter()
            .map(|difference| difference.describe("the backup"))
            .collect();
        assert_eq!(
            words,
            [
                "extension `pg_trgm` exists now but not in the backup",
                "table `public.users` differs from the backup: `table row level security off` there, `table row level security on` now",
                "index `public.users_pkey` is in the backup but missing now",
            ]
        );
    }

    #[test]
    fn an_enum_value_order_is_a_difference() {
        let before = catalog(vec![object(
            ObjectClass::Type,
            "public.mood",
            "enum ('a', 'b')",
        )]);
        let after = catalog(vec![object(
            ObjectClass::Type,
            "public.mood",
            "enum ('b', 'a')",
        )]);
        assert!(matches!(
            diff(&before, &after).as_slice(),
            [Difference::Changed { .. }]
        ));
    }

    #[test]
    fn the_same_name_in_two_classes_is_two_objects() {
        let before = catalog(vec![object(ObjectClass::Table, "public.x", "table")]);
        let after = catalog(vec![object(ObjectClass::View, "public.x", "view SELECT 1")]);
        let differences = diff(&before, &after);
        assert_eq!(differences.len(), 2, "{differences:?}");
    }

    #[test]
    fn a_snapshot_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("app-1.dump");
        let path = Catalog::path_beside(&backup);
        assert_eq!(path, dir.path().join("app-1.dump.catalog.json"));
        assert_eq!(Catalog::load(&path).unwrap(), None);
        let one = catalog(vec![object(
            ObjectClass::Publication,
            "p",
            "publishes insert",
        )]);
        one.save(&path).unwrap();
        assert_eq!(Catalog::load(&path).unwrap(), Some(one));
        fs_err::write(&path, r#"{"version": 99, "objects": []}"#).unwrap();
        assert!(matches!(
            Catalog::load(&path),
            Err(CatalogError::Version { found: 99, .. })
        ));
    }

    #[test]
    fn comments_and_grants_are_read_only_when_asked() {
        let classes = |options| {
            queries(options)
                .into_iter()
                .map(|(class, _)| class)
                .collect::<Vec<_>>()
        };
        let plain = classes(CatalogOptions::default());
        assert!(!plain.contains(&ObjectClass::Comment));
        assert!(!plain.contains(&ObjectClass::Grant));
        let all = classes(CatalogOptions {
            comments: true,
            grants: true,
        });
        for class in [
            ObjectClass::Comment,
            ObjectClass::Grant,
            ObjectClass::DefaultPrivileges,
        ] {
            assert!(all.contains(&class), "{class}");
        }
    }

    #[test]
    fn a_long_definition_is_shortened_in_words() {
        let long = "x".repeat(300);
        let before = catalog(vec![object(ObjectClass::View, "public.v", &long)]);
        let after = catalog(vec![object(ObjectClass::View, "public.v", "y")]);
        let words = diff(&before, &after)[0].describe("the backup");
        assert!(words.len() < 200, "{words}");
        assert!(words.contains('…'));
    }
}
