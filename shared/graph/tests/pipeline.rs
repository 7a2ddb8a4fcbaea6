//! The request pipeline against the sandbox's fault injection: correlation ids, retries, backoff
//! caps, deadlines and decode failures (graph-api.md (c), change-notifications.md E.2-E.3).

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use entra_graph::{GraphClient, GraphError, NewUser, RetryPolicy};
use entra_sandbox::directory::DEMO_USER_ID;
use entra_sandbox::faults::{Fault, FaultRule, RetryAfter};
use reqwest::{Method, StatusCode};

fn user_path() -> String {
    format!("/v1.0/users/{DEMO_USER_ID}")
}

async fn get_demo_user(graph: &GraphClient) -> Result<entra_graph::User, GraphError> {
    graph.users().get(DEMO_USER_ID, &[]).await
}

#[tokio::test]
async fn every_request_carries_a_client_request_id() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    get_demo_user(&graph).await.unwrap();
    graph.users().get("missing", &[]).await.unwrap_err();
    graph
        .groups()
        .add_member(entra_sandbox::directory::DEMO_GROUP_GOLD_ID, DEMO_USER_ID)
        .await
        .unwrap();
    let log = sandbox.request_log();
    assert!(log.len() >= 4);
    let mut ids = Vec::new();
    for request in &log {
        let id = request
            .client_request_id
            .as_deref()
            .expect("client-request-id missing");
        let uuid = uuid::Uuid::parse_str(id).expect("client-request-id is a UUID");
        assert_eq!(uuid.get_version_num(), 4);
        ids.push(id.to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), log.len(), "each call has its own id");
}

#[tokio::test]
async fn not_found_is_typed_with_graph_ids() {
    let sandbox = sandbox().await;
    let error = client(&sandbox)
        .users()
        .get("no-such-user", &[])
        .await
        .unwrap_err();
    assert!(error.is_not_found());
    assert_eq!(error.code(), Some("Request_ResourceNotFound"));
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    assert!(error.request_id().is_some());
    let sent = sandbox
        .request_log()
        .last()
        .unwrap()
        .client_request_id
        .clone();
    assert_eq!(error.api().unwrap().client_request_id, sent);
}

#[tokio::test]
async fn throttling_with_retry_after_seconds_is_retried() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(0)),
        },
        Some(2),
    ));
    get_demo_user(&client(&sandbox)).await.unwrap();
    let calls = requests_to(&sandbox, &user_path());
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.client_request_id == calls[0].client_request_id)
    );
    let attempts: Vec<_> = calls.iter().map(|c| c.retry_attempt.clone()).collect();
    assert_eq!(attempts, vec![None, Some("1".into()), Some("2".into())]);
}

#[tokio::test]
async fn throttling_with_an_http_date_is_retried() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::HttpDate(SystemTime::now())),
        },
        Some(1),
    ));
    get_demo_user(&client(&sandbox)).await.unwrap();
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 2);
}

#[tokio::test]
async fn an_http_date_past_the_deadline_gives_up_early_with_the_throttling_error() {
    let sandbox = sandbox().await;
    let later = SystemTime::now() + Duration::from_secs(120);
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::HttpDate(later)),
        },
        None,
    ));
    let graph = client(&sandbox).with_timeout(Duration::from_secs(5));
    let error = get_demo_user(&graph).await.unwrap_err();
    assert!(error.is_throttled(), "{error:?}");
    assert!(error.retry_after().unwrap() > Duration::from_secs(60));
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 1);
}

#[tokio::test]
async fn retry_after_longer_than_the_budget_returns_the_throttling_error_without_sleeping() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(30)),
        },
        None,
    ));
    let graph = client(&sandbox).with_timeout(Duration::from_secs(1));
    let error = get_demo_user(&graph).await.unwrap_err();
    assert!(error.is_throttled(), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert!(error.is_transient());
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 1);
}

#[tokio::test]
async fn service_unavailable_is_retried_with_backoff() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::ServiceUnavailable { retry_after: None },
        Some(2),
    ));
    get_demo_user(&client(&sandbox)).await.unwrap();
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 3);
}

#[tokio::test]
async fn gateway_timeout_without_retry_after_is_retried_for_get() {
    let sandbox = sandbox().await;
    sandbox
        .faults()
        .add(FaultRule::new(user_path(), Fault::GatewayTimeout, Some(1)));
    get_demo_user(&client(&sandbox)).await.unwrap();
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 2);
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_a_typed_error() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::ServiceUnavailable {
            retry_after: Some(RetryAfter::Seconds(0)),
        },
        None,
    ));
    let config = secret_config(&sandbox).with_retry(RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    });
    let error = get_demo_user(&GraphClient::new(config).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(error.code(), Some("serviceNotAvailable"));
    assert!(error.is_transient());
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 3);
}

#[tokio::test]
async fn persistent_throttling_ends_as_throttled() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::TooManyRequests { retry_after: None },
        None,
    ));
    let error = get_demo_user(&client(&sandbox)).await.unwrap_err();
    assert!(error.is_throttled());
    assert_eq!(error.code(), Some("TooManyRequests"));
    assert_eq!(
        requests_to(&sandbox, &user_path()).len(),
        fast_retry().max_attempts as usize
    );
}

#[tokio::test]
async fn total_wait_cap_stops_retrying() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(1)),
        },
        None,
    ));
    let retry = RetryPolicy {
        max_total_wait: Duration::from_millis(500),
        ..fast_retry()
    };
    let graph = GraphClient::new(secret_config(&sandbox).with_retry(retry)).unwrap();
    assert!(get_demo_user(&graph).await.unwrap_err().is_throttled());
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 1);
}

#[tokio::test]
async fn dropped_connection_is_retried_for_get() {
    let sandbox = sandbox().await;
    sandbox
        .faults()
        .add(FaultRule::new(user_path(), Fault::DropConnection, Some(1)));
    get_demo_user(&client(&sandbox)).await.unwrap();
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 2);
}

#[tokio::test]
async fn dropped_connection_on_post_is_not_retried() {
    let sandbox = sandbox().await;
    sandbox.faults().add(
        FaultRule::new("/v1.0/users", Fault::DropConnection, Some(1)).for_method(Method::POST),
    );
    let error = client(&sandbox)
        .users()
        .create(&NewUser::new("Once"))
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Transport(_)), "{error:?}");
    assert_eq!(requests_to(&sandbox, "/v1.0/users").len(), 1);
}

#[tokio::test]
async fn post_is_not_retried_after_a_gateway_timeout() {
    let sandbox = sandbox().await;
    sandbox.faults().add(
        FaultRule::new("/v1.0/users", Fault::GatewayTimeout, Some(1)).for_method(Method::POST),
    );
    let before = sandbox.users().len();
    let error = client(&sandbox)
        .users()
        .create(&NewUser::new("Maybe created"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::GATEWAY_TIMEOUT));
    assert_eq!(requests_to(&sandbox, "/v1.0/users").len(), 1);
    assert_eq!(sandbox.users().len(), before);
}

#[tokio::test]
async fn post_is_retried_after_throttling_and_creates_once() {
    let sandbox = sandbox().await;
    sandbox.faults().add(
        FaultRule::new(
            "/v1.0/users",
            Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(0)),
            },
            Some(1),
        )
        .for_method(Method::POST),
    );
    let before = sandbox.users().len();
    let user = client(&sandbox)
        .users()
        .create(&NewUser::new("Exactly once"))
        .await
        .unwrap();
    assert_eq!(sandbox.users().len(), before + 1);
    assert!(sandbox.user(&user.id).is_some());
    assert_eq!(requests_to(&sandbox, "/v1.0/users").len(), 2);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let sandbox = sandbox().await;
    sandbox
        .faults()
        .add(FaultRule::new(user_path(), Fault::MalformedJson, Some(1)));
    let error = get_demo_user(&client(&sandbox)).await.unwrap_err();
    assert!(
        matches!(error, GraphError::Decode { status: 200, .. }),
        "{error:?}"
    );
    assert_eq!(requests_to(&sandbox, &user_path()).len(), 1);
}

#[tokio::test]
async fn slow_answer_past_the_deadline_is_abandoned() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    get_demo_user(&graph).await.unwrap(); // token cached
    sandbox.faults().add(FaultRule::new(
        user_path(),
        Fault::Delay(Duration::from_secs(5)),
        None,
    ));
    let error = get_demo_user(&graph.with_timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(error.is_deadline_exceeded(), "{error:?}");
    // The same client without a deadline is unaffected by the scoped handle.
    assert!(graph.deadline().is_none());
}

#[tokio::test]
async fn deadline_also_bounds_the_token_request() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        format!("/{}/oauth2/v2.0/token", sandbox.tenant_id()),
        Fault::Delay(Duration::from_secs(5)),
        None,
    ));
    let graph = client(&sandbox).with_timeout(Duration::from_millis(200));
    assert!(
        get_demo_user(&graph)
            .await
            .unwrap_err()
            .is_deadline_exceeded()
    );
}

#[tokio::test]
async fn a_passed_deadline_sends_nothing() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox).with_deadline(entra_graph::Instant::now());
    assert!(
        get_demo_user(&graph)
            .await
            .unwrap_err()
            .is_deadline_exceeded()
    );
    assert!(requests_to(&sandbox, "/v1.0/").is_empty());
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    use axum::{Json, Router, routing::get};
    let sandbox = sandbox().await;
    let fake = Router::new().route(
        "/v1.0/users",
        get(|| async {
            Json(serde_json::json!({
                "value": [{"id": "1"}],
                "@odata.nextLink": "http://203.0.113.9/v1.0/users?$skiptoken=abc"
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_url = format!("http://{}/v1.0/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await });
    let config = secret_config(&sandbox).with_graph_base_url(fake_url.parse().unwrap());
    let graph = GraphClient::new(config).unwrap();
    use futures::StreamExt;
    let results: Vec<_> = graph
        .users()
        .list(&entra_graph::ListQuery::new())
        .collect()
        .await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap().id, "1");
    assert!(matches!(results[1], Err(GraphError::InvalidResponse(_))));
}
