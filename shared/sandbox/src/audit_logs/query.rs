//! Query options of the audit-log lists: a time-window `$filter`, `$orderby` on the time field,
//! `$top`, `$select`, and the keyset `$skiptoken` of next links.
//!
//! The filter grammar is deliberately the part of Graph's that exporters use: comparisons of the
//! stream's time field (`activityDateTime` or `createdDateTime`) with `ge`, `gt`, `le`, `lt` or `eq`
//! against an unquoted UTC instant, joined by `and`, optionally parenthesised. Graph answers a quoted
//! or date-only literal with 400 `BadRequest` "Invalid filter clause"; the sandbox does the same, and
//! answers filters Graph would evaluate but the sandbox does not model (other properties, `or`,
//! functions) with 400 `Request_UnsupportedQuery`, so a client never silently gets an unfiltered list.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;

use super::AuditStream;
use super::store::{Key, Window};
use super::timestamp::{self, NANOS_PER_TICK, Ticks};
use crate::directory::GraphFailure;

/// Page size when `$top` is absent: 1,000 for sign-ins (documented maximum and default) and, by the
/// same rule, for directory audits (whose unparameterised next links also resume after 1,000).
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// The largest `$top` the audit-log lists accept.
pub const MAX_PAGE_SIZE: usize = 1000;
const SKIPTOKEN_VERSION: &str = "v1";

/// Query options of one audit-log list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogQuery {
    pub(crate) window: Window,
    pub(crate) descending: bool,
    pub(crate) top: usize,
    pub(crate) select: Option<Vec<String>>,
    /// Resume strictly after this key, in the order of `descending`.
    pub(crate) after: Option<Key>,
    /// The options as received except `$top` and `$skiptoken`, to rebuild the next link.
    pairs: Vec<(String, String)>,
}

fn bad_request(message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn unsupported(message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
}

fn invalid_filter() -> GraphFailure {
    bad_request("Invalid filter clause")
}

fn invalid_skiptoken() -> GraphFailure {
    GraphFailure::new(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "Invalid paging token specified.",
    )
}

impl LogQuery {
    /// Parses the raw query string of a list request on `stream`.
    pub(crate) fn parse(raw: Option<&str>, stream: AuditStream) -> Result<Self, GraphFailure> {
        let mut query = LogQuery {
            window: Window::default(),
            descending: true,
            top: DEFAULT_PAGE_SIZE,
            select: None,
            after: None,
            pairs: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let name = key.to_ascii_lowercase();
            if name.starts_with('$') {
                if seen.contains(&name) {
                    return Err(bad_request(format!(
                        "Query option '{key}' was specified more than once, but it must be specified at most once."
                    )));
                }
                seen.push(name.clone());
            }
            match name.as_str() {
                "$filter" => query.window = parse_filter(&value, stream)?,
                "$orderby" => query.descending = parse_orderby(&value, stream)?,
                "$top" => {
                    query.top = value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|top| (1..=MAX_PAGE_SIZE).contains(top))
                        .ok_or_else(|| {
                            bad_request(format!(
                                "Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive."
                            ))
                        })?;
                    continue;
                }
                "$select" => {
                    let mut select: Vec<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if select.is_empty() {
                        return Err(bad_request("Invalid $select clause."));
                    }
                    if !select.iter().any(|s| s.eq_ignore_ascii_case("id")) {
                        select.push("id".to_owned());
                    }
                    query.select = Some(select);
                }
                "$skiptoken" => {
                    token = Some(value.into_owned());
                    continue;
                }
                other if other.starts_with('$') => {
                    return Err(bad_request(format!(
                        "Query option '{key}' is not supported by this endpoint."
                    )));
                }
                _ => {}
            }
            query.pairs.push((key.into_owned(), value.into_owned()));
        }
        if let Some(token) = token {
            query.after = Some(decode_skiptoken(&token, stream, query.descending)?);
        }
        Ok(query)
    }

    /// The same request resuming after `last`, with `$top` spelled out as Graph's next links do.
    pub(crate) fn next_link(
        &self,
        base_url: &str,
        path: &str,
        stream: AuditStream,
        last: &Key,
    ) -> String {
        let mut query: Vec<String> = self
            .pairs
            .iter()
            .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
            .collect();
        query.push(format!("$top={}", self.top));
        query.push(format!(
            "$skiptoken={}",
            encode_skiptoken(stream, self.descending, last)
        ));
        format!("{base_url}{path}?{}", query.join("&"))
    }
}

/// Percent-encodes a query component, keeping `$` readable as Graph's links do.
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace("%24", "$")
}

/// The opaque keyset cursor: stream, direction and the (time, id) of the last record served.
pub(crate) fn encode_skiptoken(stream: AuditStream, descending: bool, last: &Key) -> String {
    let direction = if descending { "d" } else { "a" };
    URL_SAFE_NO_PAD.encode(format!(
        "{SKIPTOKEN_VERSION}:{}:{direction}:{}:{}",
        stream.tag(),
        last.0,
        last.1
    ))
}

fn decode_skiptoken(
    token: &str,
    stream: AuditStream,
    descending: bool,
) -> Result<Key, GraphFailure> {
    let text = URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid_skiptoken)?;
    let mut parts = text.splitn(5, ':');
    let version = parts.next();
    let tag = parts.next();
    let direction = parts.next();
    let ticks = parts.next().and_then(|t| t.parse::<Ticks>().ok());
    let id = parts.next().filter(|id| !id.is_empty());
    let expected_direction = if descending { "d" } else { "a" };
    match (version, tag, direction, ticks, id) {
        (Some(SKIPTOKEN_VERSION), Some(tag), Some(direction), Some(ticks), Some(id))
            if tag == stream.tag()
                && direction == expected_direction
                && (timestamp::MIN_TICKS..=timestamp::MAX_TICKS).contains(&ticks) =>
        {
            Ok((ticks, id.to_owned()))
        }
        _ => Err(invalid_skiptoken()),
    }
}

/// `$orderby=<timeField> [asc|desc]`; returns whether the order is descending.
fn parse_orderby(value: &str, stream: AuditStream) -> Result<bool, GraphFailure> {
    let mut words = value.split_whitespace();
    let field = words.next().unwrap_or_default();
    let direction = words.next();
    if words.next().is_some() || !field.eq_ignore_ascii_case(stream.time_field()) {
        return Err(unsupported(format!(
            "Unsupported $orderby clause '{value}': {} can only be sorted by {}.",
            stream.set_name(),
            stream.time_field()
        )));
    }
    match direction.map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(_) => Err(bad_request(format!("Invalid $orderby clause '{value}'."))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '\'' => {
                flush(&mut word, &mut tokens);
                // Skip to the closing quote (`''` is an escaped quote inside a literal).
                loop {
                    match chars.next() {
                        None => break,
                        Some('\'') => {
                            if chars.clone().next() == Some('\'') {
                                chars.next();
                            } else {
                                break;
                            }
                        }
                        Some(_) => {}
                    }
                }
                tokens.push(Token::Quoted);
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

struct FilterParser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    stream: AuditStream,
    window: &'a mut Window,
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// expr := term ("and" term)*
    fn expr(&mut self) -> Result<(), GraphFailure> {
        self.term()?;
        loop {
            if self.is_word("and") {
                self.pos += 1;
                self.term()?;
            } else if self.is_word("or") {
                return Err(self.unsupported());
            } else {
                return Ok(());
            }
        }
    }

    /// term := "(" expr ")" | timeField op instant
    fn term(&mut self) -> Result<(), GraphFailure> {
        match self.next() {
            Some(Token::Open) => {
                self.expr()?;
                match self.next() {
                    Some(Token::Close) => Ok(()),
                    _ => Err(invalid_filter()),
                }
            }
            Some(Token::Word(field)) if field.eq_ignore_ascii_case(self.stream.time_field()) => {
                let op = match self.next() {
                    Some(Token::Word(op)) => op.to_ascii_lowercase(),
                    _ => return Err(invalid_filter()),
                };
                let nanos = match self.next() {
                    Some(Token::Word(value)) => {
                        timestamp::parse_nanos(&value).ok_or_else(invalid_filter)?
                    }
                    _ => return Err(invalid_filter()),
                };
                self.apply(&op, nanos)
            }
            Some(Token::Word(_)) => Err(self.unsupported()),
            _ => Err(invalid_filter()),
        }
    }

    /// Narrows the half-open tick window `[lo, hi)` by one comparison, rounding so that a record
    /// matches exactly when its instant satisfies the comparison.
    fn apply(&mut self, op: &str, nanos: i128) -> Result<(), GraphFailure> {
        let floor = timestamp::clamp(nanos.div_euclid(NANOS_PER_TICK));
        let ceil = timestamp::clamp(-(-nanos).div_euclid(NANOS_PER_TICK));
        let (lo, hi) = match op {
            "ge" => (Some(ceil), None),
            "gt" => (Some(floor.saturating_add(1)), None),
            "le" => (None, Some(floor.saturating_add(1))),
            "lt" => (None, Some(ceil)),
            "eq" => (Some(ceil), Some(floor.saturating_add(1))),
            "ne" => return Err(self.unsupported()),
            _ => return Err(invalid_filter()),
        };
        self.window.narrow(lo, hi);
        Ok(())
    }

    fn unsupported(&self) -> GraphFailure {
        unsupported(format!(
            "Unsupported filter: {} can only be filtered by {} with ge, gt, le, lt or eq and an unquoted UTC instant, combined with 'and'.",
            self.stream.set_name(),
            self.stream.time_field()
        ))
    }
}

fn parse_filter(text: &str, stream: AuditStream) -> Result<Window, GraphFailure> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Err(invalid_filter());
    }
    let mut window = Window::default();
    let mut parser = FilterParser {
        tokens,
        pos: 0,
        stream,
        window: &mut window,
    };
    parser.expr()?;
    if parser.pos != parser.tokens.len() {
        return Err(invalid_filter());
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(text: &str) -> Ticks {
        timestamp::parse_ticks(text).unwrap()
    }

    fn parse(raw: &str) -> Result<LogQuery, GraphFailure> {
        LogQuery::parse(Some(raw), AuditStream::SignIns)
    }

    #[test]
    fn window_from_operators() {
        let q = parse(
            "$filter=createdDateTime ge 2026-11-26T21:00:00Z and createdDateTime lt 2026-11-26T21:15:00Z",
        )
        .unwrap();
        assert_eq!(q.window.lo, Some(ticks("2026-11-26T21:00:00Z")));
        assert_eq!(q.window.hi, Some(ticks("2026-11-26T21:15:00Z")));
        let q = parse(
            "$filter=(createdDateTime gt 2026-11-26T21:00:00Z) and (createdDateTime le 2026-11-26T21:15:00.5Z)",
        )
        .unwrap();
        assert_eq!(q.window.lo, Some(ticks("2026-11-26T21:00:00Z") + 1));
        assert_eq!(q.window.hi, Some(ticks("2026-11-26T21:15:00.5Z") + 1));
        // Sub-tick literals compare as instants: ge rounds up, le rounds down.
        let q = parse(
            "$filter=createdDateTime ge 2026-11-26T21:00:00.00000001Z and createdDateTime le 2026-11-26T21:00:00.00000019Z",
        )
        .unwrap();
        assert_eq!(q.window.lo, Some(ticks("2026-11-26T21:00:00Z") + 1));
        assert_eq!(q.window.hi, Some(ticks("2026-11-26T21:00:00Z") + 2));
        assert!(q.descending);
        assert_eq!(q.top, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn rejects_what_it_does_not_model() {
        let code = |raw: &str| parse(raw).unwrap_err().code;
        assert_eq!(
            code("$filter=createdDateTime ge '2026-11-26T21:00:00Z'"),
            "BadRequest"
        );
        assert_eq!(code("$filter=createdDateTime ge 2026-11-26"), "BadRequest");
        assert_eq!(code("$filter=createdDateTime ge"), "BadRequest");
        assert_eq!(
            code("$filter=createdDateTime foo 2026-11-26T21:00:00Z"),
            "BadRequest"
        );
        assert_eq!(
            code("$filter=(createdDateTime ge 2026-11-26T21:00:00Z"),
            "BadRequest"
        );
        assert_eq!(code("$filter="), "BadRequest");
        assert_eq!(
            code("$filter=activityDateTime ge 2026-11-26T21:00:00Z"),
            "Request_UnsupportedQuery"
        );
        assert_eq!(code("$filter=userId eq 'x'"), "Request_UnsupportedQuery");
        assert_eq!(
            code(
                "$filter=createdDateTime ge 2026-11-26T21:00:00Z or createdDateTime lt 2026-11-26T21:15:00Z"
            ),
            "Request_UnsupportedQuery"
        );
        assert_eq!(
            code("$filter=startsWith(appDisplayName,'Graph')"),
            "Request_UnsupportedQuery"
        );
        assert_eq!(code("$orderby=userId"), "Request_UnsupportedQuery");
        assert_eq!(code("$orderby=createdDateTime up"), "BadRequest");
        assert_eq!(code("$top=0"), "BadRequest");
        assert_eq!(code("$top=1001"), "BadRequest");
        assert_eq!(code("$top=1&$top=2"), "BadRequest");
        assert_eq!(code("$count=true"), "BadRequest");
        assert_eq!(code("$skiptoken=%%%"), "Request_BadRequest");
    }

    #[test]
    fn skiptoken_round_trips_and_is_bound_to_stream_and_order() {
        let key = (ticks("2026-11-26T21:00:00Z"), "a:b".to_owned());
        let token = encode_skiptoken(AuditStream::SignIns, true, &key);
        let q = parse(&format!("$skiptoken={token}")).unwrap();
        assert_eq!(q.after, Some(key.clone()));
        assert!(parse(&format!("$skiptoken={token}&$orderby=createdDateTime asc")).is_err());
        assert!(
            LogQuery::parse(
                Some(&format!("$skiptoken={token}")),
                AuditStream::DirectoryAudits
            )
            .is_err()
        );
    }

    #[test]
    fn next_link_keeps_options_and_adds_top() {
        let q = parse("$filter=createdDateTime ge 2026-11-26T21:00:00Z&$select=userId").unwrap();
        let link = q.next_link(
            "http://h",
            "/v1.0/auditLogs/signIns",
            AuditStream::SignIns,
            &(5, "x".into()),
        );
        assert!(
            link.starts_with("http://h/v1.0/auditLogs/signIns?$filter=createdDateTime+ge+2026-11-26T21%3A00%3A00Z&$select=userId&$top=1000&$skiptoken="),
            "{link}"
        );
        let query = link.split_once('?').unwrap().1;
        let again = parse(query).unwrap();
        assert_eq!(again.window, q.window);
        assert_eq!(again.after, Some((5, "x".to_owned())));
    }
}
