//! The `$filter` subset Graph supports on directory objects, parsed and evaluated against stored JSON.
//!
//! Grammar (OData v4 ABNF, reduced): `or`/`and`/`not`, parentheses, comparisons `eq ne gt ge lt le`,
//! `startswith(path,'x')`, `endswith(path,'x')`, lambda `path/any(v:expr)` / `path/all(v:expr)`, string
//! literals with `''` escaping, `true`/`false`/`null` and numbers, and property paths (`a/b`). String
//! comparisons ignore case, as directory string properties do in Graph. `ne`, `not` and `endswith` are
//! advanced queries (graph-api.md (c) row 3): [`Filter::is_advanced`] tells the route to require
//! `ConsistencyLevel: eventual` and `$count=true` for them.

use std::cmp::Ordering;

use serde_json::Value;

/// The length of an ISO 8601 UTC instant at the start of `text` (`2026-11-26T21:00:00Z`,
/// optionally with fractional seconds), if there is one.
fn date_time_literal(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if bytes.len() < shape.len() + 1 {
        return None;
    }
    for (byte, expected) in bytes.iter().zip(shape) {
        let ok = match expected {
            b'd' => byte.is_ascii_digit(),
            other => byte == other,
        };
        if !ok {
            return None;
        }
    }
    let mut end = shape.len();
    if bytes.get(end) == Some(&b'.') {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    (bytes.get(end) == Some(&b'Z')).then_some(end + 1)
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    root: Expr,
}

/// Why a `$filter` could not be parsed; the text goes into the 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<String>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(CompareOp, Operand, Operand),
    StartsWith(Operand, Operand),
    EndsWith(Operand, Operand),
    Lambda {
        quantifier: Quantifier,
        collection: Vec<String>,
        /// `None` for the argument-less `any()` (collection not empty).
        body: Option<(String, Box<Expr>)>,
    },
    Value(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number(f64),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

impl Filter {
    /// Parses a `$filter` value (already percent-decoded).
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, pos: 0 };
        let root = parser.or_expr()?;
        if parser.pos != parser.tokens.len() {
            return Err(FilterError(format!(
                "unexpected {} after the end of the expression",
                describe(parser.tokens.get(parser.pos))
            )));
        }
        Ok(Self { root })
    }

    /// Whether the filter uses operators Graph only allows as advanced queries (`ne`, `not`, `endswith`).
    pub fn is_advanced(&self) -> bool {
        self.root.is_advanced()
    }

    /// Whether `object` satisfies the filter.
    pub fn matches(&self, object: &Value) -> bool {
        self.root.eval(object, &mut Vec::new())
    }
}

impl Expr {
    fn is_advanced(&self) -> bool {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => a.is_advanced() || b.is_advanced(),
            Expr::Not(_) | Expr::EndsWith(..) => true,
            Expr::Compare(op, ..) => *op == CompareOp::Ne,
            Expr::Lambda { body, .. } => body.as_ref().is_some_and(|(_, e)| e.is_advanced()),
            Expr::StartsWith(..) | Expr::Value(_) => false,
        }
    }

    fn eval<'a>(&self, root: &'a Value, scope: &mut Vec<(String, &'a Value)>) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(root, scope) || b.eval(root, scope),
            Expr::And(a, b) => a.eval(root, scope) && b.eval(root, scope),
            Expr::Not(inner) => !inner.eval(root, scope),
            Expr::Compare(op, left, right) => {
                let left = resolve(left, root, scope);
                let right = resolve(right, root, scope);
                compare(*op, &left, &right)
            }
            Expr::StartsWith(subject, prefix) => {
                string_pair(resolve(subject, root, scope), resolve(prefix, root, scope))
                    .is_some_and(|(s, p)| s.starts_with(&p))
            }
            Expr::EndsWith(subject, suffix) => {
                string_pair(resolve(subject, root, scope), resolve(suffix, root, scope))
                    .is_some_and(|(s, p)| s.ends_with(&p))
            }
            Expr::Lambda {
                quantifier,
                collection,
                body,
            } => {
                let Some(Value::Array(items)) = lookup(collection, root, scope) else {
                    return *quantifier == Quantifier::All;
                };
                let Some((variable, body)) = body else {
                    return !items.is_empty();
                };
                let mut test = |item: &'a Value| {
                    scope.push((variable.clone(), item));
                    let result = body.eval(root, scope);
                    scope.pop();
                    result
                };
                match quantifier {
                    Quantifier::Any => items.iter().any(&mut test),
                    Quantifier::All => items.iter().all(&mut test),
                }
            }
            Expr::Value(operand) => matches!(resolve(operand, root, scope), Value::Bool(true)),
        }
    }
}

fn resolve(operand: &Operand, root: &Value, scope: &[(String, &Value)]) -> Value {
    match operand {
        Operand::Literal(value) => value.clone(),
        Operand::Path(path) => lookup(path, root, scope).cloned().unwrap_or(Value::Null),
    }
}

/// Walks a property path from the lambda variable it starts with, or from the object itself.
fn lookup<'a>(
    path: &[String],
    root: &'a Value,
    scope: &[(String, &'a Value)],
) -> Option<&'a Value> {
    let (mut current, rest) = match path.split_first() {
        Some((first, rest)) => match scope.iter().rev().find(|(name, _)| name == first) {
            Some((_, value)) => (*value, rest),
            None => (root, path),
        },
        None => return Some(root),
    };
    for segment in rest {
        let object = current.as_object()?;
        current = object.get(segment).or_else(|| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(segment))
                .map(|(_, value)| value)
        })?;
    }
    Some(current)
}

fn string_pair(a: Value, b: Value) -> Option<(String, String)> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => Some((a.to_lowercase(), b.to_lowercase())),
        _ => None,
    }
}

fn compare(op: CompareOp, left: &Value, right: &Value) -> bool {
    let instant = |text: &str| {
        date_time_literal(text)
            .filter(|length| *length == text.len())
            .and_then(|_| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .ok()
            })
    };
    let ordering = match (left, right) {
        (Value::String(a), Value::String(b)) => match (instant(a), instant(b)) {
            // DateTimeOffset properties compare as instants, whatever their fraction digits.
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        },
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match op {
        CompareOp::Eq => ordering == Some(Ordering::Equal),
        CompareOp::Ne => ordering != Some(Ordering::Equal),
        CompareOp::Gt => ordering == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => ordering == Some(Ordering::Less),
        CompareOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | ':' | '/' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    ':' => Token::Colon,
                    _ => Token::Slash,
                });
            }
            '\'' => {
                chars.next();
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) => {
                            if matches!(chars.peek(), Some((_, '\''))) {
                                chars.next();
                                literal.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some((_, ch)) => literal.push(ch),
                        None => {
                            return Err(FilterError(format!(
                                "unterminated string literal starting at position {start}"
                            )));
                        }
                    }
                }
                tokens.push(Token::Str(literal));
            }
            c if c.is_ascii_digit() && date_time_literal(&text[start..]).is_some() => {
                // An unquoted DateTimeOffset (`createdDateTime ge 2026-11-26T21:00:00Z`), as Graph
                // takes it; compared as text with the stored `...Z` timestamps of the same shape.
                let length = date_time_literal(&text[start..]).unwrap_or_default();
                for _ in 0..length {
                    chars.next();
                }
                tokens.push(Token::Str(text[start..start + length].to_owned()));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut end = start;
                while let Some(&(i, ch)) = chars.peek() {
                    if ch.is_ascii_digit() || ch == '.' || (i == start && ch == '-') {
                        end = i + ch.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let number = text[start..end]
                    .parse::<f64>()
                    .map_err(|_| FilterError(format!("invalid number '{}'", &text[start..end])))?;
                tokens.push(Token::Number(number));
            }
            c if c.is_alphabetic() || c == '_' || c == '@' => {
                let mut end = start;
                while let Some(&(i, ch)) = chars.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '.' || ch == '@' {
                        end = i + ch.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Ident(text[start..end].to_owned()));
            }
            other => {
                return Err(FilterError(format!(
                    "unexpected character '{other}' at position {start}"
                )));
            }
        }
    }
    Ok(tokens)
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of input".to_owned(),
        Some(Token::Ident(name)) => format!("'{name}'"),
        Some(Token::Str(text)) => format!("string '{text}'"),
        Some(Token::Number(n)) => format!("number {n}"),
        Some(Token::Open) => "'('".to_owned(),
        Some(Token::Close) => "')'".to_owned(),
        Some(Token::Comma) => "','".to_owned(),
        Some(Token::Colon) => "':'".to_owned(),
        Some(Token::Slash) => "'/'".to_owned(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(name)) if name.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, expected: &Token) -> Result<(), FilterError> {
        match self.next() {
            Some(ref token) if token == expected => Ok(()),
            other => Err(FilterError(format!(
                "expected {} but found {}",
                describe(Some(expected)),
                describe(other.as_ref())
            ))),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and_expr()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.not_expr()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, FilterError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let left = self.term()?;
        let op = match self.peek() {
            Some(Token::Ident(name)) => match name.to_ascii_lowercase().as_str() {
                "eq" => Some(CompareOp::Eq),
                "ne" => Some(CompareOp::Ne),
                "gt" => Some(CompareOp::Gt),
                "ge" => Some(CompareOp::Ge),
                "lt" => Some(CompareOp::Lt),
                "le" => Some(CompareOp::Le),
                _ => None,
            },
            _ => None,
        };
        let Some(op) = op else {
            return Ok(left);
        };
        self.pos += 1;
        let right = self.term()?;
        match (left, right) {
            (Expr::Value(left), Expr::Value(right)) => Ok(Expr::Compare(op, left, right)),
            _ => Err(FilterError(
                "comparison operands must be properties or literals".to_owned(),
            )),
        }
    }

    fn term(&mut self) -> Result<Expr, FilterError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or_expr()?;
                self.expect(&Token::Close)?;
                Ok(inner)
            }
            Some(Token::Str(text)) => Ok(Expr::Value(Operand::Literal(Value::String(text)))),
            Some(Token::Number(n)) => Ok(Expr::Value(Operand::Literal(
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            ))),
            Some(Token::Ident(name)) => self.identifier_term(name),
            other => Err(FilterError(format!(
                "expected a property, literal or function but found {}",
                describe(other.as_ref())
            ))),
        }
    }

    fn identifier_term(&mut self, name: String) -> Result<Expr, FilterError> {
        match name.to_ascii_lowercase().as_str() {
            "true" => return Ok(Expr::Value(Operand::Literal(Value::Bool(true)))),
            "false" => return Ok(Expr::Value(Operand::Literal(Value::Bool(false)))),
            "null" => return Ok(Expr::Value(Operand::Literal(Value::Null))),
            function @ ("startswith" | "endswith") if self.peek() == Some(&Token::Open) => {
                self.pos += 1;
                let subject = self.operand()?;
                self.expect(&Token::Comma)?;
                let argument = self.operand()?;
                self.expect(&Token::Close)?;
                return Ok(if function == "startswith" {
                    Expr::StartsWith(subject, argument)
                } else {
                    Expr::EndsWith(subject, argument)
                });
            }
            _ => {}
        }
        let mut path = vec![name];
        while self.peek() == Some(&Token::Slash) {
            self.pos += 1;
            let segment = match self.next() {
                Some(Token::Ident(segment)) => segment,
                other => {
                    return Err(FilterError(format!(
                        "expected a property name after '/' but found {}",
                        describe(other.as_ref())
                    )));
                }
            };
            let quantifier = match segment.to_ascii_lowercase().as_str() {
                "any" => Some(Quantifier::Any),
                "all" => Some(Quantifier::All),
                _ => None,
            };
            if let Some(quantifier) = quantifier.filter(|_| self.peek() == Some(&Token::Open)) {
                self.pos += 1;
                if self.peek() == Some(&Token::Close) {
                    self.pos += 1;
                    return Ok(Expr::Lambda {
                        quantifier,
                        collection: path,
                        body: None,
                    });
                }
                let variable = match self.next() {
                    Some(Token::Ident(variable)) => variable,
                    other => {
                        return Err(FilterError(format!(
                            "expected a lambda variable but found {}",
                            describe(other.as_ref())
                        )));
                    }
                };
                self.expect(&Token::Colon)?;
                let body = self.or_expr()?;
                self.expect(&Token::Close)?;
                return Ok(Expr::Lambda {
                    quantifier,
                    collection: path,
                    body: Some((variable, Box::new(body))),
                });
            }
            path.push(segment);
        }
        Ok(Expr::Value(Operand::Path(path)))
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        match self.term()? {
            Expr::Value(operand) => Ok(operand),
            _ => Err(FilterError(
                "function arguments must be properties or literals".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "id": "1",
            "displayName": "Zoë O'Neil",
            "accountEnabled": true,
            "mail": null,
            "age": 42,
            "identities": [
                {"signInType": "emailAddress", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": "zoe@example.com"},
                {"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "123"}
            ]
        })
    }

    fn check(filter: &str) -> bool {
        Filter::parse(filter).unwrap().matches(&user())
    }

    #[test]
    fn comparisons_and_literals() {
        assert!(check("displayName eq 'zoë o''neil'"));
        assert!(check("accountEnabled eq true"));
        assert!(check("mail eq null"));
        assert!(check("missing eq null"));
        assert!(check("age ge 42 and age lt 43"));
        assert!(!check("accountEnabled eq false"));
        assert!(check("displayName ne 'x'"));
    }

    #[test]
    fn unquoted_date_times_compare_with_stored_timestamps() {
        let created = json!({"createdDateTime": "2026-11-26T21:03:12Z"});
        let holds = |filter: &str| Filter::parse(filter).unwrap().matches(&created);
        assert!(holds("createdDateTime ge 2026-11-26T21:00:00Z"));
        assert!(holds(
            "createdDateTime ge 2026-11-26T21:03:12Z and createdDateTime le 2026-11-26T21:03:12.5Z"
        ));
        assert!(!holds("createdDateTime ge 2026-11-26T21:03:13Z"));
        assert!(Filter::parse("createdDateTime ge 2026-11-26T21:00:00").is_err());
        assert_eq!(date_time_literal("2026-11-26T21:00:00.123Z)"), Some(24));
        assert_eq!(date_time_literal("2026-11-26"), None);
    }

    #[test]
    fn functions_boolean_logic_and_parentheses() {
        assert!(check("startswith(displayName,'ZOË')"));
        assert!(check("endsWith(displayName, 'neil')"));
        assert!(check(
            "(id eq '2' or id eq '1') and not (accountEnabled eq false)"
        ));
        assert!(!check("id eq '2' or id eq '3' and id eq '1'"));
    }

    #[test]
    fn any_lambda_over_identities() {
        assert!(check(
            "identities/any(c:c/issuerAssignedId eq 'zoe@example.com' and c/issuer eq 'contoso.onmicrosoft.com')"
        ));
        assert!(!check(
            "identities/any(c:c/issuerAssignedId eq 'zoe@example.com' and c/issuer eq 'google.com')"
        ));
        assert!(check("identities/any()"));
        assert!(check("identities/all(c:c/issuer ne 'facebook.com')"));
    }

    #[test]
    fn advanced_operators_are_flagged() {
        assert!(!Filter::parse("id eq '1'").unwrap().is_advanced());
        assert!(Filter::parse("id ne '1'").unwrap().is_advanced());
        assert!(Filter::parse("endswith(mail,'x')").unwrap().is_advanced());
        assert!(Filter::parse("not(id eq '1')").unwrap().is_advanced());
    }

    #[test]
    fn malformed_filters_are_errors_not_panics() {
        for bad in [
            "",
            "id eq",
            "id eq 'open",
            "(id eq '1'",
            "id eq '1')",
            "startswith(id)",
            "identities/any(c c/issuer eq 'x')",
            "id ~ 1",
            "id eq '1' and",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
