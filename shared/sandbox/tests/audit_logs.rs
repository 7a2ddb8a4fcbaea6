//! `/v1.0/auditLogs/directoryAudits` and `/v1.0/auditLogs/signIns` over real HTTP, with a token from
//! the sandbox's own token endpoint, as an exporter would call them.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use entra_sandbox::faults::{Fault, FaultRule, RetryAfter};
use entra_sandbox::{AuditStream, Sandbox};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-26 21:00:00 UTC);

fn at(offset: Duration) -> SystemTime {
    SystemTime::from(T0) + offset
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

struct Tenant {
    sandbox: Sandbox,
    client: reqwest::Client,
    token: String,
}

async fn tenant() -> Tenant {
    let sandbox = Sandbox::start_default().await.unwrap();
    let client = reqwest::Client::new();
    let config = sandbox.config().clone();
    let response = client
        .post(sandbox.token_endpoint_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", config.graph_client_id.as_str()),
            ("client_secret", config.graph_client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    Tenant {
        sandbox,
        client,
        token,
    }
}

fn url(tenant: &Tenant, stream: AuditStream) -> String {
    format!(
        "{}{}",
        tenant.sandbox.url().as_str().trim_end_matches('/'),
        stream.path()
    )
}

impl Tenant {
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn list(&self, stream: AuditStream, params: &[(&str, &str)]) -> (StatusCode, Value) {
        self.send(self.client.get(url(self, stream)).query(params))
            .await
    }

    async fn follow(&self, link: &str) -> (StatusCode, Value) {
        self.send(self.client.get(link)).await
    }

    /// Every page of a listing, following next links verbatim.
    async fn pages(&self, stream: AuditStream, params: &[(&str, &str)]) -> Vec<Value> {
        let (status, mut page) = self.list(stream, params).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut pages = Vec::new();
        loop {
            let next = page["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(page);
            let Some(link) = next else { break };
            let (status, next_page) = self.follow(&link).await;
            assert_eq!(status, StatusCode::OK, "{next_page}");
            page = next_page;
        }
        pages
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sign_in(id: &str, created: &str) -> Value {
    json!({"id": id, "createdDateTime": created, "userDisplayName": "Test", "status": {"errorCode": 0}})
}

fn window(field: &str, start: &str, end: &str) -> String {
    format!("{field} ge {start} and {field} lt {end}")
}

#[tokio::test]
async fn filter_operators_and_window_edges() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    for (id, created) in [
        ("before", "2026-11-26T20:59:59.9999999Z"),
        ("start", "2026-11-26T21:00:00Z"),
        ("inside", "2026-11-26T21:07:30.5Z"),
        ("last", "2026-11-26T21:14:59.9999999Z"),
        ("end", "2026-11-26T21:15:00.0000000Z"),
    ] {
        logs.insert(AuditStream::SignIns, sign_in(id, created))
            .unwrap();
    }
    let cases: [(&str, &[&str]); 8] = [
        (
            "createdDateTime ge 2026-11-26T21:00:00Z and createdDateTime lt 2026-11-26T21:15:00Z",
            &["last", "inside", "start"],
        ),
        (
            "createdDateTime gt 2026-11-26T21:00:00Z and createdDateTime le 2026-11-26T21:15:00Z",
            &["end", "last", "inside"],
        ),
        (
            "(createdDateTime ge 2026-11-26T21:00:00.0000000Z) and (createdDateTime lt 2026-11-26T21:15:00.0000000Z)",
            &["last", "inside", "start"],
        ),
        ("createdDateTime eq 2026-11-26T21:07:30.5Z", &["inside"]),
        (
            "createdDateTime ge 2026-11-26T21:07:30.5Z and createdDateTime le 2026-11-26T21:07:30.5000000Z",
            &["inside"],
        ),
        // Instants, not strings: .99999991 lies between "before" (.9999999) and "start", and
        // "start" lies before 21:00:00.00000001.
        (
            "createdDateTime gt 2026-11-26T20:59:59.99999991Z and createdDateTime lt 2026-11-26T21:00:00.00000001Z",
            &["start"],
        ),
        ("createdDateTime lt 2026-11-26T21:00:00Z", &["before"]),
        (
            "createdDateTime ge 2026-11-26T21:15:00Z and createdDateTime lt 2026-11-26T21:00:00Z",
            &[],
        ),
    ];
    for (filter, expected) in cases {
        let (status, page) = t.list(AuditStream::SignIns, &[("$filter", filter)]).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {page}");
        assert_eq!(ids_of(&page), expected, "{filter}");
    }
    assert_eq!(
        logs.ids_between(AuditStream::SignIns, T0, T0 + time::Duration::minutes(15)),
        ["start", "inside", "last"]
    );

    // The same rules on directory audits, by activityDateTime.
    for (id, time) in [
        ("a-start", "2026-11-26T21:00:00Z"),
        ("a-end", "2026-11-26T21:15:00Z"),
    ] {
        logs.insert(
            AuditStream::DirectoryAudits,
            json!({"id": id, "activityDateTime": time, "activityDisplayName": "Update user"}),
        )
        .unwrap();
    }
    let filter = window(
        "activityDateTime",
        "2026-11-26T21:00:00Z",
        "2026-11-26T21:15:00Z",
    );
    let (status, page) = t
        .list(AuditStream::DirectoryAudits, &[("$filter", &filter)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_of(&page), ["a-start"]);
    assert_eq!(
        page["value"][0]["activityDateTime"],
        "2026-11-26T21:00:00.0000000Z"
    );
}

#[tokio::test]
async fn default_order_is_newest_first_and_orderby_flips_it() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    for stream in AuditStream::ALL {
        logs.generate(stream, 40, at(secs(1)), Duration::from_millis(1500))
            .unwrap();
        // Same instant as a generated record: ties are broken by id.
        for id in ["00000000-tie", "ffffffff-tie"] {
            let mut record = json!({"id": id});
            record[stream.time_field()] = json!("2026-11-26T21:00:04.0000000Z");
            logs.insert(stream, record).unwrap();
        }
        let field = stream.time_field();
        let keys = |page: &Value| -> Vec<(String, String)> {
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r[field].as_str().unwrap().to_owned(),
                        r["id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let (_, default) = t.list(stream, &[]).await;
        let desc_order = format!("{field} desc");
        let asc_order = format!("{field} asc");
        let (_, desc) = t.list(stream, &[("$orderby", &desc_order)]).await;
        let (_, asc) = t.list(stream, &[("$orderby", &asc_order)]).await;
        let (_, bare) = t.list(stream, &[("$orderby", field)]).await;
        let ascending = keys(&asc);
        assert_eq!(ascending.len(), 42);
        let mut sorted = ascending.clone();
        sorted.sort();
        assert_eq!(ascending, sorted, "{stream:?} asc is (time, id) order");
        let mut reversed = ascending.clone();
        reversed.reverse();
        assert_eq!(
            keys(&default),
            reversed,
            "{stream:?} default is newest first"
        );
        assert_eq!(keys(&desc), reversed);
        assert_eq!(keys(&bare), ascending, "OData's default direction is asc");
        let ties: Vec<&str> = ascending
            .iter()
            .filter(|(time, _)| time == "2026-11-26T21:00:04.0000000Z")
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(ties.len(), 3, "{ties:?}");
        assert_eq!(ties.first(), Some(&"00000000-tie"));
        assert_eq!(ties.last(), Some(&"ffffffff-tie"));
    }
}

#[tokio::test]
async fn paging_2500_generated_records_with_top_1000_yields_each_exactly_once() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    logs.generate(AuditStream::SignIns, 2500, T0, Duration::from_millis(250))
        .unwrap();
    let expected: HashSet<String> = logs
        .ids_between(AuditStream::SignIns, T0, at(secs(3600)))
        .into_iter()
        .collect();
    assert_eq!(expected.len(), 2500);
    let filter = window(
        "createdDateTime",
        "2026-11-26T21:00:00Z",
        "2026-11-26T22:00:00Z",
    );
    for order in ["createdDateTime desc", "createdDateTime asc"] {
        let pages = t
            .pages(
                AuditStream::SignIns,
                &[("$filter", &filter), ("$orderby", order), ("$top", "1000")],
            )
            .await;
        let sizes: Vec<usize> = pages
            .iter()
            .map(|p| p["value"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [1000, 1000, 500], "{order}");
        for page in &pages[..2] {
            let link = page["@odata.nextLink"].as_str().unwrap();
            assert!(link.contains("$top=1000"), "{link}");
            assert!(link.contains("$skiptoken="), "{link}");
            assert!(link.contains("$filter="), "{link}");
            assert!(
                page["@odata.context"]
                    .as_str()
                    .unwrap()
                    .ends_with("/v1.0/$metadata#auditLogs/signIns")
            );
        }
        assert!(pages[2].get("@odata.nextLink").is_none());
        let ids: Vec<String> = pages.iter().flat_map(ids_of).collect();
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), 2500, "{order}: no duplicates");
        assert_eq!(unique, expected, "{order}: nothing skipped");
    }

    // Without $top the page is 1,000 and the next link spells $top out.
    logs.generate(
        AuditStream::DirectoryAudits,
        1001,
        T0,
        Duration::from_secs(1),
    )
    .unwrap();
    let (_, first) = t.list(AuditStream::DirectoryAudits, &[]).await;
    assert_eq!(first["value"].as_array().unwrap().len(), 1000);
    let link = first["@odata.nextLink"].as_str().unwrap();
    assert!(link.contains("$top=1000"), "{link}");
    let (_, rest) = t.follow(link).await;
    assert_eq!(ids_of(&rest).len(), 1);
}

#[tokio::test]
async fn records_written_while_paging_neither_repeat_nor_shift_pages() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    logs.generate(AuditStream::SignIns, 300, T0, secs(1))
        .unwrap();
    let original: HashSet<String> = logs
        .ids_between(AuditStream::SignIns, T0, at(secs(300)))
        .into_iter()
        .collect();
    let filter = window(
        "createdDateTime",
        "2026-11-26T21:00:00Z",
        "2026-11-26T21:05:00Z",
    );
    let (status, first) = t
        .list(
            AuditStream::SignIns,
            &[("$filter", &filter), ("$top", "100")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = ids_of(&first);
    let cursor = first["value"][99].clone();
    assert_eq!(cursor["createdDateTime"], "2026-11-26T21:03:20.0000000Z");

    // Writes landing before the cursor (already paged past) and after it (still to come).
    let cursor_time = cursor["createdDateTime"].as_str().unwrap();
    let inserts = [
        ("newer", "2026-11-26T21:04:10.5Z", false),
        ("older", "2026-11-26T21:00:50.5Z", true),
        ("00000000-tie-below-cursor", cursor_time, true),
        ("ffffffff-tie-above-cursor", cursor_time, false),
    ];
    for (id, created, _) in inserts {
        logs.insert(AuditStream::SignIns, sign_in(id, created))
            .unwrap();
    }
    logs.generate(
        AuditStream::SignIns,
        10,
        at(Duration::from_millis(250)),
        secs(1),
    )
    .unwrap();
    let late_generated: Vec<String> = logs
        .ids_between(
            AuditStream::SignIns,
            at(Duration::from_millis(250)),
            at(Duration::from_millis(250) + secs(9) + Duration::from_nanos(100)),
        )
        .into_iter()
        .filter(|id| !original.contains(id))
        .collect();
    assert_eq!(late_generated.len(), 10);

    let mut next = first["@odata.nextLink"].as_str().map(str::to_owned);
    while let Some(link) = next {
        let (status, page) = t.follow(&link).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(ids_of(&page));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no record twice");
    for id in &original {
        assert!(seen.contains(id), "original record {id} skipped");
    }
    for (id, _, expected) in inserts {
        assert_eq!(seen.contains(&id.to_owned()), expected, "{id}");
    }
    for id in &late_generated {
        assert!(
            seen.contains(id),
            "record generated behind the cursor missing"
        );
    }
    assert_eq!(seen.len(), 300 + 2 + 10);
}

#[tokio::test]
async fn explicit_and_generated_records_merge_in_order() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    logs.generate(AuditStream::DirectoryAudits, 50, T0, secs(2))
        .unwrap();
    logs.generate(AuditStream::DirectoryAudits, 50, at(secs(1)), secs(2))
        .unwrap();
    logs.generate(
        AuditStream::DirectoryAudits,
        5,
        at(secs(10)),
        Duration::from_micros(1),
    )
    .unwrap();
    for (id, time) in [
        ("explicit-first", "2026-11-26T20:59:59Z"),
        ("explicit-mid", "2026-11-26T21:00:10Z"),
        ("explicit-later", "2026-11-26T21:00:33.3Z"),
        ("explicit-last", "2026-11-26T21:30:00Z"),
    ] {
        logs.insert(
            AuditStream::DirectoryAudits,
            json!({"id": id, "activityDateTime": time, "category": "UserManagement"}),
        )
        .unwrap();
    }
    assert_eq!(logs.total(AuditStream::DirectoryAudits), 109);
    let pages = t
        .pages(
            AuditStream::DirectoryAudits,
            &[("$orderby", "activityDateTime asc"), ("$top", "7")],
        )
        .await;
    let records: Vec<(String, String)> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["activityDateTime"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(records.len(), 109);
    assert_eq!(pages.len(), 16);
    let mut sorted = records.clone();
    sorted.sort();
    assert_eq!(records, sorted);
    assert_eq!(records[0].1, "explicit-first");
    assert_eq!(records[108].1, "explicit-last");
    let all = logs.ids_between(
        AuditStream::DirectoryAudits,
        at(secs(0)) - secs(3600),
        at(secs(7200)),
    );
    let paged: Vec<String> = records.into_iter().map(|(_, id)| id).collect();
    assert_eq!(paged, all);
}

#[tokio::test]
async fn late_arrivals_appear_only_from_their_visible_time() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    let filter = window(
        "createdDateTime",
        "2026-11-26T21:00:00Z",
        "2026-11-26T21:15:00Z",
    );
    logs.insert(
        AuditStream::SignIns,
        sign_in("on-time", "2026-11-26T21:01:00Z"),
    )
    .unwrap();
    logs.insert_visible_from(
        AuditStream::SignIns,
        sign_in("arrived-earlier", "2026-11-26T21:02:00Z"),
        SystemTime::now() - secs(60),
    )
    .unwrap();
    let visible_at = SystemTime::now() + Duration::from_millis(400);
    logs.insert_visible_from(
        AuditStream::SignIns,
        sign_in("late", "2026-11-26T21:03:00Z"),
        visible_at,
    )
    .unwrap();
    assert_eq!(logs.total(AuditStream::SignIns), 3);
    let (_, page) = t.list(AuditStream::SignIns, &[("$filter", &filter)]).await;
    assert_eq!(ids_of(&page), ["arrived-earlier", "on-time"]);
    assert_eq!(
        logs.ids_between(AuditStream::SignIns, T0, at(secs(900))),
        ["on-time", "arrived-earlier"]
    );
    while SystemTime::now() < visible_at + Duration::from_millis(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, page) = t.list(AuditStream::SignIns, &[("$filter", &filter)]).await;
    assert_eq!(ids_of(&page), ["late", "arrived-earlier", "on-time"]);
    assert_eq!(
        page["value"][0]["createdDateTime"],
        "2026-11-26T21:03:00.0000000Z"
    );
}

#[tokio::test]
async fn unlicensed_stream_answers_403_in_graphs_envelope() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    logs.generate(AuditStream::SignIns, 3, T0, secs(1)).unwrap();
    logs.set_unlicensed(AuditStream::SignIns, true);
    let response = t
        .client
        .get(url(&t, AuditStream::SignIns))
        .bearer_auth(&t.token)
        .header("client-request-id", "5a0e2f4c-9d7b-4c1e-8a3f-6b2d1c0e9f87")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["code"],
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
    assert_eq!(
        body["error"]["message"],
        "Neither tenant is B2C or tenant doesn't have premium license"
    );
    assert_eq!(body["error"]["innerError"]["request-id"], request_id);
    assert_eq!(
        body["error"]["innerError"]["client-request-id"],
        "5a0e2f4c-9d7b-4c1e-8a3f-6b2d1c0e9f87"
    );
    let (status, _) = t.list(AuditStream::DirectoryAudits, &[]).await;
    assert_eq!(status, StatusCode::OK, "the switch is per stream");
    logs.set_unlicensed(AuditStream::SignIns, false);
    let (status, page) = t.list(AuditStream::SignIns, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_of(&page).len(), 3);
}

#[tokio::test]
async fn unsupported_queries_answer_400_in_graphs_envelope() {
    let t = tenant().await;
    let cases: [(AuditStream, &str, &str, &str); 12] = [
        (
            AuditStream::SignIns,
            "$filter",
            "createdDateTime ge '2026-11-26T21:00:00Z'",
            "BadRequest",
        ),
        (
            AuditStream::SignIns,
            "$filter",
            "createdDateTime ge 2026-11-26",
            "BadRequest",
        ),
        (
            AuditStream::SignIns,
            "$filter",
            "createdDateTime ge 2026-11-26T21:00:00+01:00",
            "BadRequest",
        ),
        (
            AuditStream::SignIns,
            "$filter",
            "createdDateTime ge 2026-11-26T21:00:00Z and",
            "BadRequest",
        ),
        (
            AuditStream::SignIns,
            "$filter",
            "activityDateTime ge 2026-11-26T21:00:00Z",
            "Request_UnsupportedQuery",
        ),
        (
            AuditStream::SignIns,
            "$filter",
            "userId eq '5d0c7a1e-3b2f-4c6d-8e9a-000000000001'",
            "Request_UnsupportedQuery",
        ),
        (
            AuditStream::SignIns,
            "$filter",
            "createdDateTime ge 2026-11-26T21:00:00Z or createdDateTime lt 2026-11-26T20:00:00Z",
            "Request_UnsupportedQuery",
        ),
        (
            AuditStream::DirectoryAudits,
            "$filter",
            "startswith(activityDisplayName,'Add')",
            "Request_UnsupportedQuery",
        ),
        (
            AuditStream::DirectoryAudits,
            "$orderby",
            "category",
            "Request_UnsupportedQuery",
        ),
        (AuditStream::DirectoryAudits, "$top", "1001", "BadRequest"),
        (AuditStream::DirectoryAudits, "$top", "0", "BadRequest"),
        (
            AuditStream::DirectoryAudits,
            "$expand",
            "initiatedBy",
            "BadRequest",
        ),
    ];
    for (stream, option, value, code) in cases {
        let (status, body) = t.list(stream, &[(option, value)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{option}={value}: {body}");
        assert_eq!(body["error"]["code"], code, "{option}={value}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
}

#[tokio::test]
async fn bad_skiptokens_answer_400() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    for stream in AuditStream::ALL {
        logs.generate(stream, 5, T0, secs(1)).unwrap();
    }
    let (_, first) = t.list(AuditStream::SignIns, &[("$top", "2")]).await;
    let link = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let token = link.split("$skiptoken=").nth(1).unwrap().to_owned();
    let (status, _) = t.follow(&link).await;
    assert_eq!(status, StatusCode::OK, "the real token works");

    let cases: [(AuditStream, Vec<(&str, &str)>); 5] = [
        (AuditStream::SignIns, vec![("$skiptoken", "garbage!")]),
        (
            AuditStream::SignIns,
            vec![("$skiptoken", "bm90IGEgY3Vyc29y")],
        ),
        (AuditStream::SignIns, vec![("$skiptoken", "")]),
        (
            AuditStream::DirectoryAudits,
            vec![("$skiptoken", token.as_str())],
        ),
        (
            AuditStream::SignIns,
            vec![
                ("$skiptoken", token.as_str()),
                ("$orderby", "createdDateTime asc"),
            ],
        ),
    ];
    for (stream, params) in cases {
        let (status, body) = t.list(stream, &params).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{stream:?} {params:?}: {body}"
        );
        assert_eq!(body["error"]["code"], "Request_BadRequest");
    }
}

#[tokio::test]
async fn user_changes_through_graph_append_directory_audits() {
    let t = tenant().await;
    let started = SystemTime::now() - secs(1);
    let graph = t.sandbox.graph_url();
    let create_request_id = "0b8e6a52-7f3d-4c2a-9e1b-5d4c3b2a1f00";
    let response = t
        .client
        .post(graph.join("users").unwrap())
        .bearer_auth(&t.token)
        .header("client-request-id", create_request_id)
        .json(&json!({"displayName": "Grace Hopper", "accountEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    let upn = user["userPrincipalName"].as_str().unwrap().to_owned();
    let user_url = graph.join(&format!("users/{id}")).unwrap();
    let patched = t
        .client
        .patch(user_url.clone())
        .bearer_auth(&t.token)
        .json(&json!({"displayName": "Grace B. Hopper", "accountEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    let missing = t
        .client
        .patch(graph.join("users/nobody").unwrap())
        .bearer_auth(&t.token)
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let deleted = t
        .client
        .delete(user_url)
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let start = time::OffsetDateTime::from(started)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let filter = format!("activityDateTime ge {start}");
    let (status, page) = t
        .list(
            AuditStream::DirectoryAudits,
            &[("$filter", &filter), ("$orderby", "activityDateTime asc")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let records = page["value"].as_array().unwrap();
    let activities: Vec<&str> = records
        .iter()
        .map(|r| r["activityDisplayName"].as_str().unwrap())
        .collect();
    assert_eq!(activities, ["Add user", "Update user", "Delete user"]);
    for (record, operation) in records.iter().zip(["Add", "Update", "Delete"]) {
        assert_eq!(record["category"], "UserManagement");
        assert_eq!(record["loggedByService"], "Core Directory");
        assert_eq!(record["operationType"], operation);
        assert_eq!(record["result"], "success");
        let target = &record["targetResources"][0];
        assert_eq!(target["id"], id.as_str());
        assert_eq!(target["userPrincipalName"], upn.as_str());
        assert_eq!(target["type"], "User");
        assert_eq!(
            record["initiatedBy"]["app"]["appId"],
            t.sandbox.config().graph_client_id.as_str()
        );
        assert!(record["initiatedBy"]["user"].is_null());
        assert_eq!(record["activityDateTime"].as_str().unwrap().len(), 28);
    }
    assert_eq!(records[0]["correlationId"], create_request_id);
    let added: Vec<&str> = records[0]["targetResources"][0]["modifiedProperties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["displayName"].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&"DisplayName") && added.contains(&"UserPrincipalName"),
        "{added:?}"
    );
    // Only what changed: displayName, not the unchanged accountEnabled.
    let modified = records[1]["targetResources"][0]["modifiedProperties"]
        .as_array()
        .unwrap();
    assert_eq!(modified[0]["displayName"], "DisplayName");
    assert_eq!(modified[0]["oldValue"], "[\"Grace Hopper\"]");
    assert_eq!(modified[0]["newValue"], "[\"Grace B. Hopper\"]");
    assert_eq!(modified[1]["displayName"], "Included Updated Properties");
    assert_eq!(modified[1]["newValue"], "\"DisplayName\"");
    assert_eq!(modified.len(), 2);
    let stored = t
        .sandbox
        .audit_logs()
        .record(
            AuditStream::DirectoryAudits,
            records[2]["id"].as_str().unwrap(),
        )
        .unwrap();
    assert_eq!(stored, records[2]);
}

#[tokio::test]
async fn faults_apply_to_audit_log_routes() {
    let t = tenant().await;
    t.sandbox
        .audit_logs()
        .generate(AuditStream::SignIns, 3, T0, secs(1))
        .unwrap();
    t.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/signIns",
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(7)),
        },
        Some(1),
    ));
    let response = t
        .client
        .get(url(&t, AuditStream::SignIns))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let (status, page) = t.list(AuditStream::SignIns, &[]).await;
    assert_eq!(status, StatusCode::OK, "the rule was used up");
    assert_eq!(ids_of(&page).len(), 3);

    t.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/directoryAudits",
        Fault::ServiceUnavailable { retry_after: None },
        Some(1),
    ));
    t.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/directoryAudits",
        Fault::GatewayTimeout,
        Some(1),
    ));
    t.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/directoryAudits",
        Fault::MalformedJson,
        Some(1),
    ));
    let (status, _) = t.list(AuditStream::DirectoryAudits, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = t.list(AuditStream::DirectoryAudits, &[]).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let response = t
        .client
        .get(url(&t, AuditStream::DirectoryAudits))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.json::<Value>().await.is_err(), "cut-off JSON");
    let logged = t
        .sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.path().starts_with("/v1.0/auditLogs/"))
        .count();
    assert_eq!(logged, 5);
}

#[tokio::test]
async fn records_are_shaped_like_graphs_examples() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    logs.generate(AuditStream::SignIns, 300, T0, secs(1))
        .unwrap();
    logs.generate(AuditStream::DirectoryAudits, 300, T0, secs(1))
        .unwrap();
    let is_timestamp = |v: &Value| {
        v.as_str().is_some_and(|s| {
            s.len() == 28
                && s.ends_with('Z')
                && &s[19..20] == "."
                && s[20..27].bytes().all(|b| b.is_ascii_digit())
        })
    };

    let (_, page) = t.list(AuditStream::SignIns, &[]).await;
    assert!(
        page["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#auditLogs/signIns")
    );
    let sign_ins = page["value"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 300);
    let mut failures = 0;
    for record in sign_ins {
        for key in [
            "id",
            "createdDateTime",
            "userDisplayName",
            "userPrincipalName",
            "userId",
            "appId",
            "appDisplayName",
            "ipAddress",
            "clientAppUsed",
            "correlationId",
            "conditionalAccessStatus",
            "isInteractive",
            "riskDetail",
            "riskLevelAggregated",
            "riskLevelDuringSignIn",
            "riskState",
            "riskEventTypes",
            "resourceDisplayName",
            "resourceId",
            "status",
            "deviceDetail",
            "location",
            "appliedConditionalAccessPolicies",
        ] {
            assert!(record.get(key).is_some(), "signIn lacks {key}: {record}");
        }
        assert!(is_timestamp(&record["createdDateTime"]), "{record}");
        assert!(uuid::Uuid::parse_str(record["id"].as_str().unwrap()).is_ok());
        assert!(record["isInteractive"].is_boolean());
        assert!(record["status"]["errorCode"].is_u64());
        assert!(record["status"].get("failureReason").is_some());
        assert!(record["status"].get("additionalDetails").is_some());
        assert!(record["deviceDetail"]["operatingSystem"].is_string());
        assert!(record["location"]["geoCoordinates"]["latitude"].is_f64());
        assert!(record["location"]["countryOrRegion"].is_string());
        assert!(record["riskEventTypes"].is_array());
        if record["status"]["errorCode"] != 0 {
            failures += 1;
            assert!(record["status"]["failureReason"].is_string());
        }
    }
    assert!(failures > 0 && failures < 100, "{failures} failed sign-ins");

    let (_, page) = t.list(AuditStream::DirectoryAudits, &[]).await;
    let audits = page["value"].as_array().unwrap();
    let (mut capital, mut lower) = (0, 0);
    let mut activities = HashSet::new();
    for record in audits {
        for key in [
            "id",
            "category",
            "correlationId",
            "result",
            "resultReason",
            "activityDisplayName",
            "activityDateTime",
            "loggedByService",
            "operationType",
            "initiatedBy",
            "targetResources",
            "additionalDetails",
        ] {
            assert!(
                record.get(key).is_some(),
                "directoryAudit lacks {key}: {record}"
            );
        }
        assert!(is_timestamp(&record["activityDateTime"]));
        let initiated = &record["initiatedBy"];
        assert!(initiated["user"].is_object() != initiated["app"].is_object());
        if initiated["user"].is_object() {
            for key in ["id", "displayName", "userPrincipalName", "ipAddress"] {
                assert!(initiated["user"].get(key).is_some());
            }
        }
        for target in record["targetResources"].as_array().unwrap() {
            assert!(target["id"].is_string() && target["modifiedProperties"].is_array());
            match (target.get("type"), target.get("Type")) {
                (Some(_), None) => lower += 1,
                (None, Some(_)) => capital += 1,
                other => panic!("one of type/Type expected: {other:?}"),
            }
        }
        activities.insert(record["activityDisplayName"].as_str().unwrap().to_owned());
    }
    assert!(
        capital > 0 && lower > capital,
        "type {lower}, Type {capital}"
    );
    assert!(activities.contains("Add user") && activities.contains("Update user"));

    // $select keeps the named properties (and id), and shows in the context.
    let (status, page) = t
        .list(
            AuditStream::SignIns,
            &[("$select", "createdDateTime,userId"), ("$top", "2")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#auditLogs/signIns(createdDateTime,userId,id)")
    );
    let first = page["value"][0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(first.contains_key("userId") && first.contains_key("id"));
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$select=createdDateTime%2CuserId")
    );
}

#[tokio::test]
async fn audit_routes_require_a_bearer_token() {
    let t = tenant().await;
    for stream in AuditStream::ALL {
        let response = t.client.get(url(&t, stream)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        let (status, body) = t.send(t.client.post(url(&t, stream))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "Request_BadRequest");
    }
    // The lower-case spellings Graph's documentation uses reach the same lists.
    let base = t.sandbox.url().as_str().trim_end_matches('/').to_owned();
    for path in ["/v1.0/auditLogs/signins", "/v1.0/auditLogs/directoryaudits"] {
        let (status, _) = t.send(t.client.get(format!("{base}{path}"))).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_million_generated_records_page_by_window() {
    let t = tenant().await;
    let logs = t.sandbox.audit_logs();
    logs.generate(
        AuditStream::SignIns,
        1_000_000,
        T0,
        Duration::from_millis(1),
    )
    .unwrap();
    assert_eq!(logs.total(AuditStream::SignIns), 1_000_000);
    // A 15-minute export window in the middle of the stream, 900,000 records wide at one per ms:
    // check its edges rather than all of it.
    let filter = window(
        "createdDateTime",
        "2026-11-26T21:01:00Z",
        "2026-11-26T21:16:00Z",
    );
    let (status, newest) = t
        .list(
            AuditStream::SignIns,
            &[("$filter", &filter), ("$top", "1000")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let expected_newest = logs.ids_between(
        AuditStream::SignIns,
        at(Duration::from_millis(959_000)),
        at(Duration::from_millis(960_000)),
    );
    let mut got = ids_of(&newest);
    got.reverse();
    assert_eq!(got, expected_newest);
    assert_eq!(
        newest["value"][0]["createdDateTime"],
        "2026-11-26T21:15:59.9990000Z"
    );
    let (status, second) = t.follow(newest["@odata.nextLink"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        second["value"][0]["createdDateTime"],
        "2026-11-26T21:15:58.9990000Z"
    );

    let (_, oldest) = t
        .list(
            AuditStream::SignIns,
            &[
                ("$filter", &filter),
                ("$orderby", "createdDateTime asc"),
                ("$top", "3"),
            ],
        )
        .await;
    let expected_oldest = logs.ids_between(
        AuditStream::SignIns,
        at(secs(60)),
        at(secs(60) + Duration::from_millis(3)),
    );
    assert_eq!(ids_of(&oldest), expected_oldest);
    assert_eq!(
        oldest["value"][0]["createdDateTime"],
        "2026-11-26T21:01:00.0000000Z"
    );
}
