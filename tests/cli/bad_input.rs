//! Bad input, as a new user's bad day brings it (issue 10): each row is one
//! mistake, the exit code shipgate documents for it, and the words its
//! one-screen message (on stderr, or in the report on stdout) must contain. Nothing panics, nothing hangs, and no
//! message runs past a screen.

use crate::support::postgres::TestDatabase;
use crate::support::{Test, http};

/// At most this many lines of stderr: one screen of a terminal.
const SCREEN_LINES: usize = 30;

/// One mistake: the files it writes, the command, the expected exit code
/// and the fragments stderr must hold.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    stderr: Vec<String>,
}

impl Case {
    fn new(name: &'static str, config: impl Into<Vec<u8>>) -> Self {
        Self {
            name,
            files: vec![("shipgate.toml", config.into())],
            args: vec!["check".to_owned()],
            env: Vec::new(),
            code: 2,
            stderr: Vec::new(),
        }
    }

    fn file(mut self, path: &'static str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path, contents.into()));
        self
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|&arg| arg.to_owned()).collect();
        self
    }

    fn env(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    fn exits(mut self, code: i32, stderr: &[&str]) -> Self {
        self.code = code;
        self.stderr = stderr.iter().map(|&text| text.to_owned()).collect();
        self
    }

    #[track_caller]
    fn check(&self) {
        let mut test = Test::new().args(self.args.iter().cloned());
        for (key, value) in &self.env {
            test = test.env(key, value);
        }
        for (path, contents) in &self.files {
            let path = test.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, contents).unwrap();
        }
        let output = test.output();
        let context = format!(
            "case `{}`: exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.name, output.code, output.stdout, output.stderr
        );
        assert_eq!(output.code, self.code, "{context}");
        for fragment in &self.stderr {
            assert!(
                output.stderr.contains(fragment.as_str())
                    || output.stdout.contains(fragment.as_str()),
                "lacks {fragment:?}; {context}"
            );
        }
        assert!(!output.stderr.contains("panicked"), "{context}");
        for (_, value) in &self.env {
            for piece in value.split(['@', '/', '#']) {
                assert!(
                    piece.len() < 3 || !output.stderr.contains(piece),
                    "a piece of a secret leaked; {context}"
                );
            }
        }
        assert!(
            output.stderr.lines().count() <= SCREEN_LINES,
            "more than a screen; {context}"
        );
    }
}

const ENVIRONMENT: &str = "[environments.production]\nurl = \"http://127.0.0.1:9\"\n";

#[test]
fn bad_config_files_are_usage_errors_with_a_fix() {
    let cases = [
        Case::new("empty file", "").exits(2, &["defines no environment", "hint: add one"]),
        Case::new("binary garbage", [0x00, 0xff, 0xfe, 0x13, 0x9c, 0x80, b'\n', 0xc3]).exits(
            2,
            &[
                "config file `shipgate.toml` is not UTF-8 text: line 1",
                "hint: save `shipgate.toml` as UTF-8",
            ],
        ),
        Case::new(
            "invalid UTF-8 on line 3",
            b"[environments.production]\n# caf\xe9 au lait\nurl = \"http://x\"\n".to_vec(),
        )
        .exits(2, &["is not UTF-8 text: line 2"]),
        Case::new("a directory as the config", "")
            .file("configs/keep", "")
            .args(&["check", "--config", "configs"])
            .exits(2, &["failed to read config file `configs`", "is a directory"]),
        Case::new("unknown key", format!("{ENVIRONMENT}[smoke]\nready_wthin = \"1m\"\n"))
            .exits(2, &["unknown field `ready_wthin`", "shipgate.toml:4:1", "did you mean `ready_within`?"]),
        Case::new("wrong type", format!("{ENVIRONMENT}[migrate]\nretries = \"five\"\n"))
            .exits(2, &["invalid type: string \"five\"", "shipgate.toml:4:11"]),
        // Issue 10, item 7: these passed `check`, then panicked at run time.
        Case::new("a duration past 7 days", format!("{ENVIRONMENT}[smoke]\nready_within = \"300000000000y\"\n"))
            .exits(2, &["invalid duration `300000000000y`: must be at most 7 days (`168h`), for key `smoke.ready_within`", "shipgate.toml:4:16"]),
        Case::new("a timeout of u64::MAX seconds", format!("{ENVIRONMENT}[migrate]\nlock_timeout = \"18446744073709551615s\"\n"))
            .exits(2, &["must be at most 7 days", "migrate.lock_timeout", "shipgate.toml:4:16"]),
        Case::new("a timeout PostgreSQL would read as none", format!("{ENVIRONMENT}[migrate]\nstatement_timeout = \"500us\"\n"))
            .exits(2, &["invalid duration `500us`: must be at least `1ms`", "shipgate.toml:4:21"]),
        // Issue 10: a password with `@` split the URL, and the error quoted
        // pieces of the secret.
        Case::new(
            "an unencoded password in a PostgreSQL URL",
            "[environments.production]\ndatabase = \"postgres://app:${DB_PASSWORD}@db.internal:5432/app\"\n",
        )
        .env("DB_PASSWORD", "pa@ss/wo#rd")
        .exits(2, &[
            "the value of `${DB_PASSWORD}` in the user info of a PostgreSQL URL is not percent-encoded, for key `environments.production.database`",
            "shipgate.toml:2:28",
            "hint: percent-encode `DB_PASSWORD`",
        ]),
        Case::new("a watch duration past 7 days on the command line", ENVIRONMENT)
            .args(&["watch", "--for", "8d"])
            .exits(2, &["invalid value '8d' for '--for <DURATION>'", "must be at most 7 days"]),
    ];
    for case in &cases {
        case.check();
    }
}

#[test]
fn bad_migrations_and_unreachable_databases_name_the_file_or_the_host() {
    let closed = http::closed_port();
    let sqlite = "[environments.local]\ndatabase = \"sqlite://app.db\"\n";
    let cases = [
        Case::new(
            "a migrations directory that does not exist",
            format!("{sqlite}[migrate]\ndir = \"db/migrate\"\n"),
        )
        .args(&["migrate", "status"])
        .exits(
            2,
            &[
                "the migrations directory `db/migrate` does not exist",
                "hint: create `db/migrate`",
            ],
        ),
        Case::new("a migration that is not UTF-8", sqlite)
            .file(
                "migrations/0001_a.sql",
                b"CREATE TABLE caf\xe9 (id int);".to_vec(),
            )
            .args(&["migrate", "apply"])
            .exits(
                2,
                &[
                    "migration `migrations/0001_a.sql` is not UTF-8 text",
                    "hint: save",
                ],
            ),
        Case::new(
            "nothing listening on the database port",
            format!(
                "[environments.local]\ndatabase = \"postgres://postgres@127.0.0.1:{closed}/app\"\n"
            ),
        )
        .file("migrations/0001_a.sql", "SELECT 1;")
        .args(&["migrate", "status"])
        .exits(
            3,
            &[
                &format!("failed to connect to PostgreSQL at host `127.0.0.1` port {closed}"),
                "Connection refused",
            ],
        ),
    ];
    for case in &cases {
        case.check();
    }
}

/// Issue 10, item 1: a byte-order mark, or a no-break space, typographic
/// quotes, an em dash or `€` outside strings made `migrate apply` allocate
/// until killed. A mark is skipped as psql skips it; anything else is
/// PostgreSQL's own syntax error (or SQLite's), exit 1.
#[test]
fn non_ascii_outside_strings_is_the_engines_syntax_error_and_a_bom_is_skipped() {
    let database = TestDatabase::new();
    let postgres = "[environments.local]\ndatabase = \"${DATABASE_URL}\"\n";
    let sqlite = "[environments.local]\ndatabase = \"sqlite://app.db\"\n";
    let bom = "\u{feff}CREATE TABLE widgets (id int);\nINSERT INTO widgets VALUES (1);\n";
    for config in [postgres, sqlite] {
        Case::new("a file that starts with a byte-order mark", config)
            .env("DATABASE_URL", database.url())
            .file("migrations/0001_widgets.sql", bom)
            .args(&["migrate", "apply"])
            .exits(0, &[])
            .check();
    }
    assert_eq!(database.column("SELECT id::text FROM widgets"), ["1"]);

    let database = TestDatabase::new();

    for odd in ["\u{a0}", "\u{201c}", "\u{2014}", "€", "\u{feff}"] {
        let sql = format!("CREATE TABLE gadgets (id int);\nSELECT 1 {odd}AS x;\n");
        Case::new("non-ASCII outside a string", postgres)
            .env("DATABASE_URL", database.url())
            .file("migrations/0001_gadgets.sql", sql)
            .args(&["migrate", "apply"])
            .exits(
                1,
                &[
                    "syntax error at or near",
                    "--> migrations/0001_gadgets.sql:2",
                ],
            )
            .check();
        // SQLite, like PostgreSQL, reads such a character as part of an
        // identifier (or skips it): the statement fails either way.
        let sql = format!("CREATE TABLE gadgets (id int);\nSELECT {odd};\n");
        Case::new("non-ASCII outside a string", sqlite)
            .file("migrations/0001_gadgets.sql", sql)
            .args(&["migrate", "apply"])
            .exits(1, &["✗ 0001_gadgets", "--> migrations/0001_gadgets.sql:2"])
            .check();
    }
    assert_eq!(
        database.column("SELECT count(*)::text FROM pg_tables WHERE tablename = 'gadgets'"),
        ["0"],
        "the failed file left nothing behind"
    );
}
