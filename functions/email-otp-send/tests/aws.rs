//! The deployed adapters end to end through the handler: SES v2 sends the mail and DynamoDB holds
//! the markers, both with the real SDK against a real moto server on loopback. What SES "sent" is
//! read back from moto's `/moto-api/data.json`. Logs are captured at TRACE (the SDK's own logs
//! included) and must not contain the code. One test, alone in its binary, for the log capture.

mod common;

use std::sync::Arc;

use common::*;
use email_otp_send::EmailOtpSend;
use entra_extensions::EmailOtpSendRequest;
use entra_extensions::testing::{request_for, sandbox_guard, vector};
use entra_platform::KeyValueStore;
use entra_platform::mailer::SesMailer;
use entra_platform::store::DynamoDbStore;
use entra_platform::testing::{MotoServer, create_store_table};
use entra_sandbox::Sandbox;
use serde_json::Value;

const TABLE: &str = "email-otp-send-markers";
const SENDER: &str = "no-reply@otp.contoso.example";

/// Messages moto recorded as sent from `source`.
async fn sent_from(server: &MotoServer, source: &str) -> Vec<Value> {
    let url = format!("{}/moto-api/data.json", server.endpoint_url());
    let data: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|message| {
            message["source"]
                .as_str()
                .is_some_and(|s| s.contains(source))
        })
        .collect()
}

#[tokio::test]
async fn ses_and_dynamodb_send_once_per_code_and_release_on_failure() {
    let (logs, _guard) = CapturedLogs::start();
    let server = MotoServer::shared().unwrap();
    let aws = server.sdk_config().await;
    let ses = aws_sdk_sesv2::Client::new(&aws);
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    create_store_table(&dynamodb, TABLE).await;
    let sandbox = Sandbox::start_default().await.unwrap();
    let store: Arc<dyn KeyValueStore> = Arc::new(DynamoDbStore::new(dynamodb, TABLE));
    // The example rules name their own sender; use the configured one instead.
    let rules_without_from = include_str!("../rules.example.toml")
        .replace("from = \"Contoso <no-reply@contoso.com>\"\n", "");
    let app_for = |from: &str| -> EmailOtpSend {
        EmailOtpSend::new(
            sandbox_guard(&sandbox),
            &rules(&rules_without_from),
            Arc::new(SesMailer::new(ses.clone(), from)),
            store.clone(),
        )
    };
    // Not the docs vector's 12345678: that is also a substring of moto's account id, which
    // the SDK's trace logs show.
    let code = "90817263";
    let body = with_code(request_for(DOCS_REQUEST, sandbox.tenant_id()), code).to_string();
    let key = app_for(SENDER).marker_key(&EmailOtpSendRequest::parse(body.as_bytes()).unwrap());

    // The sender is not verified yet: SES refuses, the answer is 500 and the claim is released.
    let function = routes(app_for(&format!("Contoso <{SENDER}>")));
    let (status, _) = invoke(function.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!(status, 500);
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "the claim was released"
    );
    assert!(sent_from(server, SENDER).await.is_empty());

    // Verified: Entra's retry sends, a second retry does not.
    ses.create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let (status, json) = invoke(function.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!((status, json), (200, vector(DOCS_RESPONSE)));
    let (status, _) = invoke(function.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!(status, 200);
    let sent = sent_from(server, SENDER).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["subject"], "Your Contoso verification code");
    assert!(
        sent[0]["body"]
            .as_str()
            .unwrap()
            .contains(&format!(">{code}</p>"))
    );
    assert_eq!(
        sent[0]["destinations"]["ToAddresses"][0],
        "someone@example.com"
    );
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some("sent"));

    // A new code in the same sign-in (and another language) is a new email.
    let resend = with_locale(
        with_code(serde_json::from_str(&body).unwrap(), "76543210"),
        "de-de",
    );
    let (status, _) = invoke(function, bearer(&sandbox), resend.to_string()).await;
    assert_eq!(status, 200);
    let sent = sent_from(server, SENDER).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["subject"], "Ihr Bestätigungscode für Contoso");

    let text = logs.text();
    assert!(text.contains("answered callout"), "{text}");
    for code in [code, "76543210"] {
        assert!(!text.contains(code), "the code {code} was logged:\n{text}");
    }
}
