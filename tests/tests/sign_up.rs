//! A simulated sign-up and first sign-in through every extension endpoint of the local host, the way
//! Entra drives them: attribute collection start -> submit -> email OTP -> (Entra creates the user)
//! -> token issuance, plus a legacy-password migration. Real HTTP on loopback, tokens signed by the
//! simulated tenant, Graph reads against its directory, and the shipped example rules.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use entra_extensions::EventKind;
use entra_extensions::conformance::check_response;
use entra_local::samples::{self, SIGN_UP_EMAIL};
use entra_local::{LocalHost, LocalHostOptions};
use entra_sandbox::directory::{DEMO_GROUP_SILVER_ID, extension_property};
use entra_sandbox::{Fault, FaultRule};
use serde_json::{Value, json};

struct Entra {
    host: LocalHost,
    http: reqwest::Client,
    token: String,
}

impl Entra {
    async fn start(mail_dir: &Path) -> Self {
        let host = LocalHost::start(LocalHostOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            sandbox_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rules: None,
            mail_dir: mail_dir.to_path_buf(),
            state_dir: mail_dir.join("state"),
            ..LocalHostOptions::default()
        })
        .await
        .expect("local host starts");
        let token = host.sandbox().extension_token().sign();
        Self {
            host,
            http: reqwest::Client::new(),
            token,
        }
    }

    /// POSTs a callout as Entra does and returns (status, JSON body).
    async fn call(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.host.base_url()))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 200 {
            assert_eq!(response.headers()["content-type"], "application/json");
        }
        let answer = response.json().await.unwrap_or(Value::Null);
        if status == 200 {
            // Every answer holds to Entra's contract, checked independently of its builder.
            check_response(event_of(path), &answer)
                .unwrap_or_else(|e| panic!("{path}: {e}: {answer}"));
        }
        (status, answer)
    }
}

fn event_of(path: &str) -> EventKind {
    match path {
        token_issuance_start::PATH => EventKind::TokenIssuanceStart,
        attribute_collection_start::PATH => EventKind::AttributeCollectionStart,
        attribute_collection_submit::PATH => EventKind::AttributeCollectionSubmit,
        email_otp_send::PATH => EventKind::EmailOtpSend,
        password_submit::PATH => EventKind::PasswordSubmit,
        other => panic!("no event at {other}"),
    }
}

fn only_action(answer: &Value) -> &Value {
    let actions = answer["data"]["actions"].as_array().expect("actions array");
    assert_eq!(actions.len(), 1, "exactly one action: {answer}");
    &actions[0]
}

fn mails(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("entra-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn a_customer_signs_up_and_gets_graph_derived_claims() {
    let mail_dir = temp_dir("sign-up");
    let entra = Entra::start(&mail_dir).await;
    let config = entra.host.sandbox().config().clone();
    let extension_app = config.extension_app_id.replace('-', "");

    // 1. The sign-up page opens: the country is prefilled from the market, the shop's defaults too.
    let (status, answer) = entra
        .call(
            attribute_collection_start::PATH,
            &samples::attribute_collection_start(&config),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"]["@odata.type"],
        "microsoft.graph.onAttributeCollectionStartResponseData"
    );
    let action = only_action(&answer);
    assert_eq!(
        action["@odata.type"],
        "microsoft.graph.attributeCollectionStart.setPrefillValues"
    );
    assert_eq!(action["inputs"]["country"], "US", "{answer}");

    // 2a. The customer submits a loyalty number that already belongs to someone else.
    let (status, answer) = entra
        .call(
            attribute_collection_submit::PATH,
            &samples::attribute_collection_submit(&config, "LN-100001"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let action = only_action(&answer);
    assert_eq!(
        action["@odata.type"],
        "microsoft.graph.attributeCollectionSubmit.showValidationError"
    );
    let loyalty_key = format!("extension_{extension_app}_loyaltyNumber");
    assert!(
        action["attributeErrors"][&loyalty_key].is_string(),
        "{answer}"
    );

    // 2b. With a free number the values come back normalised.
    let (status, answer) = entra
        .call(
            attribute_collection_submit::PATH,
            &samples::attribute_collection_submit(&config, " ln-200001 "),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let action = only_action(&answer);
    assert_eq!(
        action["@odata.type"],
        "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues"
    );
    assert_eq!(action["attributes"]["displayName"], "Nora Lee");
    assert_eq!(action["attributes"]["country"], "US");
    assert_eq!(action["attributes"][&loyalty_key], "LN-200001");

    // 3. Entra asks us to email the one-time code; its retry of the same call sends nothing more.
    let otp = samples::email_otp_send(&config, "31415926");
    for _ in 0..2 {
        let (status, answer) = entra.call(email_otp_send::PATH, &otp).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer,
            json!({"data": {"@odata.type": "microsoft.graph.OnOtpSendResponseData",
                "actions": [{"@odata.type": "microsoft.graph.OtpSend.continueWithDefaultBehavior"}]}})
        );
    }
    let sent = mails(&mail_dir);
    assert_eq!(sent.len(), 1, "one email for one code");
    assert!(sent[0].contains("31415926") && sent[0].contains(SIGN_UP_EMAIL));

    // 4. Entra creates the account with the collected values; an admin adds it to a group.
    let user_id = entra
        .host
        .sandbox()
        .insert_user(json!({
            "displayName": "Nora Lee",
            "identities": [{"signInType": "emailAddress",
                "issuer": format!("{}.onmicrosoft.com", config.tenant_name),
                "issuerAssignedId": SIGN_UP_EMAIL}],
            extension_property(&config.extension_app_id, "loyaltyNumber"): "LN-200001",
            extension_property(&config.extension_app_id, "loyaltyTier"): "Silver",
        }))
        .unwrap();
    entra
        .host
        .sandbox()
        .add_member(DEMO_GROUP_SILVER_ID, &user_id)
        .unwrap();

    // 5. First sign-in: the token gets claims from Graph, the callout and the rules' constants.
    let (status, answer) = entra
        .call(
            token_issuance_start::PATH,
            &samples::token_issuance_start_for(&config, &user_id, "Nora Lee"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let action = only_action(&answer);
    assert_eq!(
        action["@odata.type"],
        "microsoft.graph.tokenIssuanceStart.provideClaimsForToken"
    );
    let claims = &action["claims"];
    assert_eq!(claims["loyaltyTier"], "Silver", "{answer}");
    assert_eq!(claims["loyaltyNumber"], "LN-200001", "{answer}");
    assert_eq!(
        claims["customerGroups"],
        json!(["Customers - Silver"]),
        "{answer}"
    );
    assert_eq!(claims["clientAppId"], samples::DEMO_CLIENT_APP_ID);
    assert_eq!(claims["locale"], "en-us");
    assert_eq!(claims["brand"], "Contoso");
    let _ = std::fs::remove_dir_all(&mail_dir);
}

#[tokio::test]
async fn a_legacy_customer_is_migrated_just_in_time() {
    let mail_dir = temp_dir("migrate");
    let entra = Entra::start(&mail_dir).await;
    let body: Value = entra
        .http
        .get(format!(
            "{}/local/samples/password-submit",
            entra.host.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, answer) = entra.call(password_submit::PATH, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"]["@odata.type"],
        "microsoft.graph.onPasswordSubmitResponseData"
    );
    assert_eq!(
        only_action(&answer)["@odata.type"],
        "microsoft.graph.passwordSubmit.MigratePassword"
    );
    assert!(
        answer["data"]["nonce"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{answer}"
    );
}

/// Graph is late (a delay far beyond Entra's 1 s timeout): token issuance still answers in time,
/// without the Graph-derived claims (the example rules' default fallback), and sign-up validation
/// lets the customer through (its uniqueness check's default `allow`).
#[tokio::test]
async fn a_slow_graph_gets_the_fallback_answers_within_the_budget() {
    let mail_dir = temp_dir("slow-graph");
    let entra = Entra::start(&mail_dir).await;
    let config = entra.host.sandbox().config().clone();
    entra.host.sandbox().faults().add(FaultRule::new(
        "/v1.0/",
        Fault::Delay(Duration::from_secs(5)),
        None,
    ));

    let started = Instant::now();
    let (status, answer) = entra
        .call(
            token_issuance_start::PATH,
            &samples::token_issuance_start_for(
                &config,
                "5d0c7a1e-3b2f-4c6d-8e9a-000000000002",
                "Liam",
            ),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert!(
        elapsed < Duration::from_millis(1000),
        "answered in {elapsed:?}"
    );
    let claims = &only_action(&answer)["claims"];
    assert!(
        claims.get("loyaltyTier").is_none(),
        "Graph claim omitted: {answer}"
    );
    assert!(claims.get("customerGroups").is_none(), "{answer}");
    assert_eq!(claims["brand"], "Contoso");

    let started = Instant::now();
    let (status, answer) = entra
        .call(
            attribute_collection_submit::PATH,
            &samples::attribute_collection_submit(&config, "LN-100001"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(started.elapsed() < Duration::from_millis(1000));
    let action = only_action(&answer)["@odata.type"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        action, "microsoft.graph.attributeCollectionSubmit.showValidationError",
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&mail_dir);
}
