//! OData query options and collection responses, as Graph applies them to directory objects.
//!
//! `$top` (default page 100, at most 999), `$select` (`id` always kept), `$filter` (see [`super::filter`]),
//! `$count=true` (needs `ConsistencyLevel: eventual`; adds `@odata.count` to the first page only) and
//! paging through an absolute `@odata.nextLink` carrying an opaque `$skiptoken`
//! (docs/protocols/change-notifications.md E.4, docs/protocols/graph-api.md (c) rows 1-3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::GraphFailure;
use super::filter::Filter;

pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;
pub(crate) const MAX_PAGE_SIZE: usize = 999;
const SKIPTOKEN_PREFIX: &str = "sandbox-page:";

/// The properties Graph v1.0 returns for a user when the request has no `$select`.
pub(crate) const USER_DEFAULT_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Query options of one request.
#[derive(Debug, Default)]
pub(crate) struct QueryOptions {
    pub(crate) top: Option<usize>,
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Filter>,
    pub(crate) count: bool,
    pub(crate) offset: usize,
    /// Every pair as received (decoded), to rebuild the next link.
    pairs: Vec<(String, String)>,
}

fn bad_request(code: &'static str, message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(StatusCode::BAD_REQUEST, code, message)
}

impl QueryOptions {
    /// Parses the raw query string; `eventual` is whether `ConsistencyLevel: eventual` was sent.
    pub(crate) fn parse(raw: Option<&str>, eventual: bool) -> Result<Self, GraphFailure> {
        let mut options = QueryOptions::default();
        let mut advanced_filter = false;
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let key = key.into_owned();
            let value = value.into_owned();
            match key.to_ascii_lowercase().as_str() {
                "$top" => {
                    let top = value
                        .parse::<usize>()
                        .ok()
                        .filter(|top| (1..=MAX_PAGE_SIZE).contains(top))
                        .ok_or_else(|| {
                            bad_request(
                                "Request_BadRequest",
                                format!(
                                    "Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive."
                                ),
                            )
                        })?;
                    options.top = Some(top);
                }
                "$select" => {
                    let mut select: Vec<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if !select.iter().any(|s| s.eq_ignore_ascii_case("id")) {
                        select.push("id".to_owned());
                    }
                    options.select = Some(select);
                }
                "$filter" => {
                    let filter = Filter::parse(&value).map_err(|e| {
                        bad_request("BadRequest", format!("Invalid filter clause: {e}"))
                    })?;
                    advanced_filter = filter.is_advanced();
                    options.filter = Some(filter);
                }
                "$count" => {
                    options.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(bad_request(
                                "BadRequest",
                                format!("'{value}' is not a valid count option."),
                            ));
                        }
                    };
                }
                "$skiptoken" => {
                    options.offset = URL_SAFE_NO_PAD
                        .decode(&value)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .and_then(|text| {
                            text.strip_prefix(SKIPTOKEN_PREFIX)
                                .and_then(|n| n.parse().ok())
                        })
                        .ok_or_else(|| {
                            bad_request("Request_BadRequest", "Invalid paging token specified.")
                        })?;
                    continue;
                }
                other if other.starts_with('$') => {
                    return Err(bad_request(
                        "BadRequest",
                        format!("Query option '{key}' is not supported by this endpoint."),
                    ));
                }
                _ => {}
            }
            options.pairs.push((key, value));
        }
        if options.count && !eventual {
            return Err(bad_request(
                "Request_BadRequest",
                "$count is not currently supported without the 'ConsistencyLevel: eventual' header.",
            ));
        }
        if advanced_filter && !(eventual && options.count) {
            return Err(bad_request(
                "Request_UnsupportedQuery",
                "Operator 'ne', 'not' or 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
            ));
        }
        Ok(options)
    }

    /// `(a,b)` suffix for `@odata.context` when `$select` was given.
    fn context_suffix(&self) -> String {
        self.select
            .as_ref()
            .map(|select| format!("({})", select.join(",")))
            .unwrap_or_default()
    }

    /// `@odata.context` of a single entity, e.g. `{base}/v1.0/$metadata#users(displayName,id)/$entity`.
    pub(crate) fn entity_context(&self, base_url: &str, set: &str) -> String {
        format!(
            "{base_url}/v1.0/$metadata#{set}{}/$entity",
            self.context_suffix()
        )
    }

    /// Applies `$filter`, `$count`, paging and `$select` to a collection and builds the answer body.
    ///
    /// `items` carry their `@odata.type` when the collection mixes types (members, memberOf).
    pub(crate) fn collection(
        &self,
        base_url: &str,
        path: &str,
        set: &str,
        items: Vec<(Option<&'static str>, Map<String, Value>)>,
        defaults: Option<&[&str]>,
    ) -> Value {
        let matching: Vec<_> = items
            .into_iter()
            .filter(|(_, object)| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&Value::Object(object.clone())))
            })
            .collect();
        let total = matching.len();
        let top = self.top.unwrap_or(DEFAULT_PAGE_SIZE);
        let end = self.offset.saturating_add(top).min(total);
        let start = self.offset.min(end);
        let value: Vec<Value> = matching[start..end]
            .iter()
            .map(|(odata_type, object)| {
                let mut projected = project(object, self.select.as_deref(), defaults);
                if let Some(odata_type) = odata_type {
                    projected.insert("@odata.type".into(), json!(odata_type));
                }
                Value::Object(projected)
            })
            .collect();
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(format!(
                "{base_url}/v1.0/$metadata#{set}{}",
                self.context_suffix()
            )),
        );
        if self.count && self.offset == 0 {
            body.insert("@odata.count".into(), json!(total));
        }
        if end < total {
            body.insert(
                "@odata.nextLink".into(),
                json!(self.next_link(base_url, path, end)),
            );
        }
        body.insert("value".into(), Value::Array(value));
        Value::Object(body)
    }

    /// The same request with a `$skiptoken` for the next page; option names keep their `$`.
    fn next_link(&self, base_url: &str, path: &str, offset: usize) -> String {
        let token = URL_SAFE_NO_PAD.encode(format!("{SKIPTOKEN_PREFIX}{offset}"));
        let mut query: Vec<String> = self
            .pairs
            .iter()
            .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
            .collect();
        query.push(format!("$skiptoken={token}"));
        format!("{base_url}{path}?{}", query.join("&"))
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace("%24", "$")
}

/// `$select` projection (missing selected properties come back as `null`), else the default set for
/// the type (users), else the whole object.
pub(crate) fn project(
    object: &Map<String, Value>,
    select: Option<&[String]>,
    defaults: Option<&[&str]>,
) -> Map<String, Value> {
    let pick = |names: &mut dyn Iterator<Item = &str>| {
        let mut out = Map::new();
        for name in names {
            let found = object.get_key_value(name).or_else(|| {
                object
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
            });
            match found {
                Some((key, value)) => {
                    out.insert(key.clone(), value.clone());
                }
                None if name == "businessPhones" => {
                    out.insert(name.to_owned(), json!([]));
                }
                None => {
                    out.insert(name.to_owned(), Value::Null);
                }
            }
        }
        out
    };
    match (select, defaults) {
        (Some(select), _) => pick(&mut select.iter().map(String::as_str)),
        (None, Some(defaults)) => pick(&mut defaults.iter().copied()),
        (None, None) => object.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_bounds() {
        assert!(QueryOptions::parse(Some("$top=999"), false).is_ok());
        assert!(QueryOptions::parse(Some("$top=0"), false).is_err());
        assert!(QueryOptions::parse(Some("$top=1000"), false).is_err());
        assert!(QueryOptions::parse(Some("$top=x"), false).is_err());
    }

    #[test]
    fn count_and_advanced_operators_need_eventual_consistency() {
        assert!(QueryOptions::parse(Some("$count=true"), false).is_err());
        assert!(QueryOptions::parse(Some("$count=true"), true).is_ok());
        let ne = "$filter=displayName%20ne%20'x'";
        assert!(QueryOptions::parse(Some(ne), true).is_err());
        assert!(QueryOptions::parse(Some(&format!("{ne}&$count=true")), true).is_ok());
    }

    #[test]
    fn paging_builds_a_next_link_that_resumes() {
        let items: Vec<_> = (0..5)
            .map(|i| {
                let mut m = Map::new();
                m.insert("id".into(), json!(i.to_string()));
                (None, m)
            })
            .collect();
        let first = QueryOptions::parse(Some("$top=2&$select=displayName"), false).unwrap();
        let page = first.collection("http://h", "/v1.0/users", "users", items.clone(), None);
        assert_eq!(page["value"].as_array().unwrap().len(), 2);
        assert_eq!(page["value"][0], json!({"displayName": null, "id": "0"}));
        let next = page["@odata.nextLink"].as_str().unwrap();
        assert!(next.starts_with("http://h/v1.0/users?$top=2&$select=displayName&$skiptoken="));
        let query = next.split_once('?').unwrap().1;
        let second = QueryOptions::parse(Some(query), false).unwrap();
        let page = second.collection("http://h", "/v1.0/users", "users", items, None);
        assert_eq!(page["value"][0]["id"], "2");
    }
}
