//! Conformance of the emailOtpSend wire types against Microsoft's published payloads
//! (tests/vectors/extension-callbacks, spec a.8).

mod common;

use std::collections::BTreeSet;

use common::{json, vector, vectors_dir};
use entra_extensions::{CalloutError, EmailOtpSendAction, EmailOtpSendRequest, EventKind};
use serde_json::{Value, json};

const DOCS_REQUEST: &str = "docs/emailOtpSend.request.json";
const SAMPLE_REQUEST: &str = "microsoft-samples/OnEmailOtpSend.json";
const DOCS_RESPONSE: &str = "docs/emailOtpSend.response.continueWithDefaultBehavior.json";

/// A new OTP vector must come with a test.
#[test]
fn every_email_otp_vector_is_exercised() {
    let mut on_disk = BTreeSet::new();
    for folder in ["docs", "microsoft-samples"] {
        for entry in std::fs::read_dir(vectors_dir().join(folder)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.to_ascii_lowercase().contains("otpsend") {
                on_disk.insert(format!("{folder}/{name}"));
            }
        }
    }
    let covered: BTreeSet<String> = [DOCS_REQUEST, SAMPLE_REQUEST, DOCS_RESPONSE]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(on_disk, covered);
}

#[test]
fn docs_request_parses() {
    let request = EmailOtpSendRequest::parse(&vector(DOCS_REQUEST)).unwrap();
    assert_eq!(request.callout.kind, EventKind::EmailOtpSend);
    assert_eq!(request.otp_context.identifier, "someone@example.com");
    assert_eq!(request.otp_context.one_time_code.expose(), "12345678");
    assert_eq!(
        request.callout.context.request_type.as_deref(),
        Some("signUp")
    );
    assert_eq!(
        request.callout.context.correlation_id,
        "3333dddd-44ee-ffff-aa55-bbbbbbbb6666"
    );
}

/// microsoft-samples/OnEmailOtpSend.json spells the code `onetimecode` (and the docs
/// `oneTimeCode`), with `requestType` `SignIn`: the code is read ignoring key case (a.12 rule 2).
#[test]
fn lower_case_onetimecode_from_the_functions_sample_is_read() {
    let raw = json(SAMPLE_REQUEST);
    assert!(raw["data"]["otpContext"].get("onetimecode").is_some());
    let request = EmailOtpSendRequest::parse(&vector(SAMPLE_REQUEST)).unwrap();
    assert_eq!(request.otp_context.identifier, "user@yourdomain.com");
    assert_eq!(request.otp_context.one_time_code.expose(), "23123456");
    assert_eq!(
        request.callout.context.request_type.as_deref(),
        Some("SignIn")
    );
}

/// The same for the containing object and the identifier: every key is read ignoring case.
#[test]
fn otp_context_key_casing_variants_are_read() {
    let mut body = json(DOCS_REQUEST);
    let data = body["data"].as_object_mut().unwrap();
    data.remove("otpContext");
    data.insert(
        "OtpContext".into(),
        json!({"Identifier": "a@b.example", "ONETIMECODE": "87654321", "extra": 1}),
    );
    let request = EmailOtpSendRequest::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(request.otp_context.identifier, "a@b.example");
    assert_eq!(request.otp_context.one_time_code.expose(), "87654321");
}

/// The code is a credential: it must not reach logs through `Debug`.
#[test]
fn debug_output_never_shows_the_code() {
    let request = EmailOtpSendRequest::parse(&vector(DOCS_REQUEST)).unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains("12345678"), "{debug}");
    assert!(debug.contains("someone@example.com"));
    assert!(debug.contains("<redacted>"));
}

#[test]
fn missing_or_invalid_otp_members_are_refused() {
    let cases: [(&str, Option<Value>, CalloutError); 7] = [
        (
            "/data/otpContext",
            None,
            CalloutError::MissingField("data.otpContext"),
        ),
        (
            "/data/otpContext",
            Some(Value::Null),
            CalloutError::MissingField("data.otpContext"),
        ),
        (
            "/data/otpContext",
            Some(json!("someone@example.com")),
            CalloutError::InvalidField {
                field: "data.otpContext",
                problem: "must be an object".into(),
            },
        ),
        (
            "/data/otpContext/identifier",
            None,
            CalloutError::MissingField("data.otpContext.identifier"),
        ),
        (
            "/data/otpContext/oneTimeCode",
            None,
            CalloutError::MissingField("data.otpContext.oneTimeCode"),
        ),
        (
            "/data/otpContext/oneTimeCode",
            Some(json!(12345678)),
            CalloutError::InvalidField {
                field: "data.otpContext.oneTimeCode",
                problem: "must be a string".into(),
            },
        ),
        (
            "/data/otpContext/identifier",
            Some(json!("")),
            CalloutError::InvalidField {
                field: "data.otpContext.identifier",
                problem: "must not be empty".into(),
            },
        ),
    ];
    for (pointer, replacement, expected) in cases {
        let mut body = json(DOCS_REQUEST);
        match replacement {
            Some(value) => *body.pointer_mut(pointer).unwrap() = value,
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                body.pointer_mut(parent)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove(key)
                    .unwrap();
            }
        }
        let err = EmailOtpSendRequest::parse(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, expected, "{pointer}");
        assert_eq!(err.code(), "invalid_callout");
    }
}

#[test]
fn other_events_and_malformed_bodies_are_refused() {
    for file in [
        "docs/tokenIssuanceStart.request.json",
        "docs/attributeCollectionStart.request.json",
        "docs/passwordSubmit.request.json",
    ] {
        let err = EmailOtpSendRequest::parse(&vector(file)).unwrap_err();
        assert!(
            matches!(
                err,
                CalloutError::WrongEvent {
                    expected: EventKind::EmailOtpSend,
                    ..
                }
            ),
            "{file}: {err:?}"
        );
    }
    let err = EmailOtpSendRequest::parse(&vector("azure-sdk/InvalidXmlRequest.xml")).unwrap_err();
    assert_eq!(err.code(), "malformed_json");
    let truncated = &vector(DOCS_REQUEST)[..200];
    let err = EmailOtpSendRequest::parse(truncated).unwrap_err();
    assert!(matches!(err, CalloutError::NotJson(_)), "{err:?}");
}

/// The documented capital `O` in both `microsoft.graph.OnOtpSendResponseData` and
/// `microsoft.graph.OtpSend.continueWithDefaultBehavior` is reproduced exactly.
#[test]
fn response_matches_the_documented_payload() {
    let action = EmailOtpSendAction::ContinueWithDefaultBehavior;
    assert_eq!(action.to_response(), json(DOCS_RESPONSE));
    assert_eq!(
        action.action_type(),
        "microsoft.graph.OtpSend.continueWithDefaultBehavior"
    );
}
