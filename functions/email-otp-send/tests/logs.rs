//! The one-time code never reaches a log, and every call leaves one structured line. Alone in
//! its test binary: a scoped log capture must not race other tests' subscribers.

mod common;

use std::sync::Arc;

use common::*;
use entra_extensions::testing::request_for;
use entra_platform::KeyValueStore;
use entra_platform::store::MemoryStore;
use entra_sandbox::Sandbox;
use serde_json::{Value, json};

#[tokio::test]
async fn logs_never_contain_the_code_and_carry_the_callout_fields() {
    let (logs, _guard) = CapturedLogs::start();
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    mailer.then(Behaviour::Fail { transient: false });
    let store: Arc<dyn KeyValueStore> = Arc::new(MemoryStore::new());
    let routes = routes(app(&sandbox, "", mailer.clone(), store));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();

    let (failed, _) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    let (sent, _) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    let (repeated, _) = invoke(routes, bearer(&sandbox), body).await;
    assert_eq!((failed, sent, repeated), (500, 200, 200));

    let text = logs.text();
    assert!(!text.is_empty());
    assert!(!text.contains(DOCS_CODE), "the code was logged:\n{text}");
    assert!(
        !text.contains("someone@"),
        "the address was logged:\n{text}"
    );
    let lines = logs.callout_lines();
    assert_eq!(lines.len(), 3, "{text}");
    let deliveries: Vec<&Value> = lines.iter().map(|l| &l["delivery"]).collect();
    assert_eq!(
        deliveries,
        [&json!("failed"), &json!("sent"), &json!("already_sent")]
    );
    let line = &lines[1];
    assert_eq!(line["event"], "emailOtpSend");
    assert_eq!(line["tenant"], sandbox.tenant_id());
    assert_eq!(
        line["correlation_id"],
        "3333dddd-44ee-ffff-aa55-bbbbbbbb6666"
    );
    assert_eq!(line["client_app"], "bbbbbbbb-cccc-dddd-2222-333333333333");
    assert_eq!(line["action"], "continueWithDefaultBehavior");
    assert_eq!(line["locale"], "en");
    assert_eq!(line["recipient_domain"], "example.com");
    assert_eq!(line["fallback"], false);
    assert!(line["latency_ms"].is_number());
    assert_eq!(lines[0]["action"], "none");
}
