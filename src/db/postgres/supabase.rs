//! The Supabase CLI's history table,
//! `supabase_migrations.schema_migrations (version text PRIMARY KEY,
//! statements text[], name text)`, read and written as `supabase db push`
//! does: the row (with the file's statements) in the migration's own
//! transaction. It keeps no checksum.

use tokio_postgres::Client;

use crate::db::{AppliedMigration, Migration};

/// The table.
pub(crate) const TABLE: &str = "supabase_migrations.schema_migrations";

/// The schema and table, created when missing.
pub(crate) const CREATE: &str = "CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
    version text PRIMARY KEY NOT NULL,
    statements text[],
    name text
)";

/// The applied versions, oldest first (no checksum, no date).
pub(crate) async fn applied(
    client: &Client,
) -> Result<Vec<AppliedMigration>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT version, coalesce(name, ''), '', '', 0::bigint, NULL::text, NULL::text \
             FROM supabase_migrations.schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    Ok(rows.iter().map(super::history_row).collect())
}

/// Records `migration` with its statements as the Supabase CLI stores them
/// ([`statements`]); `false` when already recorded.
pub(crate) async fn record(
    client: &Client,
    migration: &Migration,
) -> Result<bool, tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, statements, name) \
             VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING",
            &[
                &migration.version,
                &statements(&migration.sql),
                &migration.name,
            ],
        )
        .await
        .map(|inserted| inserted > 0)
}

/// `sql` split as the Supabase CLI fills `statements` (`pkg/parser`'s
/// `SplitAndTrim`, issue 11, item 4): a statement ends at a `;` outside
/// quotes, comments, dollar quotes and parentheses, keeps the comments
/// before it, and loses its trailing `;` and surrounding white space; a
/// comment after the last statement is a statement of its own.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut start = 0;
    let mut state = State::Ready;
    for (index, character) in sql.char_indices() {
        let end = index + character.len_utf8();
        if let Some(next) = state.next(character, &sql[start..end]) {
            state = next;
        } else {
            tokens.push(&sql[start..end]);
            start = end;
            state = State::Ready;
        }
    }
    if start < sql.len() {
        tokens.push(&sql[start..]);
    }
    tokens
        .into_iter()
        .map(|token| token.trim_end_matches(';').trim())
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The Supabase CLI's tokenizer states; `next` returns `None` to end the
/// token at the current character.
#[derive(Debug, Clone)]
enum State {
    Ready,
    /// After one `-`.
    Comment,
    /// After `/`: a block comment once `*` follows, nested by depth.
    Block {
        depth: usize,
    },
    /// Inside `'…'` or `"…"`; `closed` after a delimiter that may be doubled.
    Quote {
        delimiter: char,
        closed: bool,
    },
    /// Inside a dollar quote or a line comment, until `delimiter`.
    Dollar {
        delimiter: String,
    },
    /// After `$`, reading a tag that starts at byte `offset`.
    Tag {
        offset: usize,
    },
    /// After `\`: the next character is skipped.
    Escape,
    /// Inside `(…)` or `BEGIN ATOMIC … END`, until `delimiter`.
    Atomic {
        inner: Box<State>,
        delimiter: &'static str,
    },
}

impl State {
    /// The state after `character`; `token` is the token so far, ending
    /// with `character`.
    fn next(&self, character: char, token: &str) -> Option<Self> {
        let bytes = token.as_bytes();
        match self {
            Self::Ready => match character {
                '$' => Some(Self::Tag {
                    offset: token.len() - 1,
                }),
                '\'' | '"' => Some(Self::Quote {
                    delimiter: character,
                    closed: false,
                }),
                '-' => Some(Self::Comment),
                '/' => Some(Self::Block { depth: 0 }),
                '\\' => Some(Self::Escape),
                ';' => None,
                '(' => Some(Self::Atomic {
                    inner: Box::new(Self::Ready),
                    delimiter: ")",
                }),
                'c' | 'C' => {
                    const ATOMIC: &[u8] = b"ATOMIC";
                    let begins_atomic = bytes.len() > ATOMIC.len()
                        && bytes[bytes.len() - ATOMIC.len()..].eq_ignore_ascii_case(ATOMIC)
                        && is_space(bytes[bytes.len() - ATOMIC.len() - 1]);
                    Some(if begins_atomic {
                        Self::Atomic {
                            inner: Box::new(Self::Ready),
                            delimiter: "END",
                        }
                    } else {
                        Self::Ready
                    })
                }
                _ => Some(Self::Ready),
            },
            Self::Comment if character == '-' => Some(Self::Dollar {
                delimiter: "\n".to_owned(),
            }),
            Self::Comment => Self::Ready.next(character, token),
            Self::Block { depth } => {
                let window = &bytes[bytes.len().saturating_sub(2)..];
                if window == b"/*" {
                    Some(Self::Block { depth: depth + 1 })
                } else if *depth == 0 {
                    Self::Ready.next(character, token)
                } else if window == b"*/" {
                    Some(if *depth == 1 {
                        Self::Ready
                    } else {
                        Self::Block { depth: depth - 1 }
                    })
                } else {
                    Some(self.clone())
                }
            }
            Self::Quote { delimiter, closed } => {
                if *closed && character != *delimiter {
                    Self::Ready.next(character, token)
                } else {
                    Some(Self::Quote {
                        delimiter: *delimiter,
                        closed: !*closed && character == *delimiter,
                    })
                }
            }
            Self::Dollar { delimiter } => Some(if token.ends_with(delimiter.as_str()) {
                Self::Ready
            } else {
                self.clone()
            }),
            Self::Tag { offset } => {
                if character == '$' {
                    Some(Self::Dollar {
                        delimiter: token[*offset..].to_owned(),
                    })
                } else if character.is_alphanumeric() || character == '_' {
                    Some(self.clone())
                } else {
                    Self::Ready.next(character, token)
                }
            }
            Self::Escape => Some(Self::Ready),
            Self::Atomic { inner, delimiter } => {
                // A `;` ends no token here: the inner state stays as it was.
                let inner = inner
                    .next(character, token)
                    .map_or_else(|| inner.clone(), Box::new);
                let ends = matches!(*inner, Self::Ready)
                    && bytes.len() >= delimiter.len()
                    && bytes[bytes.len() - delimiter.len()..]
                        .eq_ignore_ascii_case(delimiter.as_bytes());
                Some(if ends {
                    Self::Ready
                } else {
                    Self::Atomic { inner, delimiter }
                })
            }
        }
    }
}

/// Go's `unicode.IsSpace` for one byte.
fn is_space(byte: u8) -> bool {
    matches!(
        byte,
        b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x85 | 0xa0
    )
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn splits_as_the_supabase_cli_keeping_comments() {
        // issue 11, item 4
        assert_eq!(
            statements("-- users\nCREATE TABLE users (id int);\n\nSELECT 1 ;; \n-- end\n"),
            [
                "-- users\nCREATE TABLE users (id int)",
                "SELECT 1",
                "-- end"
            ]
        );
        assert_eq!(
            statements("SELECT 'a;''b'; SELECT \"x;y\"; SELECT $f$ ; $f$; SELECT 2"),
            [
                "SELECT 'a;''b'",
                "SELECT \"x;y\"",
                "SELECT $f$ ; $f$",
                "SELECT 2"
            ]
        );
        assert_eq!(
            statements("/* a; /* b; */ c; */ SELECT 1; SELECT (1;2); SELECT 3"),
            ["/* a; /* b; */ c; */ SELECT 1", "SELECT (1;2)", "SELECT 3"]
        );
        assert_eq!(
            statements(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC\n  SELECT 1;\nEND;\nSELECT 2;"
            ),
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC\n  SELECT 1;\nEND",
                "SELECT 2"
            ]
        );
        assert_eq!(
            statements("SELECT \\; 1; -- x; y\nSELECT 2"),
            ["SELECT \\; 1", "-- x; y\nSELECT 2"]
        );
        assert!(statements(" ;\n ").is_empty());
    }
}
