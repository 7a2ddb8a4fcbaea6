//! HttpError responses, the JSON body extractor and the body limit, through real axum routers.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use entra_platform::http_error::{HttpError, JsonBody, body_limit};
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn error_routes() -> Router {
    Router::new()
        .route(
            "/bad",
            get(|| async {
                Err::<(), _>(HttpError::bad_request(
                    "missing_field",
                    "data.authenticationContext is required",
                ))
            }),
        )
        .route(
            "/unauthorized",
            get(|| async { Err::<(), _>(HttpError::unauthorized("token expired at 12:00")) }),
        )
        .route(
            "/missing",
            get(|| async { Err::<(), _>(HttpError::NotFound) }),
        )
        .route(
            "/big",
            get(|| async { Err::<(), _>(HttpError::PayloadTooLarge) }),
        )
        .route(
            "/broken",
            get(|| async {
                Err::<(), _>(HttpError::internal(std::io::Error::other(
                    "connection to graph.internal:443 refused",
                )))
            }),
        )
}

async fn call(app: Router, request: Request<Body>) -> (StatusCode, Response<Body>, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    (status, Response::from_parts(parts, Body::empty()), text)
}

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn each_error_has_its_status_and_exact_body() {
    let cases = [
        (
            "/bad",
            400,
            r#"{"error":{"code":"missing_field","message":"data.authenticationContext is required"}}"#,
        ),
        (
            "/unauthorized",
            401,
            r#"{"error":{"code":"unauthorized","message":"unauthorized"}}"#,
        ),
        (
            "/missing",
            404,
            r#"{"error":{"code":"not_found","message":"not found"}}"#,
        ),
        (
            "/big",
            413,
            r#"{"error":{"code":"payload_too_large","message":"request body is too large"}}"#,
        ),
        (
            "/broken",
            500,
            r#"{"error":{"code":"internal_error","message":"internal error"}}"#,
        ),
    ];
    for (path, status, body) in cases {
        let (actual_status, response, text) = call(error_routes(), get_request(path)).await;
        assert_eq!(actual_status.as_u16(), status, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json",
            "{path}"
        );
        // Compare parsed values too, so key order is not what the test depends on...
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            serde_json::from_str::<serde_json::Value>(body).unwrap(),
            "{path}"
        );
        // ...and the exact bytes, so nothing extra rides along.
        assert_eq!(text, body, "{path}");
    }
}

#[tokio::test]
async fn unauthorized_asks_for_a_bearer_token_and_hides_the_reason() {
    let (_, response, text) = call(error_routes(), get_request("/unauthorized")).await;
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert!(!text.contains("expired"));
    let (_, response, _) = call(error_routes(), get_request("/bad")).await;
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn internal_causes_stay_out_of_the_body() {
    let (_, _, text) = call(error_routes(), get_request("/broken")).await;
    assert!(!text.contains("graph.internal"), "{text}");
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[allow(dead_code)]
    name: String,
    data: PayloadData,
}

#[derive(Debug, Deserialize)]
struct PayloadData {
    count: u32,
}

fn json_routes(limit: Option<usize>) -> Router {
    let router =
        Router::new()
            .route(
                "/echo",
                post(|JsonBody(payload): JsonBody<Payload>| async move {
                    payload.data.count.to_string()
                }),
            )
            .route(
                "/len",
                post(|body: Bytes| async move { body.len().to_string() }),
            );
    match limit {
        Some(limit) => router.layer(body_limit(limit)),
        None => router,
    }
}

fn post_request(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

async fn error_of(text: &str) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    (
        value["error"]["code"].as_str().unwrap().to_owned(),
        value["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn json_bodies_are_parsed() {
    let (status, _, text) = call(
        json_routes(Some(1024)),
        post_request("/echo", r#"{"name":"x","data":{"count":7}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "7");
}

#[tokio::test]
async fn malformed_json_is_a_400_in_our_shape() {
    for body in [
        r#"{"name": "x", "data": "#,
        "",
        "not json",
        r#"{"name":"x","data":{"count":1}} trailing"#,
    ] {
        let (status, response, text) =
            call(json_routes(Some(1024)), post_request("/echo", body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let (code, message) = error_of(&text).await;
        assert_eq!(code, "invalid_json", "{body:?}");
        assert!(
            message.starts_with("request body is not valid JSON: "),
            "{message}"
        );
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_names_the_field() {
    let (status, _, text) = call(
        json_routes(Some(1024)),
        post_request("/echo", r#"{"name":"x","data":{"count":"seven"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (code, message) = error_of(&text).await;
    assert_eq!(code, "invalid_request");
    assert!(
        message.starts_with(
            "request body field data.count is invalid: invalid type: string \"seven\""
        ),
        "{message}"
    );

    let (_, _, text) = call(
        json_routes(Some(1024)),
        post_request("/echo", r#"{"name":"x"}"#),
    )
    .await;
    let (code, message) = error_of(&text).await;
    assert_eq!(code, "invalid_request");
    assert!(message.contains("missing field `data`"), "{message}");
}

#[tokio::test]
async fn an_oversized_json_body_is_a_413_in_our_shape() {
    let body = format!(r#"{{"name":"{}","data":{{"count":1}}}}"#, "x".repeat(200));
    let (status, response, text) = call(json_routes(Some(100)), post_request("/echo", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        text,
        r#"{"error":{"code":"payload_too_large","message":"request body is too large"}}"#
    );
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_a_413_in_our_shape() {
    // No Content-Length: the limit must hold while reading.
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 50])));
    let body = Body::from_stream(futures::stream::iter(chunks));
    let request = Request::post("/len").body(body).unwrap();
    assert!(request.headers().get(header::CONTENT_LENGTH).is_none());
    let (status, _, text) = call(json_routes(Some(100)), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (code, _) = error_of(&text).await;
    assert_eq!(code, "payload_too_large");

    // The same stream within the limit passes through whole.
    let chunks = (0..2).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 50])));
    let request = Request::post("/len")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let (status, _, text) = call(json_routes(Some(100)), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "100");
}

#[tokio::test]
async fn a_limit_above_axums_default_is_honoured() {
    // axum's extractors cap bodies at 2 MB by default; body_limit replaces that cap with its own.
    let three_mib = vec![b'a'; 3 * 1024 * 1024];
    let (status, _, text) = call(
        json_routes(Some(4 * 1024 * 1024)),
        post_request("/len", three_mib),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, (3 * 1024 * 1024).to_string());
}

#[tokio::test]
async fn without_the_layer_axums_own_limit_still_answers_in_our_shape() {
    let three_mib = format!(
        r#"{{"name":"{}","data":{{"count":1}}}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let (status, _, text) = call(json_routes(None), post_request("/echo", three_mib)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (code, _) = error_of(&text).await;
    assert_eq!(code, "payload_too_large");
}

#[tokio::test]
async fn over_a_real_socket_the_limit_answers_before_the_body_is_sent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, json_routes(Some(1024)))
            .await
            .unwrap()
    });

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Announce 10 MB and send none of it: the answer must come from Content-Length alone.
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 10485760\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(
        response.ends_with(
            r#"{"error":{"code":"payload_too_large","message":"request body is too large"}}"#
        ),
        "{response}"
    );
}
