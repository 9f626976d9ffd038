//! The topic query language: lexer and recursive-descent parser producing an [`Expr`] tree.
//!
//! Grammar (lowest precedence first; operators are upper case):
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := near (("AND" | "AND NOT" | "NOT") near)*      a NOT b  ==  a AND NOT b
//! near    := unary (["NOT"] ("NEAR/" n | "PRE/" n | "NEAR/s") unary)*  n words apart at most
//!                                  (PRE: in that order); s = same sentence; with NOT: the left
//!                                  side's occurrences that have no right side within that reach
//! unary   := "NOT" unary | primary
//! primary := "(" query ")" | ("title" | "body" | "headline") ":" primary | "@" list
//!          | '"' phrase '"' | "{" Word "}" | word | word*
//! ```
//!
//! Positions are byte offsets into the query; errors report them as 1-based character columns.

use std::fmt;

/// A parse error: where (byte offset into the query) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl SyntaxError {
    /// Renders the error for a query: 1-based column, message and a short excerpt.
    pub fn render(&self, query: &str) -> String {
        let offset = self.offset.min(query.len());
        let column = query[..offset].chars().count() + 1;
        let excerpt: String = query[offset..].chars().take(24).collect();
        if excerpt.trim().is_empty() {
            format!("column {column} (end of query): {}", self.message)
        } else {
            format!("column {column}: {} (at `{}`)", self.message, excerpt.trim_end())
        }
    }
}

/// A field scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Title,
    Body,
    /// The headline: the title, or the first sentence of the text when there is no title (web
    /// pages often carry their headline as the text's first line).
    Headline,
}

/// One query term as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    /// A word or a run of words split by punctuation (`U.S.`): stemmed, matched as a phrase.
    Word { text: String, prefix: bool },
    /// A quoted phrase: its words in order, stemmed; `prefix` when the last word ends in `*`.
    Phrase { text: String, prefix: bool },
    /// `=word`: this exact word form (any case), no stemming.
    Form { text: String },
    /// `{Word}`: case-sensitive surface form, no stemming.
    Exact { text: String },
    /// `@name`: a named term list.
    List { name: String },
}

/// A parsed query; `offset` is where the node starts in the query text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Term {
        term: Term,
        offset: usize,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not {
        inner: Box<Expr>,
        offset: usize,
    },
    Near {
        left: Box<Expr>,
        right: Box<Expr>,
        distance: Distance,
        offset: usize,
    },
    /// `a NOT NEAR/n b`: the occurrences of `a` with no `b` within that reach.
    Without {
        left: Box<Expr>,
        right: Box<Expr>,
        distance: Distance,
        offset: usize,
    },
    Scoped {
        scope: Scope,
        inner: Box<Expr>,
        offset: usize,
    },
}

/// The reach of a proximity operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Distance {
    /// At most this many words between the two sides.
    Words(u32),
    /// The left side first, then at most this many words before the right side.
    Before(u32),
    /// Both sides in the same sentence.
    Sentence,
}

impl fmt::Display for Distance {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distance::Words(n) => write!(formatter, "NEAR/{n}"),
            Distance::Before(n) => write!(formatter, "PRE/{n}"),
            Distance::Sentence => formatter.write_str("NEAR/s"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    LeftParen,
    RightParen,
    And,
    Or,
    Not,
    Near(Distance),
    Field(Scope),
    List(String),
    Phrase(String),
    Exact(String),
    Word(String),
    End,
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::LeftParen => "`(`".into(),
            TokenKind::RightParen => "`)`".into(),
            TokenKind::And => "AND".into(),
            TokenKind::Or => "OR".into(),
            TokenKind::Not => "NOT".into(),
            TokenKind::Near(distance) => distance.to_string(),
            TokenKind::Field(Scope::Title) => "`title:`".into(),
            TokenKind::Field(Scope::Body) => "`body:`".into(),
            TokenKind::Field(Scope::Headline) => "`headline:`".into(),
            TokenKind::List(name) => format!("`@{name}`"),
            TokenKind::Phrase(text) => format!("\"{text}\""),
            TokenKind::Exact(text) => format!("`{{{text}}}`"),
            TokenKind::Word(text) => format!("`{text}`"),
            TokenKind::End => "the end of the query".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Lexeme {
    kind: TokenKind,
    offset: usize,
}

fn is_special(character: char) -> bool {
    character.is_whitespace() || matches!(character, '(' | ')' | '"' | '{' | '}' | '@')
}

fn lex(query: &str) -> Result<Vec<Lexeme>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some(&(offset, character)) = chars.peek() {
        if character.is_whitespace() {
            chars.next();
            continue;
        }
        let kind = match character {
            '(' => {
                chars.next();
                TokenKind::LeftParen
            }
            ')' => {
                chars.next();
                TokenKind::RightParen
            }
            '"' | '“' | '”' | '«' | '»' => {
                chars.next();
                let start = offset + character.len_utf8();
                let mut end = None;
                for (index, inner) in chars.by_ref() {
                    if matches!(inner, '"' | '“' | '”' | '«' | '»') {
                        end = Some(index);
                        break;
                    }
                }
                let end = end.ok_or_else(|| SyntaxError {
                    offset,
                    message: "expected a closing `\"` for this phrase".into(),
                })?;
                TokenKind::Phrase(query[start..end].to_string())
            }
            '{' => {
                chars.next();
                let start = offset + 1;
                let mut end = None;
                for (index, inner) in chars.by_ref() {
                    if inner == '}' {
                        end = Some(index);
                        break;
                    }
                }
                let end = end.ok_or_else(|| SyntaxError {
                    offset,
                    message: "expected a closing `}` for this case-sensitive term".into(),
                })?;
                TokenKind::Exact(query[start..end].trim().to_string())
            }
            '}' => {
                return Err(SyntaxError { offset, message: "unexpected `}`".into() });
            }
            '@' => {
                chars.next();
                let start = offset + 1;
                let mut end = start;
                while let Some(&(index, inner)) = chars.peek() {
                    if inner.is_alphanumeric() || inner == '_' || inner == '-' {
                        end = index + inner.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                if end == start {
                    return Err(SyntaxError { offset, message: "expected a list name after `@`".into() });
                }
                TokenKind::List(query[start..end].to_string())
            }
            _ => {
                let start = offset;
                let mut end = start;
                while let Some(&(index, inner)) = chars.peek() {
                    if is_special(inner) {
                        break;
                    }
                    end = index + inner.len_utf8();
                    chars.next();
                    // `title:` ends at the colon so that `title:(` lexes.
                    if inner == ':' {
                        break;
                    }
                }
                word_kind(&query[start..end], start)?
            }
        };
        out.push(Lexeme { kind, offset });
    }
    out.push(Lexeme { kind: TokenKind::End, offset: query.len() });
    Ok(out)
}

fn word_kind(word: &str, offset: usize) -> Result<TokenKind, SyntaxError> {
    Ok(match word {
        "AND" => TokenKind::And,
        "OR" => TokenKind::Or,
        "NOT" => TokenKind::Not,
        "title:" => TokenKind::Field(Scope::Title),
        "body:" => TokenKind::Field(Scope::Body),
        "headline:" => TokenKind::Field(Scope::Headline),
        _ if word.starts_with("PRE/") => {
            let reach = &word[4..];
            let n = reach.parse::<u32>().map_err(|_| SyntaxError {
                offset: offset + 4,
                message: format!("expected a number of words after `PRE/`, found `{reach}`"),
            })?;
            TokenKind::Near(Distance::Before(n))
        }
        _ if word.starts_with("NEAR") => {
            let reach = word.strip_prefix("NEAR/").ok_or_else(|| SyntaxError {
                offset,
                message: "expected `NEAR/n` (a number of words) or `NEAR/s` (same sentence)".into(),
            })?;
            if reach == "s" {
                TokenKind::Near(Distance::Sentence)
            } else {
                let n = reach.parse::<u32>().map_err(|_| SyntaxError {
                    offset: offset + 5,
                    message: format!("expected a number of words or `s` after `NEAR/`, found `{reach}`"),
                })?;
                TokenKind::Near(Distance::Words(n))
            }
        }
        _ if word.ends_with(':') => {
            return Err(SyntaxError {
                offset,
                message: format!(
                    "unknown field `{}`: expected `title:`, `body:` or `headline:`",
                    word.trim_end_matches(':')
                ),
            });
        }
        _ => TokenKind::Word(word.to_string()),
    })
}

struct Parser {
    lexemes: Vec<Lexeme>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> &Lexeme {
        // The lexer always ends the list with `End`, and `advance` never moves past it.
        &self.lexemes[self.position.min(self.lexemes.len() - 1)]
    }

    fn advance(&mut self) -> Lexeme {
        let lexeme = self.peek().clone();
        if self.position < self.lexemes.len() - 1 {
            self.position += 1;
        }
        lexeme
    }

    fn parse_or(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.parse_and()?];
        while self.peek().kind == TokenKind::Or {
            self.advance();
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn parse_and(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.parse_near()?];
        loop {
            match self.peek().kind {
                TokenKind::And => {
                    self.advance();
                    if self.peek().kind == TokenKind::Not {
                        let not = self.advance();
                        let inner = self.parse_near()?;
                        items.push(Expr::Not { inner: Box::new(inner), offset: not.offset });
                    } else {
                        items.push(self.parse_near()?);
                    }
                }
                TokenKind::Not => {
                    let not = self.advance();
                    let inner = self.parse_near()?;
                    items.push(Expr::Not { inner: Box::new(inner), offset: not.offset });
                }
                _ => break,
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    /// The lexeme after the next one.
    fn peek_second(&self) -> &Lexeme {
        &self.lexemes[(self.position + 1).min(self.lexemes.len() - 1)]
    }

    fn parse_near(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.parse_unary()?;
        loop {
            // `NOT NEAR/n` (and `NOT PRE/n`, `NOT NEAR/s`) is one operator; a `NOT` followed by
            // anything else is left to the AND level.
            let negated =
                self.peek().kind == TokenKind::Not && matches!(self.peek_second().kind, TokenKind::Near(_));
            if negated {
                self.advance();
            }
            let TokenKind::Near(distance) = self.peek().kind else { break };
            let operator = self.advance();
            let right = self.parse_unary()?;
            let (left_box, right_box, offset) = (Box::new(left), Box::new(right), operator.offset);
            left = if negated {
                Expr::Without { left: left_box, right: right_box, distance, offset }
            } else {
                Expr::Near { left: left_box, right: right_box, distance, offset }
            };
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.peek().kind == TokenKind::Not {
            let not = self.advance();
            let inner = self.parse_unary()?;
            return Ok(Expr::Not { inner: Box::new(inner), offset: not.offset });
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, SyntaxError> {
        let lexeme = self.advance();
        let offset = lexeme.offset;
        let term = match lexeme.kind {
            TokenKind::LeftParen => {
                let inner = self.parse_or()?;
                let close = self.advance();
                if close.kind != TokenKind::RightParen {
                    return Err(SyntaxError {
                        offset: close.offset,
                        message: format!(
                            "expected an operator or a `)` to close the group, found {}",
                            close.kind.describe()
                        ),
                    });
                }
                return Ok(inner);
            }
            TokenKind::Field(scope) => {
                let inner = self.parse_primary()?;
                return Ok(Expr::Scoped { scope, inner: Box::new(inner), offset });
            }
            TokenKind::List(name) => Term::List { name },
            TokenKind::Phrase(text) => {
                let trimmed = text.trim();
                let prefix = trimmed.ends_with('*');
                let text = trimmed.trim_end_matches('*').to_string();
                if text.is_empty() {
                    return Err(SyntaxError { offset, message: "empty phrase".into() });
                }
                Term::Phrase { text, prefix }
            }
            TokenKind::Exact(text) => {
                if text.is_empty() || text.contains(char::is_whitespace) {
                    return Err(SyntaxError { offset, message: "expected one word inside `{}`".into() });
                }
                Term::Exact { text }
            }
            TokenKind::Word(text) => {
                if let Some(form) = text.strip_prefix('=') {
                    if form.is_empty() || form.contains('*') {
                        return Err(SyntaxError {
                            offset,
                            message: "expected a word form after `=` (no wildcard)".into(),
                        });
                    }
                    return Ok(Expr::Term { term: Term::Form { text: form.to_string() }, offset });
                }
                let prefix = text.ends_with('*');
                let stripped = text.trim_end_matches('*');
                if stripped.contains('*') || stripped.is_empty() {
                    return Err(SyntaxError {
                        offset,
                        message: "a wildcard `*` may only end a word (e.g. `negotiat*`)".into(),
                    });
                }
                if stripped.chars().all(|c| c.is_lowercase() || !c.is_alphabetic())
                    && matches!(stripped, "and" | "or" | "not")
                {
                    return Err(SyntaxError {
                        offset,
                        message: format!(
                            "`{stripped}` looks like an operator: operators are upper case \
                             (AND, OR, NOT); quote it to search for the word"
                        ),
                    });
                }
                Term::Word { text: stripped.to_string(), prefix }
            }
            other => {
                return Err(SyntaxError {
                    offset,
                    message: format!(
                        "expected a term, \"phrase\", @list, `title:`/`body:`/`headline:` or `(`, \
                         found {}",
                        other.describe()
                    ),
                });
            }
        };
        Ok(Expr::Term { term, offset })
    }
}

/// Parses a query.
pub(crate) fn parse(query: &str) -> Result<Expr, SyntaxError> {
    let lexemes = lex(query)?;
    let mut parser = Parser { lexemes, position: 0 };
    if parser.peek().kind == TokenKind::End {
        return Err(SyntaxError { offset: 0, message: "the query is empty".into() });
    }
    let expr = parser.parse_or()?;
    let next = parser.peek();
    if next.kind != TokenKind::End {
        let message = match &next.kind {
            TokenKind::RightParen => "unbalanced `)`".to_string(),
            TokenKind::Word(word) if matches!(word.as_str(), "and" | "or" | "not" | "near") => {
                format!(
                    "expected an operator, found `{word}`: operators are upper case \
                     (AND, OR, NOT, NEAR/n); quote it to search for the word"
                )
            }
            other => format!(
                "expected an operator (AND, OR, NOT, NEAR/n, PRE/n, NEAR/s), found {}; \
                 put several words in quotes to search for a phrase",
                other.describe()
            ),
        };
        return Err(SyntaxError { offset: next.offset, message });
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, offset: usize) -> Expr {
        Expr::Term { term: Term::Word { text: text.into(), prefix: false }, offset }
    }

    #[test]
    fn and_binds_tighter_than_or_and_near_tighter_than_and() {
        let expr = parse("a OR b AND c NEAR/3 d").unwrap();
        let Expr::Or(items) = expr else { panic!("expected OR at the top: {expr:?}") };
        assert_eq!(items[0], word("a", 0));
        let Expr::And(and_items) = &items[1] else { panic!("expected AND: {:?}", items[1]) };
        assert_eq!(and_items[0], word("b", 5));
        assert!(matches!(&and_items[1], Expr::Near { distance: Distance::Words(3), .. }));
    }

    #[test]
    fn not_near_is_one_operator_at_the_near_level() {
        let expr = parse("a NOT NEAR/3 b AND c").unwrap();
        let Expr::And(items) = expr else { panic!("expected AND: {expr:?}") };
        assert!(matches!(&items[0], Expr::Without { distance: Distance::Words(3), .. }));
        assert!(matches!(
            parse("a NOT PRE/1 b").unwrap(),
            Expr::Without { distance: Distance::Before(1), .. }
        ));
        assert!(matches!(
            parse("a NOT NEAR/s b").unwrap(),
            Expr::Without { distance: Distance::Sentence, .. }
        ));
        assert!(matches!(parse("headline:a").unwrap(), Expr::Scoped { scope: Scope::Headline, .. }));
        assert!(parse("a NOT NEAR/3").is_err());
    }

    #[test]
    fn parentheses_override_precedence() {
        let expr = parse("(a OR b) AND c").unwrap();
        let Expr::And(items) = expr else { panic!("expected AND") };
        assert!(matches!(items[0], Expr::Or(_)));
    }

    #[test]
    fn binary_not_means_and_not() {
        let expr = parse("a NOT b AND NOT c").unwrap();
        let Expr::And(items) = expr else { panic!("expected AND") };
        assert_eq!(items.len(), 3);
        assert!(matches!(items[1], Expr::Not { .. }));
        assert!(matches!(items[2], Expr::Not { .. }));
    }

    #[test]
    fn terms_of_every_kind_parse() {
        let expr = parse(r#"title:@us NEAR/s "secretary of state" OR {US} OR negotiat*"#).unwrap();
        let Expr::Or(items) = expr else { panic!("expected OR") };
        assert!(matches!(
            &items[0],
            Expr::Near { left, distance: Distance::Sentence, .. }
                if matches!(**left, Expr::Scoped { scope: Scope::Title, .. })
        ));
        assert_eq!(items[1], Expr::Term { term: Term::Exact { text: "US".into() }, offset: 41 });
        assert_eq!(
            items[2],
            Expr::Term { term: Term::Word { text: "negotiat".into(), prefix: true }, offset: 49 }
        );
    }

    #[test]
    fn errors_carry_positions_and_expectations() {
        let error = parse("talks AND (russia OR").unwrap_err();
        assert_eq!(error.offset, 20);
        assert!(error.message.contains("expected a term"), "{}", error.message);

        let error = parse("talks AND (russia OR us").unwrap_err();
        assert_eq!(error.offset, 23);
        assert!(error.message.contains("`)`"), "{}", error.message);

        let error = parse("secretary of state").unwrap_err();
        assert_eq!(error.offset, 10);
        assert!(error.message.contains("expected an operator"), "{}", error.message);
        assert!(error.render("secretary of state").starts_with("column 11:"));

        let error = parse("talks NEAR/x russia").unwrap_err();
        assert_eq!(error.offset, 11);

        let error = parse("lead:talks").unwrap_err();
        assert!(error.message.contains("unknown field"), "{}", error.message);

        let error = parse("talks and russia").unwrap_err();
        assert!(error.message.contains("upper case"), "{}", error.message);

        let error = parse("\"open phrase").unwrap_err();
        assert_eq!(error.offset, 0);

        let error = parse("a) OR b").unwrap_err();
        assert!(error.message.contains("unbalanced"), "{}", error.message);

        let error = parse("ne*go").unwrap_err();
        assert!(error.message.contains("wildcard"), "{}", error.message);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let query = "переговоры AND (";
        let error = parse(query).unwrap_err();
        assert!(error.render(query).starts_with("column 17"), "{}", error.render(query));
    }
}
