//! Handler tests through the Lambda event path (see `common::invoke`), with a scriptable mailer
//! and the in-memory store: the vectors, idempotency across Entra retries, send failures and
//! late mail services answered before the budget, localisation, custom extensions, and logs
//! that never contain the code.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use common::*;
use email_otp_send::{ExtensionError, MessageVerdict, OtpMessageExtension, OtpSendContext, PATH};
use entra_extensions::testing::{
    assert_bad_tokens_refused, assert_foreign_bodies_refused, request_for, vector,
};
use entra_extensions::{EmailOtpSendRequest, EventKind};
use entra_platform::store::{Clock, ManualClock, MemoryStore};
use entra_platform::{KeyValueStore, OutgoingEmail};
use entra_sandbox::Sandbox;
use serde_json::{Value, json};
use tokio::sync::Notify;

fn memory() -> Arc<dyn KeyValueStore> {
    Arc::new(MemoryStore::new())
}

fn continue_response() -> Value {
    vector(DOCS_RESPONSE)
}

#[tokio::test]
async fn the_docs_request_sends_the_code_and_answers_the_documented_response() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let routes = routes(app(&sandbox, "", mailer.clone(), memory()));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();

    let (status, json) = invoke(routes, bearer(&sandbox), body).await;

    assert_eq!(status, 200, "{json}");
    assert_eq!(json, continue_response());
    let delivered = mailer.delivered();
    assert_eq!(delivered.len(), 1);
    let mail = &delivered[0];
    assert_eq!(mail.to, "someone@example.com");
    assert_eq!(mail.from, None, "the mailer's default sender");
    assert_eq!(mail.subject, "Your verification code");
    assert!(mail.text_body.contains(DOCS_CODE), "{}", mail.text_body);
}

/// microsoft-samples/OnEmailOtpSend.json spells the code `onetimecode`.
#[tokio::test]
async fn the_functions_sample_with_lower_case_onetimecode_sends_its_code() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let routes = routes(app(
        &sandbox,
        "[email_otp_send.templates.en]\nsubject = \"{app_name} code\"\ntext = \"{code} for {email}\"\n",
        mailer.clone(),
        memory(),
    ));
    let body = request_for(SAMPLE_REQUEST, sandbox.tenant_id());
    assert!(body["data"]["otpContext"].get("onetimecode").is_some());

    let (status, json) = invoke(routes, bearer(&sandbox), body.to_string()).await;

    assert_eq!(status, 200, "{json}");
    assert_eq!(json, continue_response());
    let delivered = mailer.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].subject, "My Test application code");
    assert_eq!(
        delivered[0].text_body,
        format!("{SAMPLE_CODE} for user@yourdomain.com")
    );
}

#[tokio::test]
async fn an_entra_retry_of_the_same_request_sends_no_second_email() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let routes = routes(app(&sandbox, "", mailer.clone(), memory()));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id());

    let first = invoke(routes.clone(), bearer(&sandbox), body.to_string()).await;
    let retry = invoke(routes.clone(), bearer(&sandbox), body.to_string()).await;

    assert_eq!(first, (200, continue_response()));
    assert_eq!(retry, (200, continue_response()));
    assert_eq!(mailer.attempts(), 1);
    assert_eq!(mailer.delivered().len(), 1);

    // "Resend code": same authentication, new code -> a new email.
    let resend = with_code(body, "99887766");
    let (status, _) = invoke(routes, bearer(&sandbox), resend.to_string()).await;
    assert_eq!(status, 200);
    let delivered = mailer.delivered();
    assert_eq!(delivered.len(), 2);
    assert!(delivered[1].text_body.contains("99887766"));
}

#[tokio::test]
async fn a_failed_send_answers_500_and_the_retry_sends() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    mailer
        .then(Behaviour::Fail { transient: true })
        .then(Behaviour::Fail { transient: false });
    let store = memory();
    let routes = routes(app(&sandbox, "", mailer.clone(), store.clone()));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();

    for _ in 0..2 {
        let (status, json) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
        assert_eq!(status, 500);
        assert_eq!(
            json,
            json!({"error": {"code": "internal_error", "message": "internal error"}})
        );
    }
    assert!(mailer.delivered().is_empty());

    // The failed attempts released their claim: Entra's retry sends.
    let (status, json) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!((status, json), (200, continue_response()));
    assert_eq!(mailer.delivered().len(), 1);
    assert_eq!(mailer.attempts(), 3);
    // ... and only once.
    let (status, _) = invoke(routes, bearer(&sandbox), body).await;
    assert_eq!(status, 200);
    assert_eq!(mailer.attempts(), 3);
}

#[tokio::test]
async fn a_late_mail_service_is_answered_with_500_within_the_budget_and_the_retry_sends() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    mailer.then(Behaviour::Hang);
    let routes = routes(app(
        &sandbox,
        "[email_otp_send]\ntimeout_ms = 300\n",
        mailer.clone(),
        memory(),
    ));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();

    let started = Instant::now();
    let (status, _) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    let elapsed = started.elapsed();

    assert_eq!(status, 500);
    assert!(
        elapsed < Duration::from_millis(300),
        "answered after {elapsed:?}, beyond Entra's 300 ms timeout"
    );
    let (status, _) = invoke(routes, bearer(&sandbox), body).await;
    assert_eq!(status, 200);
    assert_eq!(mailer.delivered().len(), 1);
}

/// Entra timed out on the first attempt while it was still sending and retried: the retry waits
/// for it instead of sending a second email.
#[tokio::test]
async fn a_retry_during_the_first_send_waits_for_it() {
    for first_fails in [false, true] {
        let sandbox = Sandbox::start_default().await.unwrap();
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let mailer = Arc::new(RecordingMailer::default());
        mailer.then(Behaviour::Gate {
            entered: entered.clone(),
            release: release.clone(),
            fail: first_fails,
        });
        let got = Arc::new(Notify::new());
        let store = Arc::new(WatchedStore {
            inner: memory(),
            got: got.clone(),
        });
        let routes = routes(app(
            &sandbox,
            "[email_otp_send]\ntimeout_ms = 2000\n",
            mailer.clone(),
            store,
        ));
        let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();

        let first = tokio::spawn(invoke(routes.clone(), bearer(&sandbox), body.clone()));
        entered.notified().await;
        let retry = tokio::spawn(invoke(routes.clone(), bearer(&sandbox), body.clone()));
        // The retry found the first attempt's marker ...
        got.notified().await;
        // ... and the first attempt finishes.
        release.notify_one();

        let first = first.await.unwrap();
        let retry = retry.await.unwrap();
        if first_fails {
            assert_eq!(first.0, 500);
            assert_eq!(retry, (200, continue_response()), "the retry sends itself");
            assert_eq!(mailer.attempts(), 2);
        } else {
            assert_eq!(first, (200, continue_response()));
            assert_eq!(retry, (200, continue_response()));
            assert_eq!(mailer.attempts(), 1, "the retry sent nothing");
        }
        assert_eq!(mailer.delivered().len(), 1);
    }
}

fn epoch_ms(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// A claim left by an attempt that died (or could not release it) is taken over once it is
/// older than the call timeout; a fresh one is waited for and, if it never finishes, answered
/// with 500 so Entra's fallback acts.
#[tokio::test]
async fn abandoned_claims_are_taken_over_and_fresh_ones_waited_for() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let store: Arc<dyn KeyValueStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let mailer = Arc::new(RecordingMailer::default());
    let app = app(
        &sandbox,
        "[email_otp_send]\ntimeout_ms = 300\n",
        mailer.clone(),
        store.clone(),
    )
    .with_clock(clock.clone());
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let other_code = with_code(serde_json::from_str(&body).unwrap(), "11112222").to_string();
    let key = app.marker_key(&EmailOtpSendRequest::parse(body.as_bytes()).unwrap());
    let other_key = app.marker_key(&EmailOtpSendRequest::parse(other_code.as_bytes()).unwrap());
    let routes = routes(app);
    let ten_minutes = Some(Duration::from_secs(600));

    let fresh = format!("sending {} other", epoch_ms(clock.now()));
    store.put(&key, &fresh, ten_minutes).await.unwrap();
    let (status, _) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!(status, 500, "another attempt is (apparently) still sending");
    assert_eq!(mailer.attempts(), 0);

    clock.advance(Duration::from_millis(300));
    let (status, _) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!(status, 200, "the claim outlived the timeout: taken over");
    assert_eq!(mailer.delivered().len(), 1);
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some("sent"));

    // A marker of unknown shape is treated as abandoned.
    store.put(&other_key, "garbage", ten_minutes).await.unwrap();
    let (status, _) = invoke(routes.clone(), bearer(&sandbox), other_code).await;
    assert_eq!(status, 200);
    assert_eq!(mailer.delivered().len(), 2);

    // After the marker's TTL the same code would be sent again (Entra's codes expire sooner).
    clock.advance(Duration::from_secs(601));
    let (status, _) = invoke(routes, bearer(&sandbox), body).await;
    assert_eq!(status, 200);
    assert_eq!(mailer.delivered().len(), 3);
}

#[tokio::test]
async fn an_unavailable_store_sends_anyway_by_default_or_fails_when_configured() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();

    let mailer = Arc::new(RecordingMailer::default());
    let send = app(&sandbox, "", mailer.clone(), Arc::new(BrokenStore));
    let parsed = EmailOtpSendRequest::parse(body.as_bytes()).unwrap();
    let decision = send.decide(&parsed, send.start_budget()).await;
    assert_eq!(decision.delivery_name(), "sent");
    assert_eq!(decision.fallback, Some("idempotency_unavailable"));
    assert_eq!(decision.response(), Some(continue_response()));
    let (status, json) = invoke(routes(send), bearer(&sandbox), body.clone()).await;
    assert_eq!((status, json), (200, continue_response()));
    assert_eq!(
        mailer.delivered().len(),
        2,
        "without a marker a retry sends again"
    );

    let mailer = Arc::new(RecordingMailer::default());
    let fail = routes(app(
        &sandbox,
        "[email_otp_send]\non_idempotency_error = \"fail\"\n",
        mailer.clone(),
        Arc::new(BrokenStore),
    ));
    let (status, _) = invoke(fail, bearer(&sandbox), body).await;
    assert_eq!(status, 500);
    assert_eq!(mailer.attempts(), 0);
}

#[tokio::test]
async fn the_template_follows_the_callers_locale_with_fallback_to_the_default() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = include_str!("../rules.example.toml");
    let mailer = Arc::new(RecordingMailer::default());
    let routes = routes(app(&sandbox, rules, mailer.clone(), memory()));
    let base = request_for(DOCS_REQUEST, sandbox.tenant_id());
    let cases = [
        ("de-DE", "11111111", "Ihr Bestätigungscode für Contoso"),
        ("de", "22222222", "Ihr Bestätigungscode für Contoso"),
        ("en-us", "33333333", "Your Contoso verification code"),
        ("fr-fr", "44444444", "Your Contoso verification code"),
    ];
    for (locale, code, subject) in cases {
        let body = with_locale(with_code(base.clone(), code), locale);
        let (status, _) = invoke(routes.clone(), bearer(&sandbox), body.to_string()).await;
        assert_eq!(status, 200, "{locale}");
        let mail = mailer.delivered().pop().unwrap();
        assert_eq!(mail.subject, subject, "{locale}");
        assert_eq!(mail.from.as_deref(), Some("Contoso <no-reply@contoso.com>"));
        assert!(mail.text_body.contains(code), "{locale}");
        let html = mail.html_body.unwrap();
        assert!(html.contains(&format!(">{code}</p>")), "{locale}: {html}");
    }
    // No locale at all: the default.
    let mut body = with_code(base, "55555555");
    body["data"]["authenticationContext"]["client"]
        .as_object_mut()
        .unwrap()
        .remove("locale");
    let (status, _) = invoke(routes, bearer(&sandbox), body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        mailer.delivered().pop().unwrap().subject,
        "Your Contoso verification code"
    );
}

/// Brands the message, suppresses sending for test accounts, defers one domain to Microsoft.
struct Branding;

#[async_trait]
impl OtpMessageExtension for Branding {
    fn name(&self) -> &str {
        "branding"
    }

    async fn before_send(
        &self,
        request: &EmailOtpSendRequest,
        message: &mut OutgoingEmail,
        context: &OtpSendContext<'_>,
    ) -> Result<MessageVerdict, ExtensionError> {
        let to = request.otp_context.identifier.as_str();
        if to.ends_with("@test.example") {
            return Ok(MessageVerdict::Suppress {
                reason: "test account".into(),
            });
        }
        if to.ends_with("@unreachable.example") {
            return Ok(MessageVerdict::DeferToMicrosoft {
                reason: "no route to this domain".into(),
            });
        }
        if to.ends_with("@broken.example") {
            message.subject = "half-edited".into();
            return Err("the branding service is down".into());
        }
        message.subject = format!("[{}] {}", context.locale, message.subject);
        message.text_body.push_str("\n-- Contoso");
        Ok(MessageVerdict::Send)
    }
}

struct Slow;

#[async_trait]
impl OtpMessageExtension for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    async fn before_send(
        &self,
        _: &EmailOtpSendRequest,
        message: &mut OutgoingEmail,
        _: &OtpSendContext<'_>,
    ) -> Result<MessageVerdict, ExtensionError> {
        message.subject = "never".into();
        std::future::pending::<()>().await;
        Ok(MessageVerdict::Send)
    }
}

#[tokio::test]
async fn extensions_edit_suppress_or_defer_the_message_and_failures_are_skipped() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let branded =
        routes(app(&sandbox, "", mailer.clone(), memory()).with_extension(Arc::new(Branding)));
    let base = request_for(DOCS_REQUEST, sandbox.tenant_id());
    // Each case is a separate sign-in: its own correlation id.
    let to = |address: &str| {
        let mut body = base.clone();
        body["data"]["otpContext"]["identifier"] = json!(address);
        body["data"]["authenticationContext"]["correlationId"] = json!(address);
        body.to_string()
    };

    let (status, _) = invoke(branded.clone(), bearer(&sandbox), to("jane@example.com")).await;
    assert_eq!(status, 200);
    let mail = mailer.delivered().pop().unwrap();
    assert_eq!(mail.subject, "[en] Your verification code");
    assert!(mail.text_body.ends_with("\n-- Contoso"));

    let (status, json) = invoke(branded.clone(), bearer(&sandbox), to("qa@test.example")).await;
    assert_eq!((status, json), (200, continue_response()));
    let (status, _) = invoke(
        branded.clone(),
        bearer(&sandbox),
        to("x@unreachable.example"),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        mailer.attempts(),
        1,
        "suppressed and deferred messages are not sent"
    );

    let (status, _) = invoke(branded, bearer(&sandbox), to("x@broken.example")).await;
    assert_eq!(status, 200);
    let mail = mailer.delivered().pop().unwrap();
    assert_eq!(
        mail.subject, "Your verification code",
        "the failed edit was dropped"
    );

    // An extension that never answers is abandoned at the deadline; with the budget gone the
    // (slow) mail service cannot finish either, and the answer is a 500 in time.
    let mailer = Arc::new(RecordingMailer::default());
    mailer.then(Behaviour::Hang);
    let slow = routes(
        app(
            &sandbox,
            "[email_otp_send]\ntimeout_ms = 300\n",
            mailer.clone(),
            memory(),
        )
        .with_extension(Arc::new(Slow)),
    );
    let started = Instant::now();
    let (status, _) = invoke(slow, bearer(&sandbox), to("jane@example.com")).await;
    assert_eq!(status, 500);
    assert!(started.elapsed() < Duration::from_millis(300));
    assert!(mailer.delivered().is_empty());
}

#[tokio::test]
async fn missing_or_foreign_tokens_get_401_and_nothing_is_sent() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let routes = routes(app(&sandbox, "", mailer.clone(), memory()));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let foreign = sandbox
        .extension_token()
        .claim("azp", "11111111-2222-3333-4444-555555555555")
        .sign();
    assert_bad_tokens_refused(|| routes.clone(), PATH, &foreign, &body).await;
    let other_tenant =
        request_for(DOCS_REQUEST, "aaaabbbb-0000-cccc-1111-dddd2222eeee").to_string();
    let (status, _) = invoke(routes, bearer(&sandbox), other_tenant).await;
    assert_eq!(status, 401);
    assert_eq!(mailer.attempts(), 0);
}

#[tokio::test]
async fn malformed_foreign_and_oversized_bodies_get_4xx_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let routes = routes(app(&sandbox, "", mailer.clone(), memory()));
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    assert_foreign_bodies_refused(
        || routes.clone(),
        PATH,
        &token,
        &request_for(DOCS_REQUEST, sandbox.tenant_id()),
        EventKind::TokenIssuanceStart,
    )
    .await;
    let mut no_code = request_for(DOCS_REQUEST, sandbox.tenant_id());
    no_code["data"]["otpContext"]
        .as_object_mut()
        .unwrap()
        .remove("oneTimeCode");
    let cases = [
        (
            json!({"type": "x", "data": {}}).to_string(),
            400,
            "unknown_event_type",
        ),
        (no_code.to_string(), 400, "invalid_callout"),
    ];
    for (body, status, code) in cases {
        let (got, json) = invoke(routes.clone(), bearer(&sandbox), body).await;
        assert_eq!((got, json["error"]["code"].as_str()), (status, Some(code)));
    }
    let mut big = request_for(DOCS_REQUEST, sandbox.tenant_id());
    big["padding"] = json!("x".repeat(70 * 1024));
    let (status, json) = invoke(routes, bearer(&sandbox), big.to_string()).await;
    assert_eq!(status, 413);
    assert_eq!(json["error"]["code"], "payload_too_large");
    assert_eq!(mailer.attempts(), 0);
}
