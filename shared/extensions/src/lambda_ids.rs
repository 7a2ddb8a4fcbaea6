//! Carries the Lambda invocation's request id into our request span.
//!
//! In Lambda, lambda_http puts the invocation context (with `request_id`, the id in every REPORT
//! line and in CloudWatch) into the request's extensions, not its headers; the platform's
//! `request_context` middleware reads ids from headers so it stays free of Lambda types. This layer,
//! placed outside `request_context`, copies the id into the `lambda-runtime-aws-request-id` header
//! when the request came through Lambda, so log lines and the invocation share one id.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use lambda_http::RequestExt;

/// The header the platform's request span takes the request id from.
pub const LAMBDA_REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";

/// axum middleware: `.layer(axum::middleware::from_fn(lambda_request_id))` after (outside)
/// `request_context`.
pub async fn lambda_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .extensions()
        .lambda_context_ref()
        .and_then(|context| HeaderValue::from_str(&context.request_id).ok());
    if let Some(id) = id {
        request.headers_mut().insert(LAMBDA_REQUEST_ID_HEADER, id);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn echo(request: Request) -> String {
        request
            .headers()
            .get(LAMBDA_REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned()
    }

    fn app() -> Router {
        Router::new()
            .route("/", get(echo))
            .layer(axum::middleware::from_fn(lambda_request_id))
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_invocation_id_becomes_the_request_id_header() {
        let mut context = lambda_http::lambda_runtime::Context::default();
        context.request_id = "8f5a3c1e-0000-4000-8000-000000000001".into();
        let request = http::Request::builder()
            .uri("/")
            .body(Body::empty())
            .unwrap()
            .with_lambda_context(context);
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(body(response).await, "8f5a3c1e-0000-4000-8000-000000000001");
    }

    #[tokio::test]
    async fn outside_lambda_nothing_is_added() {
        let request = http::Request::builder()
            .uri("/")
            .body(Body::empty())
            .unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(body(response).await, "none");
    }
}
