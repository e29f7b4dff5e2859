//! Turning a migration file into statements with the real PostgreSQL parser
//! (`pg_query`, `libpg_query`): statement boundaries and positions come from
//! the parser, so dollar-quoted bodies, `DO` blocks, comments and strings
//! never confuse the split. Rules and classification are left to others.

use pg_query::NodeEnum;

/// One top-level statement and where it sits in its file.
#[derive(Debug)]
pub(crate) struct Statement {
    /// The parsed statement.
    pub(crate) node: NodeEnum,
    /// Byte offset of its first keyword (leading comments skipped).
    pub(crate) start: usize,
    /// Byte offset just past its text (before the `;`).
    pub(crate) end: usize,
    /// For `ALTER TABLE`, each clause's byte range, one per command in
    /// order, so a finding points at its own clause's line (issue 11,
    /// item 3); empty when the clauses could not be told apart.
    pub(crate) clauses: Vec<(usize, usize)>,
}

impl Statement {
    /// The byte range of clause `index`, or the whole statement's.
    pub(crate) fn clause(&self, index: usize) -> (usize, usize) {
        self.clauses
            .get(index)
            .copied()
            .unwrap_or((self.start, self.end))
    }
}

/// Why a file could not be parsed: PostgreSQL's message and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseFailure {
    /// The parser's message, e.g. `syntax error at or near "TABEL"`.
    pub(crate) message: String,
    /// Byte offset of the failing statement (or of the token named in the message).
    pub(crate) offset: usize,
}

/// Parses `sql` into statements, or says where PostgreSQL stopped.
pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>, ParseFailure> {
    let mark = crate::db::byte_order_mark_len(sql);
    if mark > 0 {
        // psql skips a byte-order mark; blanks in its place keep every
        // offset that of the file.
        return parse(&format!("{}{}", " ".repeat(mark), &sql[mark..]));
    }
    match pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) {
        Ok(result) => Ok(result
            .protobuf
            .stmts
            .into_iter()
            .filter_map(|raw| {
                let node = raw.stmt?.node?;
                let location = usize::try_from(raw.stmt_location)
                    .unwrap_or(0)
                    .min(sql.len());
                let end = if raw.stmt_len == 0 {
                    sql.len()
                } else {
                    (location + usize::try_from(raw.stmt_len).unwrap_or(0)).min(sql.len())
                };
                let start = skip_trivia(sql, location).min(end);
                let clauses = match &node {
                    NodeEnum::AlterTableStmt(alter) => alter_table_clauses(sql, alter, start, end),
                    _ => Vec::new(),
                };
                Some(Statement {
                    node,
                    start,
                    end,
                    clauses,
                })
            })
            .collect()),
        Err(error) => Err(locate_failure(sql, &error)),
    }
}

/// The byte range of each clause of an `ALTER TABLE` spanning
/// `start..end`: the first clause starts after the table name, the others
/// after each comma outside parentheses. A first clause on the statement's
/// own line keeps the statement's start, so a one-line `ALTER TABLE` is
/// shown whole. Empty when the count does not match the commands
/// PostgreSQL parsed (then findings point at the statement).
fn alter_table_clauses(
    sql: &str,
    alter: &pg_query::protobuf::AlterTableStmt,
    start: usize,
    end: usize,
) -> Vec<(usize, usize)> {
    use pg_query::protobuf::Token;
    let Some(relation) = &alter.relation else {
        return Vec::new();
    };
    let Ok(name_start) = usize::try_from(relation.location) else {
        return Vec::new();
    };
    let Some(text) = sql.get(name_start..end) else {
        return Vec::new();
    };
    let Ok(tokens) = pg_query::scan_tokens(text) else {
        return Vec::new();
    };
    let comment = |token: i32| token == Token::SqlComment as i32 || token == Token::CComment as i32;
    let is = |token: i32, kind: Token| token == kind as i32;
    let tokens: Vec<_> = tokens.into_iter().filter(|t| !comment(t.token)).collect();
    // The (possibly qualified) name, then an optional `*`.
    let mut index = 1;
    while index + 1 < tokens.len() && is(tokens[index].token, Token::Ascii46) {
        index += 2;
    }
    if index < tokens.len() && is(tokens[index].token, Token::Ascii42) {
        index += 1;
    }
    let offset = |position: i32| name_start + usize::try_from(position).unwrap_or(0);
    let mut clauses = Vec::new();
    let mut clause_start = None;
    let mut clause_end = 0;
    let mut depth = 0_usize;
    for token in &tokens[index.min(tokens.len())..] {
        if depth == 0 && is(token.token, Token::Ascii44) {
            if let Some(start) = clause_start.take() {
                clauses.push((start, clause_end));
            }
            continue;
        }
        if is(token.token, Token::Ascii40) || is(token.token, Token::Ascii91) {
            depth += 1;
        } else if is(token.token, Token::Ascii41) || is(token.token, Token::Ascii93) {
            depth = depth.saturating_sub(1);
        }
        clause_start.get_or_insert(offset(token.start));
        clause_end = offset(token.end);
    }
    if let Some(start) = clause_start {
        clauses.push((start, clause_end));
    }
    if clauses.len() != alter.cmds.len() {
        return Vec::new();
    }
    if let Some(first) = clauses.first_mut() {
        if !sql[start..first.0.max(start)].contains('\n') {
            first.0 = start;
        }
    }
    clauses
}

/// Finds the failing statement: the scanner-based split survives syntax
/// errors, so each piece is parsed alone and the first failing one is it.
fn locate_failure(sql: &str, error: &pg_query::Error) -> ParseFailure {
    let message = match error {
        pg_query::Error::Parse(message) => message.clone(),
        other => other.to_string(),
    };
    let base = sql.as_ptr() as usize;
    let pieces = pg_query::split_with_scanner(sql).unwrap_or_default();
    for piece in pieces {
        if pg_query::parse(piece, pg_query::ParserOptions::DEFAULT).is_ok() {
            continue;
        }
        let piece_start = (piece.as_ptr() as usize).saturating_sub(base);
        let start = skip_trivia(sql, piece_start);
        // Point at the token PostgreSQL names, when it names one.
        let token = message
            .split_once("at or near \"")
            .and_then(|(_, rest)| rest.rsplit_once('"'))
            .map(|(token, _)| token);
        let offset = token
            .and_then(|token| failing_occurrence(piece, token, &message))
            .map_or(start, |found| piece_start + found);
        return ParseFailure { message, offset };
    }
    ParseFailure { message, offset: 0 }
}

/// Where in `piece` the parser stopped at `token`: the first occurrence
/// such that the text up to and including it fails with the same message
/// (an earlier, valid occurrence fails "at end of input" or parses).
fn failing_occurrence(piece: &str, token: &str, message: &str) -> Option<usize> {
    let first = piece.find(token)?;
    let found = piece.match_indices(token).map(|(at, _)| at).find(|&at| {
        matches!(
            pg_query::parse(&piece[..at + token.len()], pg_query::ParserOptions::DEFAULT),
            Err(pg_query::Error::Parse(prefix_message)) if prefix_message == message
        )
    });
    Some(found.unwrap_or(first))
}

/// The first byte at or after `offset` that is not whitespace or a comment.
pub(crate) fn skip_trivia(sql: &str, mut offset: usize) -> usize {
    let bytes = sql.as_bytes();
    loop {
        while offset < bytes.len() && bytes[offset].is_ascii_whitespace() {
            offset += 1;
        }
        if bytes[offset..].starts_with(b"--") {
            offset = sql[offset..]
                .find('\n')
                .map_or(sql.len(), |i| offset + i + 1);
        } else if bytes[offset..].starts_with(b"/*") {
            let mut depth = 0_usize;
            while offset < bytes.len() {
                if bytes[offset..].starts_with(b"/*") {
                    depth += 1;
                    offset += 2;
                } else if bytes[offset..].starts_with(b"*/") {
                    depth -= 1;
                    offset += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    offset += 1;
                }
            }
        } else {
            return offset.min(sql.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dollar_quoted_bodies_and_skips_comments() {
        let sql = "-- a comment; not a statement\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n/* x; */ SELECT ';';\n";
        let statements = parse(sql).unwrap();
        assert_eq!(statements.len(), 2);
        assert!(sql[statements[0].start..].starts_with("CREATE FUNCTION"));
        assert!(sql[statements[1].start..statements[1].end] == *"SELECT ';'");
    }

    #[test]
    fn a_syntax_error_points_at_the_token() {
        let sql = "SELECT 1;\n\nCREATE TABEL users (id int);\n";
        let failure = parse(sql).unwrap_err();
        assert!(
            failure.message.contains("syntax error"),
            "{}",
            failure.message
        );
        assert_eq!(&sql[failure.offset..failure.offset + 5], "TABEL");
    }

    #[test]
    fn a_syntax_error_points_at_the_failing_occurrence_of_a_common_token() {
        let sql = "CREATE TABLE t (a numeric(10,2), b int,\n  c int,);\n";
        let failure = parse(sql).unwrap_err();
        assert_eq!(failure.message, "syntax error at or near \")\"");
        assert_eq!(failure.offset, sql.find(",)").unwrap() + 1);
    }

    #[test]
    fn each_alter_table_clause_has_its_own_span() {
        // issue 11, item 3: findings point at their own clause's line; a
        // first clause on the statement's line is shown with the statement.
        let sql = "SELECT 1;\nALTER TABLE \"public\".\"Widget\" ADD COLUMN \"a\" numeric(10,2),\n  -- why\n  DROP COLUMN \"b\",\n  ALTER COLUMN c TYPE text;\n";
        let statements = parse(sql).unwrap();
        let clauses: Vec<&str> = statements[1]
            .clauses
            .iter()
            .map(|&(start, end)| &sql[start..end])
            .collect();
        assert_eq!(
            clauses,
            [
                "ALTER TABLE \"public\".\"Widget\" ADD COLUMN \"a\" numeric(10,2)",
                "DROP COLUMN \"b\"",
                "ALTER COLUMN c TYPE text"
            ]
        );
    }
}
