//! Splitting a PostgreSQL migration into statements, and deciding whether it
//! can run inside a transaction.
//!
//! Statements are split by PostgreSQL's own parser (`pg_query`, i.e. `libpg_query`),
//! so dollar quotes, comments, strings and `BEGIN ATOMIC` bodies end where
//! the server says they do. A file the parser rejects is split by a lexer
//! instead (PostgreSQL's quoting and comments, like psql's), so the server
//! reports the syntax error with its own message and position. Each
//! statement's first words (outside quotes and comments) decide whether it
//! can run inside a transaction.

/// One statement of a file: its text and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    /// Byte offset of its first token in the file.
    pub(crate) offset: usize,
    /// Its text, from the first token to (not including) the `;`.
    pub(crate) text: &'a str,
    /// Upper-case words outside quotes and comments, in order (the first few
    /// decide how it must run).
    pub(crate) words: Vec<String>,
}

/// Splits `sql` into statements with PostgreSQL's parser (the lexer when
/// the parser rejects the file); empty and comment-only ones are dropped.
///
/// A leading UTF-8 byte-order mark is skipped, as psql skips it; offsets
/// stay those of the file.
pub(crate) fn split(sql: &str) -> Vec<Statement<'_>> {
    let body_start = crate::db::byte_order_mark_len(sql);
    let body = &sql[body_start..];
    let base = sql.as_ptr() as usize;
    let parts = match pg_query::split_with_parser(body) {
        Ok(parts) => parts,
        Err(_) => vec![body],
    };
    parts
        .into_iter()
        .flat_map(|part| {
            let start = part.as_ptr() as usize - base;
            split_lexically(part)
                .into_iter()
                .map(move |statement| Statement {
                    offset: start + statement.offset,
                    ..statement
                })
        })
        .collect()
}

/// Splits `sql` with the lexer alone.
fn split_lexically(sql: &str) -> Vec<Statement<'_>> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut index = 0;
    let mut start: Option<usize> = None;
    let mut words: Vec<String> = Vec::new();
    // Depth of `BEGIN ATOMIC` bodies (and `CASE … END` inside them).
    let mut depth = 0_usize;
    let mut push = |start: &mut Option<usize>, end: usize, words: &mut Vec<String>| {
        if let Some(begin) = start.take() {
            statements.push(Statement {
                offset: begin,
                text: sql[begin..end]
                    .trim_end_matches(|c: char| u8::try_from(c).is_ok_and(is_postgres_space)),
                words: std::mem::take(words),
            });
        }
    };
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = sql[index..]
                    .find('\n')
                    .map_or(bytes.len(), |end| index + end + 1);
                continue;
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = skip_block_comment(bytes, index);
                continue;
            }
            b';' if depth == 0 => {
                push(&mut start, index, &mut words);
                index += 1;
                continue;
            }
            _ if is_postgres_space(byte) => {
                index += 1;
                continue;
            }
            _ => {}
        }
        start.get_or_insert(index);
        match byte {
            b'\'' => index = skip_quoted(bytes, index, b'\'', is_escape_string(bytes, index)),
            b'"' => index = skip_quoted(bytes, index, b'"', false),
            b'$' => match dollar_tag(sql, index) {
                Some(tag) => {
                    let body = index + tag.len();
                    index = sql[body..]
                        .find(tag)
                        .map_or(bytes.len(), |end| body + end + tag.len());
                }
                None => index += 1,
            },
            _ if is_identifier_start(byte) => {
                // `byte` itself continues an identifier, so the scan always
                // advances (issue 10, item 1: a no-break space or a BOM
                // outside quotes used to stall it forever).
                let end = bytes[index..]
                    .iter()
                    .position(|&byte| !is_identifier_continuation(byte))
                    .map_or(bytes.len(), |end| index + end);
                let word = sql[index..end].to_ascii_uppercase();
                match word.as_str() {
                    "ATOMIC" if words.last().is_some_and(|last| last == "BEGIN") => depth += 1,
                    "CASE" if depth > 0 => depth += 1,
                    "END" if depth > 0 => depth -= 1,
                    _ => {}
                }
                words.push(word);
                index = end;
            }
            _ => index += sql[index..].chars().next().map_or(1, char::len_utf8),
        }
    }
    push(&mut start, bytes.len(), &mut words);
    statements
}

/// PostgreSQL's `space` (scan.l): ASCII blanks only; a no-break space is
/// part of an identifier.
fn is_postgres_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// PostgreSQL's `ident_start` (scan.l): a letter, `_`, or any byte of a
/// non-ASCII character, whatever that character is.
fn is_identifier_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

/// PostgreSQL's `ident_cont`: `ident_start`, a digit or `$`.
fn is_identifier_continuation(byte: u8) -> bool {
    is_identifier_start(byte) || byte.is_ascii_digit() || byte == b'$'
}

/// `E'…'` (or `e'…'`): the quote at `index` opens a string with backslash
/// escapes when an `E` that is a word of its own precedes it.
fn is_escape_string(bytes: &[u8], index: usize) -> bool {
    index >= 1
        && matches!(bytes[index - 1], b'E' | b'e')
        && (index < 2 || !(bytes[index - 2].is_ascii_alphanumeric() || bytes[index - 2] == b'_'))
}

/// The end (exclusive) of the quoted text opening at `index`; a doubled
/// quote is an escaped quote.
fn skip_quoted(bytes: &[u8], index: usize, quote: u8, backslash: bool) -> usize {
    let mut at = index + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if backslash => at += 2,
            byte if byte == quote => {
                if bytes.get(at + 1) == Some(&quote) {
                    at += 2;
                } else {
                    return at + 1;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The end (exclusive) of the block comment opening at `index` (they nest).
fn skip_block_comment(bytes: &[u8], index: usize) -> usize {
    let mut depth = 0_usize;
    let mut at = index;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') => {
                depth += 1;
                at += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return at;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The dollar-quote tag (`$$` or `$name$`) opening at `index`, if one does.
fn dollar_tag(sql: &str, index: usize) -> Option<&str> {
    let bytes = sql.as_bytes();
    // `a$b` is an identifier, not a quote.
    if index > 0 && is_identifier_continuation(bytes[index - 1]) {
        return None;
    }
    let rest = &sql[index + 1..];
    let end = rest.find('$')?;
    let tag = &rest.as_bytes()[..end];
    // scan.l's `dolq_start` and `dolq_cont`.
    let valid = tag.is_empty()
        || (is_identifier_start(tag[0])
            && tag
                .iter()
                .all(|&byte| is_identifier_start(byte) || byte.is_ascii_digit()));
    valid.then(|| &sql[index..index + end + 2])
}

/// Why a file must run outside a transaction, if it must.
pub(crate) fn no_transaction_reason(sql: &str, statements: &[Statement<'_>]) -> Option<String> {
    for line in sql.lines() {
        let line = line.trim();
        let Some(comment) = line.strip_prefix("--") else {
            continue;
        };
        let comment = comment.trim();
        if comment.eq_ignore_ascii_case("shipgate:no-transaction")
            || comment.eq_ignore_ascii_case("no-transaction")
        {
            return Some(format!("marked `{line}`"));
        }
    }
    statements.iter().find_map(|statement| {
        needs_no_transaction(&statement.words).map(|what| {
            format!(
                "`{what}` cannot run inside a transaction (line {})",
                line_of(sql, statement.offset)
            )
        })
    })
}

/// The construct in `words` that PostgreSQL refuses inside a transaction
/// block, or that manages its own transaction.
fn needs_no_transaction(words: &[String]) -> Option<&'static str> {
    let first = |n: usize| words.iter().take(n).map(String::as_str).collect::<Vec<_>>();
    let has = |word: &str, within: usize| words.iter().take(within).any(|w| w == word);
    match first(2).as_slice() {
        ["CREATE", _] | ["DROP", "INDEX"] if has("INDEX", 3) && has("CONCURRENTLY", 4) => {
            Some(if words[0] == "DROP" {
                "DROP INDEX CONCURRENTLY"
            } else {
                "CREATE INDEX CONCURRENTLY"
            })
        }
        ["REINDEX", ..] if has("CONCURRENTLY", 8) => Some("REINDEX CONCURRENTLY"),
        ["ALTER", "TABLE"] if has("DETACH", 12) && has("CONCURRENTLY", 16) => {
            Some("DETACH PARTITION CONCURRENTLY")
        }
        ["VACUUM", ..] => Some("VACUUM"),
        ["ALTER", "SYSTEM"] => Some("ALTER SYSTEM"),
        ["CREATE" | "DROP", "DATABASE"] => Some("CREATE/DROP DATABASE"),
        ["CREATE" | "DROP", "TABLESPACE"] => Some("CREATE/DROP TABLESPACE"),
        ["BEGIN" | "COMMIT" | "ROLLBACK" | "START" | "END", ..] => {
            Some("a transaction statement (the file manages its own transaction)")
        }
        _ => None,
    }
}

/// Whether `words` is `ALTER TYPE … ADD VALUE` (refused in a transaction
/// before PostgreSQL 12).
pub(crate) fn is_add_enum_value(words: &[String]) -> bool {
    words.len() > 4
        && words[0] == "ALTER"
        && words[1] == "TYPE"
        && words
            .windows(2)
            .any(|pair| pair[0] == "ADD" && pair[1] == "VALUE")
}

/// The 1-based line of byte `offset` in `sql`.
pub(crate) fn line_of(sql: &str, offset: usize) -> usize {
    sql.get(..offset)
        .unwrap_or(sql)
        .bytes()
        .filter(|&byte| byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        split(sql)
            .into_iter()
            .map(|statement| statement.text)
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "-- a; comment\nCREATE TABLE \"a;b\" (x text DEFAULT 'x;''y');\n/* c; /* nested; */ still; */\nINSERT INTO t VALUES (E'\\';');\nSELECT 1";
        assert_eq!(
            texts(sql),
            [
                "CREATE TABLE \"a;b\" (x text DEFAULT 'x;''y')",
                "INSERT INTO t VALUES (E'\\';')",
                "SELECT 1"
            ]
        );
        assert_eq!(split(sql)[0].offset, 14);
        assert_eq!(line_of(sql, split(sql)[1].offset), 4);
    }

    #[test]
    fn dollar_quotes_and_begin_atomic_bodies_keep_their_semicolons() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;\nDO $$ BEGIN PERFORM 1; END $$;\nCREATE FUNCTION g(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; SELECT a; END;\nSELECT a$b, $1 FROM t;";
        let statements = texts(sql);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[0].ends_with("LANGUAGE plpgsql"));
        assert_eq!(statements[1], "DO $$ BEGIN PERFORM 1; END $$");
        assert!(statements[2].ends_with("SELECT a; END"));
        assert_eq!(statements[3], "SELECT a$b, $1 FROM t");
    }

    #[test]
    fn the_parser_and_the_lexer_agree_and_the_lexer_takes_over_on_syntax_errors() {
        let sql =
            "CREATE TABLE a (x text DEFAULT $q$;$q$);\n-- c;\nINSERT INTO a VALUES ('a;b');\n";
        assert!(pg_query::split_with_parser(sql).is_ok());
        assert_eq!(split(sql), split_lexically(sql));
        let broken = "CREATE TABLE a (id int);\nCREAT TABLE b (id int);\n";
        assert_eq!(
            texts(broken),
            ["CREATE TABLE a (id int)", "CREAT TABLE b (id int)"]
        );
    }

    /// Issue 10, item 1: a byte of a non-ASCII character that is not a
    /// letter (a BOM, a no-break space, typographic quotes, an em dash, `€`)
    /// outside quotes stalled the word scan, which then grew without bound.
    #[test]
    fn non_ascii_outside_quotes_is_part_of_a_word_as_in_postgresql() {
        let bom = "\u{feff}CREATE TABLE a (id int);\nSELECT 1;";
        let statements = split(bom);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[0].offset, 3, "offsets stay the file's");
        assert_eq!(statements[0].words[0], "CREATE", "the mark is skipped");
        for odd in ["\u{a0}", "\u{201c}", "\u{2014}", "€", "\u{feff}"] {
            let sql = format!("SELECT 1{odd};\nSELECT{odd} 2 {odd}x;");
            let statements = split(&sql);
            assert_eq!(statements.len(), 2, "{odd:?}: {statements:#?}");
            assert_eq!(
                statements[1].words,
                [format!("SELECT{odd}"), format!("{odd}X")]
            );
        }
    }

    #[test]
    fn comment_only_and_empty_statements_are_dropped() {
        assert!(texts("-- nothing\n;;  /* here */ ;\n").is_empty());
    }

    #[test]
    fn detects_what_cannot_run_in_a_transaction() {
        let reason = |sql: &str| no_transaction_reason(sql, &split(sql));
        assert_eq!(
            reason("CREATE TABLE t (id int);\ncreate unique index concurrently i on t (id);"),
            Some("`CREATE INDEX CONCURRENTLY` cannot run inside a transaction (line 2)".to_owned())
        );
        assert!(reason("DROP INDEX CONCURRENTLY IF EXISTS i;").is_some());
        assert!(reason("REINDEX (VERBOSE) TABLE CONCURRENTLY t;").is_some());
        assert!(reason("VACUUM ANALYZE t;").is_some());
        assert!(reason("ALTER SYSTEM SET work_mem = '8MB';").is_some());
        assert_eq!(
            reason("-- shipgate:no-transaction\nUPDATE t SET a = 1;"),
            Some("marked `-- shipgate:no-transaction`".to_owned())
        );
        assert!(reason("-- no-transaction\nSELECT 1;").is_some());
        // dbmate's own marker is read by its layout (`outside_transaction`).
        assert!(reason("-- migrate:up transaction:false\nSELECT 1;").is_none());
        assert_eq!(
            reason("CREATE INDEX i ON t (id); -- CONCURRENTLY later"),
            None
        );
        assert_eq!(
            reason("SELECT 'CREATE INDEX CONCURRENTLY i ON t (id)';"),
            None
        );
        assert!(is_add_enum_value(
            &split("ALTER TYPE mood ADD VALUE 'ok';")[0].words
        ));
    }

    mod properties {
        //! Issue 10: the splitter on arbitrary input terminates with bounded
        //! output, and agrees with PostgreSQL's parser on valid SQL. Cases
        //! are few so `cargo test` stays fast; `PROPTEST_CASES=100000 cargo
        //! test --lib split::tests::properties` runs them longer.
        use proptest::prelude::*;

        use super::super::*;

        fn bounded(sql: &str) -> Result<(), TestCaseError> {
            let statements = split(sql);
            prop_assert!(statements.len() <= sql.len());
            let mut previous_end = 0;
            for statement in &statements {
                prop_assert!(statement.offset >= previous_end, "statements overlap");
                prop_assert!(statement.offset + statement.text.len() <= sql.len());
                prop_assert!(!statement.text.is_empty());
                prop_assert!(statement.words.iter().map(String::len).sum::<usize>() <= sql.len());
                previous_end = statement.offset + statement.text.len();
            }
            Ok(())
        }

        /// One valid statement of the shapes that fool splitters.
        fn statement() -> impl Strategy<Value = String> {
            let identifier = prop_oneof![
                // Prefixed so that no name is a reserved word.
                "t_[a-z0-9_$]{0,6}",
                "[é€][a-z0-9é€_]{0,4}",
                "\"[a-z ;'$-]{1,6}\"",
            ];
            let literal = prop_oneof![
                "'([a-z ;\"$-]|'')*'",
                "E'([a-z ;$]|\\\\'|'')*'",
                "\\$(q|body)?\\$[a-z ;'$-]{0,8}\\$(q|body)?\\$".prop_filter(
                    "balanced tags",
                    |text: &String| {
                        let tag_end = text[1..].find('$').map_or(0, |at| at + 2);
                        text.ends_with(&text[..tag_end])
                            && text.len() >= 2 * tag_end
                            && !text[tag_end..text.len() - tag_end].contains(&text[..tag_end])
                    }
                ),
                "[0-9]{1,4}",
            ];
            prop_oneof![
                literal.clone().prop_map(|value| format!("SELECT {value}")),
                (identifier.clone(), literal).prop_map(|(name, value)| format!(
                    "CREATE TABLE {name} (x text DEFAULT {value})"
                )),
                identifier.prop_map(|name| format!("DROP TABLE IF EXISTS {name}")),
                "[a-z ;'-]{0,10}"
                    .prop_map(|body| format!("DO $$ BEGIN RAISE NOTICE '%', $q${body}$q$; END $$")),
            ]
        }

        fn gap() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(" ".to_owned()),
                Just("\n".to_owned()),
                "-- [a-z ;']{0,8}\n",
                "/\\* [a-z ;'] /\\* ; \\*/ \\*/",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                max_global_rejects: 1 << 20,
                max_local_rejects: 1 << 20,
                ..ProptestConfig::with_cases(256)
            })]

            #[test]
            fn any_text_splits_in_bounded_output(sql in any::<String>()) {
                bounded(&sql)?;
            }

            #[test]
            fn sql_like_text_splits_in_bounded_output(
                sql in "([a-zA-Z0-9 ;'\"$/*\n-]|\u{feff}|\u{a0}|€|\u{201c}|\u{2014}|E'|\\$\\$){0,60}"
            ) {
                bounded(&sql)?;
            }

            #[test]
            fn the_lexer_agrees_with_postgresql_on_valid_sql(
                parts in prop::collection::vec((gap(), statement()), 1..6),
                bom in any::<bool>(),
            ) {
                let mut sql = if bom { "\u{feff}".to_owned() } else { String::new() };
                for (gap, statement) in &parts {
                    sql.push_str(gap);
                    sql.push_str(statement);
                    sql.push(';');
                }
                let body = &sql[crate::db::byte_order_mark_len(&sql)..];
                let parsed = pg_query::split_with_parser(body);
                prop_assume!(parsed.is_ok());
                let expected: Vec<&str> = parsed.unwrap().into_iter().map(str::trim).filter(|text| !text.is_empty()).collect();
                let lexed: Vec<&str> = split_lexically(body).into_iter().map(|statement| statement.text).collect();
                prop_assert_eq!(lexed.len(), parts.len());
                prop_assert_eq!(split(&sql).len(), parts.len());
                for (lexed, parsed) in lexed.iter().zip(&expected) {
                    prop_assert!(parsed.ends_with(lexed), "parser {parsed:?} vs lexer {lexed:?}");
                }
            }
        }
    }
}
