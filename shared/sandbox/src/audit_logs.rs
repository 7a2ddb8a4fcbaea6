//! Microsoft Graph audit logs: `GET /v1.0/auditLogs/directoryAudits` and `GET /v1.0/auditLogs/signIns`.
//!
//! Why it exists: our exporter pages these two lists by time window and a benchmark pushes a million
//! records through it, so the sandbox has to answer the way Graph does, at that volume, without a
//! million records in memory. Contracts: docs/protocols/graph-api.md A.10 (project notes), and
//! Microsoft's pages <https://learn.microsoft.com/en-us/graph/api/directoryaudit-list?view=graph-rest-1.0>
//! and <https://learn.microsoft.com/en-us/graph/api/signin-list?view=graph-rest-1.0>.
//!
//! Graph behaviour reproduced:
//! - Records are shaped as in those pages' examples (the `synthetic` module has the types),
//!   timestamps in UTC with seven fractional digits (`2026-11-26T21:03:12.1234567Z`), including the
//!   documented quirk that some directory audit targets spell their type `Type`.
//! - Newest first by default ("by default, the most recent sign-ins are returned first"; the sandbox
//!   does the same for directory audits), `$orderby=<timeField> asc|desc`.
//! - `$top` from 1 to 1,000; the default page is 1,000 for both lists (the documented default of
//!   sign-ins; Graph's unparameterised directory-audit next links also resume after 1,000).
//! - `$filter` on the time field only (`activityDateTime` / `createdDateTime`): `ge`, `gt`, `le`,
//!   `lt`, `eq` with unquoted UTC instants, joined by `and`, compared as instants. Anything else is a
//!   400 in Graph's envelope (the `query` module), never a silently unfiltered answer.
//! - `@odata.context`, and `@odata.nextLink` carrying the request's options, `$top`, and an opaque
//!   `$skiptoken`. The token is a keyset cursor over (time, id): records written while a client pages
//!   do not shift its pages. A malformed or foreign token is a 400.
//! - Sign-in logs need a premium licence: a stream marked unlicensed ([`AuditLogs::set_unlicensed`])
//!   answers 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`, Graph's real answer.
//! - Creating, updating or deleting a user through the Graph routes appends a Core Directory audit
//!   ("Add user", "Update user", "Delete user") whose correlation id is the request's
//!   `client-request-id` when it is a GUID, as Entra propagates it.
//! - Like every Graph route, these sit behind the bearer check, the error envelope with request ids,
//!   and the fault layer (429/503/504, malformed JSON, dropped connections).
//!
//! Records come from two sources that merge in (time, id) order (the `store` module): explicit
//! records a test inserts (any time, optionally visible only from a later instant, i.e. a late
//! arrival) and lazy generators that derive record `i` from its index, so a page costs
//! O(page + log n).

mod query;
mod store;
mod synthetic;
mod timestamp;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, Uri, header};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::directory::{Caller, GraphFailure, RequestIds};
use crate::{Sandbox, SandboxConfig, SandboxError, SandboxState};
use query::LogQuery;
pub use query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use store::{Explicit, Generator, Scan, Scanned, Source, StreamLog, Window};

/// Graph's code for audit-log requests from a tenant without the premium licence.
pub const UNLICENSED_CODE: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";
/// Graph's message for it.
pub const UNLICENSED_MESSAGE: &str = "Neither tenant is B2C or tenant doesn't have premium license";

/// Graph's content type for OData collections.
const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// One of the two audit-log lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditStream {
    /// `/auditLogs/directoryAudits`, ordered and filtered by `activityDateTime`.
    DirectoryAudits,
    /// `/auditLogs/signIns`, ordered and filtered by `createdDateTime`.
    SignIns,
}

impl AuditStream {
    /// Both streams.
    pub const ALL: [AuditStream; 2] = [AuditStream::DirectoryAudits, AuditStream::SignIns];

    /// The property records are ordered, filtered and paged by.
    pub fn time_field(self) -> &'static str {
        match self {
            AuditStream::DirectoryAudits => "activityDateTime",
            AuditStream::SignIns => "createdDateTime",
        }
    }

    /// The entity set, as in `@odata.context` (`auditLogs/signIns`).
    pub fn set_name(self) -> &'static str {
        match self {
            AuditStream::DirectoryAudits => "auditLogs/directoryAudits",
            AuditStream::SignIns => "auditLogs/signIns",
        }
    }

    /// The route path under the Graph root, e.g. `/v1.0/auditLogs/signIns`.
    pub fn path(self) -> &'static str {
        match self {
            AuditStream::DirectoryAudits => "/v1.0/auditLogs/directoryAudits",
            AuditStream::SignIns => "/v1.0/auditLogs/signIns",
        }
    }

    /// Short name inside skiptokens, so a token cannot be replayed on the other list.
    fn tag(self) -> &'static str {
        match self {
            AuditStream::DirectoryAudits => "da",
            AuditStream::SignIns => "si",
        }
    }

    fn index(self) -> usize {
        match self {
            AuditStream::DirectoryAudits => 0,
            AuditStream::SignIns => 1,
        }
    }
}

/// The audit logs of the tenant: explicit records, generators and licence switches per stream.
///
/// Reach it as [`Sandbox::audit_logs`] (or `state().audit_logs`).
#[derive(Debug)]
pub struct AuditLogs {
    tenant: synthetic::Tenant,
    streams: [Mutex<StreamLog>; 2],
    /// Numbers the audit records of user changes, so their ids never collide.
    changes: AtomicU64,
}

impl AuditLogs {
    /// Empty logs for the configured tenant, licensed.
    pub fn new(config: &SandboxConfig) -> Self {
        Self {
            tenant: synthetic::Tenant {
                domain: format!("{}.onmicrosoft.com", config.tenant_name),
                tenant_id: config.tenant_id.clone(),
                tenant_name: config.tenant_name.clone(),
                graph_client_id: config.graph_client_id.clone(),
            },
            streams: [
                Mutex::new(StreamLog::default()),
                Mutex::new(StreamLog::default()),
            ],
            changes: AtomicU64::new(0),
        }
    }

    fn lock(&self, stream: AuditStream) -> MutexGuard<'_, StreamLog> {
        self.streams[stream.index()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds one record, visible at once. The record must be a JSON object whose time field
    /// ([`AuditStream::time_field`]) is a UTC instant (`2026-11-26T21:03:12.1234567Z`, 0-9 fractional
    /// digits; it is stored and shown with 7, truncated to 100 ns). Without an `id` a random GUID is
    /// assigned. Returns the id; an id already inserted into the stream is refused.
    pub fn insert(&self, stream: AuditStream, record: Value) -> Result<String, SandboxError> {
        self.insert_record(stream, record, None)
    }

    /// Like [`AuditLogs::insert`], but the record is left out of every answer (and of
    /// [`AuditLogs::ids_between`]) until `visible_from`: a late arrival, as Entra's logs have when a
    /// record shows up minutes after its own timestamp.
    pub fn insert_visible_from(
        &self,
        stream: AuditStream,
        record: Value,
        visible_from: SystemTime,
    ) -> Result<String, SandboxError> {
        self.insert_record(stream, record, Some(visible_from))
    }

    fn insert_record(
        &self,
        stream: AuditStream,
        record: Value,
        visible_from: Option<SystemTime>,
    ) -> Result<String, SandboxError> {
        let Value::Object(mut object) = record else {
            return Err(SandboxError::Invalid(
                "an audit record must be a JSON object".into(),
            ));
        };
        let field = stream.time_field();
        let ticks = object
            .get(field)
            .and_then(Value::as_str)
            .and_then(timestamp::parse_ticks)
            .ok_or_else(|| {
                SandboxError::Invalid(format!(
                    "'{field}' must be a UTC instant such as 2026-11-26T21:03:12.1234567Z"
                ))
            })?;
        object.insert(field.to_owned(), Value::String(timestamp::format(ticks)));
        let id = match object.get("id") {
            None | Some(Value::Null) => {
                let id = uuid::Uuid::new_v4().to_string();
                object.insert("id".to_owned(), Value::String(id.clone()));
                id
            }
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(_) => {
                return Err(SandboxError::Invalid(
                    "'id' must be a non-empty string".into(),
                ));
            }
        };
        let body = serde_json::to_string(&Value::Object(object))
            .map_err(|e| SandboxError::Invalid(e.to_string()))?;
        self.insert_serialized(stream, ticks, id, body.into(), visible_from)
    }

    fn insert_serialized(
        &self,
        stream: AuditStream,
        ticks: timestamp::Ticks,
        id: String,
        body: Arc<str>,
        visible_from: Option<SystemTime>,
    ) -> Result<String, SandboxError> {
        let mut log = self.lock(stream);
        if log.explicit_ids.contains_key(&id) {
            return Err(SandboxError::Invalid(format!(
                "a record with id '{id}' is already in {}",
                stream.set_name()
            )));
        }
        log.explicit_ids.insert(id.clone(), ticks);
        log.explicit
            .insert((ticks, id.clone()), Explicit { body, visible_from });
        Ok(id)
    }

    /// Adds `count` synthetic records, the i-th at `first + i * spacing` (times truncated to 100 ns;
    /// `spacing` must be at least 100 ns). Records are derived from their index when a page needs
    /// them, so a generator costs a few words however large `count` is. Ids and contents are
    /// deterministic: the n-th `generate` call on a stream (counting since the last
    /// [`AuditLogs::clear`]) produces the same records in every sandbox.
    pub fn generate(
        &self,
        stream: AuditStream,
        count: u64,
        first: impl Into<SystemTime>,
        spacing: Duration,
    ) -> Result<(), SandboxError> {
        let spacing = timestamp::duration_ticks(spacing);
        if spacing < 1 {
            return Err(SandboxError::Invalid(
                "generated records need a spacing of at least 100 ns".into(),
            ));
        }
        let first = timestamp::nanos(first.into()).div_euclid(timestamp::NANOS_PER_TICK);
        let last = spacing
            .checked_mul(i128::from(count.saturating_sub(1)))
            .and_then(|span| first.checked_add(span));
        let range = i128::from(timestamp::MIN_TICKS)..=i128::from(timestamp::MAX_TICKS);
        if !range.contains(&first) || !last.is_some_and(|last| range.contains(&last)) {
            return Err(SandboxError::Invalid(
                "generated records must fall between years 0001 and 9999".into(),
            ));
        }
        if count == 0 {
            return Ok(());
        }
        let mut log = self.lock(stream);
        let seed = log.next_seed;
        log.next_seed += 1;
        log.generators.push(Generator {
            seed,
            first: timestamp::clamp(first),
            spacing: timestamp::clamp(spacing),
            count,
        });
        Ok(())
    }

    /// Forgets every record of the stream (explicit and generated); the licence switch stays.
    pub fn clear(&self, stream: AuditStream) {
        let mut log = self.lock(stream);
        let unlicensed = log.unlicensed;
        *log = StreamLog {
            unlicensed,
            ..StreamLog::default()
        };
    }

    /// Every record stored in the stream, including late arrivals not yet visible.
    pub fn total(&self, stream: AuditStream) -> u64 {
        self.lock(stream).total()
    }

    /// Ids of the records visible now whose time is in `[start, end)`, oldest first (ties by id):
    /// what an export of that window must deliver.
    pub fn ids_between(
        &self,
        stream: AuditStream,
        start: impl Into<SystemTime>,
        end: impl Into<SystemTime>,
    ) -> Vec<String> {
        self.entries_between(stream, start, end)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// Like [`AuditLogs::ids_between`], with each record's time.
    pub fn entries_between(
        &self,
        stream: AuditStream,
        start: impl Into<SystemTime>,
        end: impl Into<SystemTime>,
    ) -> Vec<(String, SystemTime)> {
        let window = Window {
            lo: Some(timestamp::ceil_system_time(start.into())),
            hi: Some(timestamp::ceil_system_time(end.into())),
        };
        let scan = Scan {
            window,
            descending: false,
            after: None,
            limit: usize::MAX,
            now: SystemTime::now(),
        };
        self.scan(stream, &scan)
            .into_iter()
            .map(|s| (s.key.1, timestamp::to_system_time(s.key.0)))
            .collect()
    }

    /// An explicitly inserted record (including user-change audits), visible or not, by id.
    /// Generated records are not looked up by id.
    pub fn record(&self, stream: AuditStream, id: &str) -> Option<Value> {
        let log = self.lock(stream);
        let ticks = *log.explicit_ids.get(id)?;
        let entry = log.explicit.get(&(ticks, id.to_owned()))?;
        serde_json::from_str(&entry.body).ok()
    }

    /// Marks a stream as needing a licence the tenant lacks: it answers 403
    /// [`UNLICENSED_CODE`] until switched back. Records are kept meanwhile.
    pub fn set_unlicensed(&self, stream: AuditStream, unlicensed: bool) {
        self.lock(stream).unlicensed = unlicensed;
    }

    pub fn is_unlicensed(&self, stream: AuditStream) -> bool {
        self.lock(stream).unlicensed
    }

    fn scan(&self, stream: AuditStream, scan: &Scan<'_>) -> Vec<Scanned> {
        let log = self.lock(stream);
        log.scan(scan, &|generator, index| {
            synthetic::generated_id(stream, generator, index)
        })
    }

    /// Appends the directory audit of a user change made through the Graph routes.
    pub(crate) fn user_changed(&self, change: UserChange<'_>, ids: &RequestIds) {
        let now = timestamp::from_system_time(SystemTime::now());
        let correlation_id = [&ids.client_request_id, &ids.request_id]
            .into_iter()
            .find(|id| uuid::Uuid::parse_str(id).is_ok())
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let sequence = self.changes.fetch_add(1, Ordering::Relaxed);
        let id = synthetic::directory_audit_id(
            &correlation_id,
            synthetic::mix(sequence ^ 0x05E2_C4A9_0E00),
        );
        let (activity, operation, user, modified) = match change {
            UserChange::Added(user) => {
                let mut modified: Vec<synthetic::ModifiedProperty> = user
                    .iter()
                    .filter(|(name, _)| !matches!(name.as_str(), "id" | "createdDateTime"))
                    .map(|(name, value)| property_change(name, None, Some(value)))
                    .collect();
                let names: Vec<String> = modified
                    .iter()
                    .map(|p| p.display_name.to_string())
                    .collect();
                modified.push(synthetic::included_updated_properties(
                    &names.iter().map(String::as_str).collect::<Vec<_>>(),
                ));
                ("Add user", "Add", user, modified)
            }
            UserChange::Updated { before, after } => {
                let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
                names.sort();
                names.dedup();
                let mut modified: Vec<synthetic::ModifiedProperty> = names
                    .into_iter()
                    .filter(|name| before.get(*name) != after.get(*name))
                    .map(|name| property_change(name, before.get(name), after.get(name)))
                    .collect();
                let changed: Vec<String> = modified
                    .iter()
                    .map(|p| p.display_name.to_string())
                    .collect();
                modified.push(synthetic::included_updated_properties(
                    &changed.iter().map(String::as_str).collect::<Vec<_>>(),
                ));
                ("Update user", "Update", after, modified)
            }
            UserChange::Deleted(user) => ("Delete user", "Delete", user, Vec::new()),
        };
        let text = |name: &str| user.get(name).and_then(Value::as_str).map(str::to_owned);
        let record = synthetic::DirectoryAudit {
            id: id.clone(),
            category: "UserManagement".into(),
            correlation_id,
            result: "success".into(),
            result_reason: "".into(),
            activity_display_name: activity.into(),
            activity_date_time: timestamp::format(now),
            logged_by_service: "Core Directory".into(),
            operation_type: operation.into(),
            initiated_by: synthetic::InitiatedBy {
                user: None,
                app: Some(synthetic::graph_client(&self.tenant)),
            },
            target_resources: vec![synthetic::user_target(
                text("id").unwrap_or_default(),
                text("displayName"),
                text("userPrincipalName"),
                false,
                modified,
            )],
            additional_details: vec![synthetic::KeyValue {
                key: "UserType".into(),
                value: text("userType").unwrap_or_else(|| "Member".to_owned()),
            }],
        };
        let Ok(body) = serde_json::to_string(&record) else {
            return;
        };
        if let Err(error) =
            self.insert_serialized(AuditStream::DirectoryAudits, now, id, body.into(), None)
        {
            tracing::warn!(%error, "user change audit record not stored");
        }
    }
}

/// A user change made through the Graph routes, for [`AuditLogs::user_changed`].
pub(crate) enum UserChange<'a> {
    Added(&'a Map<String, Value>),
    Updated {
        before: &'a Map<String, Value>,
        after: &'a Map<String, Value>,
    },
    Deleted(&'a Map<String, Value>),
}

/// A `modifiedProperties` entry. Names are written as Entra writes directory properties: the Graph
/// name with its first letter capitalised (`displayName` -> `DisplayName`); extension attributes keep
/// their name. Password values are never logged.
fn property_change(
    name: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) -> synthetic::ModifiedProperty {
    let display_name = if name.starts_with("extension_") {
        name.to_owned()
    } else {
        let mut chars = name.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().chain(chars).collect()
        })
    };
    let secret = name.eq_ignore_ascii_case("passwordProfile");
    let value = |value: Option<&Value>| {
        if secret {
            None
        } else {
            Some(synthetic::audit_value(value.unwrap_or(&Value::Null)))
        }
    };
    synthetic::ModifiedProperty {
        display_name: display_name.into(),
        old_value: value(old),
        new_value: value(new),
    }
}

impl Sandbox {
    /// The tenant's audit logs (directory audits and sign-ins).
    pub fn audit_logs(&self) -> &AuditLogs {
        &self.state().audit_logs
    }
}

/// The audit-log routes; merged into the Graph router, behind its envelope middleware.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    // Graph matches path segments case-insensitively; its documentation and next links use both
    // `directoryAudits`/`directoryaudits` and `signIns`/`signins`.
    Router::new()
        .route(
            "/v1.0/auditLogs/directoryAudits",
            get(list_directory_audits),
        )
        .route(
            "/v1.0/auditLogs/directoryaudits",
            get(list_directory_audits),
        )
        .route("/v1.0/auditLogs/signIns", get(list_sign_ins))
        .route("/v1.0/auditLogs/signins", get(list_sign_ins))
}

async fn list_directory_audits(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, GraphFailure> {
    list(&state, AuditStream::DirectoryAudits, &uri, query.as_deref())
}

async fn list_sign_ins(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, GraphFailure> {
    list(&state, AuditStream::SignIns, &uri, query.as_deref())
}

fn list(
    state: &SandboxState,
    stream: AuditStream,
    uri: &Uri,
    raw_query: Option<&str>,
) -> Result<Response, GraphFailure> {
    let logs = &state.audit_logs;
    if logs.is_unlicensed(stream) {
        return Err(GraphFailure::new(
            StatusCode::FORBIDDEN,
            UNLICENSED_CODE,
            UNLICENSED_MESSAGE,
        ));
    }
    let query = LogQuery::parse(raw_query, stream)?;
    let scan = Scan {
        window: query.window,
        descending: query.descending,
        after: query.after.as_ref(),
        limit: query.top + 1,
        now: SystemTime::now(),
    };
    let mut page = logs.scan(stream, &scan);
    let next_link = if page.len() > query.top {
        page.truncate(query.top);
        page.last()
            .map(|last| query.next_link(&state.base_url, uri.path(), stream, &last.key))
    } else {
        None
    };

    let mut context = format!("{}/v1.0/$metadata#{}", state.base_url, stream.set_name());
    if let Some(select) = &query.select {
        context.push_str(&format!("({})", select.join(",")));
    }
    let mut body: Vec<u8> = Vec::with_capacity(256 + page.len() * 2048);
    body.extend_from_slice(b"{\"@odata.context\":");
    write_json(&mut body, &context)?;
    if let Some(link) = &next_link {
        body.extend_from_slice(b",\"@odata.nextLink\":");
        write_json(&mut body, link)?;
    }
    body.extend_from_slice(b",\"value\":[");
    for (i, item) in page.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        render(
            &logs.tenant,
            stream,
            item,
            query.select.as_deref(),
            &mut body,
        )?;
    }
    body.extend_from_slice(b"]}");
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    Ok(response)
}

fn internal_error() -> GraphFailure {
    GraphFailure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UnknownError",
        "The audit log record could not be serialized.",
    )
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), GraphFailure> {
    serde_json::to_writer(out, value).map_err(|_| internal_error())
}

/// Writes one record, projected by `$select` when given.
fn render(
    tenant: &synthetic::Tenant,
    stream: AuditStream,
    item: Scanned,
    select: Option<&[String]>,
    out: &mut Vec<u8>,
) -> Result<(), GraphFailure> {
    let (ticks, id) = item.key;
    match (item.source, select) {
        (Source::Explicit(body), None) => {
            out.extend_from_slice(body.as_bytes());
            Ok(())
        }
        (Source::Explicit(body), Some(select)) => {
            let object: Map<String, Value> =
                serde_json::from_str(&body).map_err(|_| internal_error())?;
            write_json(out, &project(&object, select))
        }
        (Source::Generated(generator, index), select) => {
            let value = match stream {
                AuditStream::SignIns => {
                    let record = synthetic::sign_in(tenant, &generator, index, ticks, id);
                    if select.is_none() {
                        return write_json(out, &record);
                    }
                    serde_json::to_value(&record)
                }
                AuditStream::DirectoryAudits => {
                    let record = synthetic::directory_audit(tenant, &generator, index, ticks, id);
                    if select.is_none() {
                        return write_json(out, &record);
                    }
                    serde_json::to_value(&record)
                }
            };
            match (value, select) {
                (Ok(Value::Object(object)), Some(select)) => {
                    write_json(out, &project(&object, select))
                }
                _ => Err(internal_error()),
            }
        }
    }
}

/// `$select`: the named properties (matched case-insensitively), `null` when a record lacks one.
fn project(object: &Map<String, Value>, select: &[String]) -> Map<String, Value> {
    select
        .iter()
        .map(|name| {
            let found = object.get_key_value(name.as_str()).or_else(|| {
                object
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
            });
            match found {
                Some((key, value)) => (key.clone(), value.clone()),
                None => (name.clone(), Value::Null),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_validates_its_arguments() {
        let logs = AuditLogs::new(&SandboxConfig::default());
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert!(
            logs.generate(AuditStream::SignIns, 10, at, Duration::from_nanos(99))
                .is_err()
        );
        assert!(
            logs.generate(AuditStream::SignIns, u64::MAX, at, Duration::from_secs(1))
                .is_err()
        );
        assert!(
            logs.generate(AuditStream::SignIns, u64::MAX, at, Duration::MAX)
                .is_err()
        );
        logs.generate(AuditStream::SignIns, 0, at, Duration::from_secs(1))
            .unwrap();
        assert_eq!(logs.total(AuditStream::SignIns), 0);
        logs.generate(AuditStream::SignIns, 3, at, Duration::from_secs(1))
            .unwrap();
        assert_eq!(logs.total(AuditStream::SignIns), 3);
        assert_eq!(logs.total(AuditStream::DirectoryAudits), 0);
    }

    #[test]
    fn inserts_canonicalise_time_and_refuse_duplicates() {
        let logs = AuditLogs::new(&SandboxConfig::default());
        let id = logs
            .insert(
                AuditStream::SignIns,
                serde_json::json!({"id": "a", "createdDateTime": "2026-11-26T21:00:00Z"}),
            )
            .unwrap();
        assert_eq!(id, "a");
        let stored = logs.record(AuditStream::SignIns, "a").unwrap();
        assert_eq!(stored["createdDateTime"], "2026-11-26T21:00:00.0000000Z");
        assert!(
            logs.insert(
                AuditStream::SignIns,
                serde_json::json!({"id": "a", "createdDateTime": "2026-11-26T21:00:00Z"}),
            )
            .is_err()
        );
        for bad in [
            serde_json::json!([]),
            serde_json::json!({"createdDateTime": "2026-11-26"}),
            serde_json::json!({"activityDateTime": "2026-11-26T21:00:00Z"}),
            serde_json::json!({"id": 5, "createdDateTime": "2026-11-26T21:00:00Z"}),
        ] {
            assert!(logs.insert(AuditStream::SignIns, bad).is_err());
        }
        let generated = logs
            .insert(
                AuditStream::SignIns,
                serde_json::json!({"createdDateTime": "2026-11-26T21:00:00Z"}),
            )
            .unwrap();
        assert!(uuid::Uuid::parse_str(&generated).is_ok());
        assert_eq!(logs.total(AuditStream::SignIns), 2);
        logs.set_unlicensed(AuditStream::SignIns, true);
        logs.clear(AuditStream::SignIns);
        assert_eq!(logs.total(AuditStream::SignIns), 0);
        assert!(logs.is_unlicensed(AuditStream::SignIns));
    }

    #[test]
    fn property_changes_follow_entra_naming() {
        let change = property_change(
            "displayName",
            Some(&Value::from("Ava")),
            Some(&Value::from("Ava T")),
        );
        assert_eq!(change.display_name, "DisplayName");
        assert_eq!(change.old_value.as_deref(), Some("[\"Ava\"]"));
        assert_eq!(change.new_value.as_deref(), Some("[\"Ava T\"]"));
        let password = property_change("passwordProfile", None, Some(&Value::from("x")));
        assert_eq!(password.new_value, None);
        let added = property_change("extension_abc_tier", None, Some(&Value::from("Gold")));
        assert_eq!(added.display_name, "extension_abc_tier");
        assert_eq!(added.old_value.as_deref(), Some("[]"));
    }
}
