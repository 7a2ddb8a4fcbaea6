//! Conformance of the passwordSubmit (JIT password migration) wire types against Microsoft's
//! published payloads (tests/vectors/extension-callbacks, spec a.9).

mod common;

use std::collections::BTreeSet;

use common::{json, vector, vectors_dir};
use entra_extensions::{
    CalloutError, EventKind, OnPremisesUser, PasswordSubmitAction, PasswordSubmitActionError,
    PasswordSubmitRequest,
};
use serde_json::{Value, json};

const DOCS_REQUEST: &str = "docs/passwordSubmit.request.json";
const DOCS_RESPONSE: &str = "docs/passwordSubmit.response.MigratePassword.json";
const NONCE: &str = "5b6c4f0e-2c1d-4a53-9f51-3f0a3f7c2b11";

/// A new passwordSubmit vector must come with a test.
#[test]
fn every_password_submit_vector_is_exercised() {
    let mut on_disk = BTreeSet::new();
    for folder in ["docs", "microsoft-samples"] {
        for entry in std::fs::read_dir(vectors_dir().join(folder)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.to_ascii_lowercase().contains("passwordsubmit") {
                on_disk.insert(format!("{folder}/{name}"));
            }
        }
    }
    let covered: BTreeSet<String> = [DOCS_REQUEST, DOCS_RESPONSE]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(on_disk, covered);
}

/// The docs request: trailing spaces on almost every line, no `resourceServicePrincipal` (the
/// 12/12/2025 page leaves it out), a full user with on-premises names, and the JWE placeholder
/// `{5-part-JWE}` kept opaque.
#[test]
fn docs_request_parses() {
    let request = PasswordSubmitRequest::parse(&vector(DOCS_REQUEST)).unwrap();
    assert_eq!(request.callout.kind, EventKind::PasswordSubmit);
    assert_eq!(
        request.callout.context.correlation_id,
        "aaaa0000-bb11-2222-33cc-444444dddddd"
    );
    assert_eq!(request.callout.context.resource_service_principal, None);
    assert_eq!(request.encrypted_password_context.expose(), "{5-part-JWE}");

    let user = request.user.expect("user");
    assert_eq!(user.id, "00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
    assert_eq!(user.mail.as_deref(), Some("casey@contoso.com"));
    assert_eq!(
        user.user_principal_name.as_deref(),
        Some("casey@contoso.com")
    );
    assert_eq!(user.company_name.as_deref(), Some("Casey Jensen"));
    assert_eq!(
        request.on_premises,
        OnPremisesUser {
            sam_account_name: Some("Casey Jensen".into()),
            security_identifier: Some("<Enter Security Identifier>".into()),
            user_principal_name: Some("Casey Jensen".into()),
        }
    );
}

/// The 2025-10-01 variant of the page includes `resourceServicePrincipal` (spec a.9); both parse.
#[test]
fn resource_service_principal_is_optional() {
    let mut body = json(DOCS_REQUEST);
    body["data"]["authenticationContext"]["resourceServicePrincipal"] = json!({
        "id": "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb",
        "appId": "00001111-aaaa-2222-bbbb-3333cccc4444",
        "appDisplayName": "My Test application",
        "displayName": "My Test application"
    });
    let request = PasswordSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(
        request
            .callout
            .context
            .resource_service_principal
            .unwrap()
            .app_display_name
            .as_deref(),
        Some("My Test application")
    );
}

/// a.12 rules 3 and 4: a user without on-premises names, or no user at all, still parses.
#[test]
fn sparse_or_absent_user_is_accepted() {
    let mut body = json(DOCS_REQUEST);
    body["data"]["authenticationContext"]["user"] =
        json!({"id": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "futureField": 1});
    let request = PasswordSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(request.user.unwrap().user_principal_name, None);
    assert_eq!(request.on_premises, OnPremisesUser::default());

    for absent in [Some(Value::Null), None] {
        let mut body = json(DOCS_REQUEST);
        let context = body["data"]["authenticationContext"]
            .as_object_mut()
            .unwrap();
        match absent {
            Some(null) => {
                context.insert("user".into(), null);
            }
            None => {
                context.remove("user");
            }
        }
        let request = PasswordSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
        assert!(request.user.is_none());
    }
}

/// The JWE wraps the password: it must not reach logs through `Debug`.
#[test]
fn debug_output_never_shows_the_encrypted_context() {
    let jwe = "eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.key.iv.ciphertext.tag";
    let mut body = json(DOCS_REQUEST);
    body["data"]["encryptedPasswordContext"] = jwe.into();
    let request = PasswordSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains("ciphertext"), "{debug}");
    let redacted = format!("EncryptedPasswordContext(<{} bytes>)", jwe.len());
    assert!(debug.contains(&redacted), "{debug}");
}

#[test]
fn missing_or_invalid_members_are_refused() {
    let cases: [(&str, Option<Value>, CalloutError); 5] = [
        (
            "/data/encryptedPasswordContext",
            None,
            CalloutError::MissingField("data.encryptedPasswordContext"),
        ),
        (
            "/data/encryptedPasswordContext",
            Some(json!("")),
            CalloutError::InvalidField {
                field: "data.encryptedPasswordContext",
                problem: "must not be empty".into(),
            },
        ),
        (
            "/data/encryptedPasswordContext",
            Some(json!({"jwe": "x"})),
            CalloutError::InvalidField {
                field: "data.encryptedPasswordContext",
                problem: "must be a string".into(),
            },
        ),
        (
            "/data/authenticationContext/user",
            Some(json!("casey@contoso.com")),
            CalloutError::InvalidField {
                field: "data.authenticationContext.user",
                problem: "must be an object".into(),
            },
        ),
        (
            "/data/authenticationContext/user/id",
            None,
            CalloutError::MissingField("data.authenticationContext.user.id"),
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
        let err = PasswordSubmitRequest::parse(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, expected, "{pointer}");
    }
}

#[test]
fn other_events_and_malformed_bodies_are_refused() {
    for file in [
        "docs/tokenIssuanceStart.request.json",
        "docs/attributeCollectionSubmit.request.json",
        "docs/emailOtpSend.request.json",
        "microsoft-samples/OnEmailOtpSend.json",
    ] {
        let err = PasswordSubmitRequest::parse(&vector(file)).unwrap_err();
        assert!(
            matches!(
                err,
                CalloutError::WrongEvent {
                    expected: EventKind::PasswordSubmit,
                    ..
                }
            ),
            "{file}: {err:?}"
        );
    }
    let err = PasswordSubmitRequest::parse(b"{\"type\":").unwrap_err();
    assert_eq!(err.code(), "malformed_json");
    let err = PasswordSubmitRequest::parse(
        b"{\"type\":\"microsoft.graph.authenticationEvent.passwordSubmit\"}",
    )
    .unwrap_err();
    assert_eq!(err, CalloutError::MissingField("data"));
}

#[test]
fn response_matches_the_documented_payload() {
    let body = PasswordSubmitAction::MigratePassword
        .to_response("{nonce-value-from-external-id}")
        .unwrap();
    assert_eq!(body, json(DOCS_RESPONSE));
}

/// The doc table casing `passwordSubmit` is emitted, not the sample code's `passwordsubmit`
/// (spec a.2 casing note); the nonce is echoed in `data.nonce` for every action.
#[test]
fn every_action_uses_the_documented_literal_and_echoes_the_nonce() {
    let cases = [
        (
            PasswordSubmitAction::MigratePassword,
            json!({"@odata.type": "microsoft.graph.passwordSubmit.MigratePassword"}),
        ),
        (
            PasswordSubmitAction::UpdatePassword,
            json!({"@odata.type": "microsoft.graph.passwordSubmit.UpdatePassword"}),
        ),
        (
            PasswordSubmitAction::retry(),
            json!({"@odata.type": "microsoft.graph.passwordSubmit.Retry"}),
        ),
        (
            PasswordSubmitAction::Retry {
                title: Some("Authentication Pending".into()),
                message: Some("Please try again.".into()),
            },
            json!({
                "@odata.type": "microsoft.graph.passwordSubmit.Retry",
                "title": "Authentication Pending",
                "message": "Please try again."
            }),
        ),
        (
            PasswordSubmitAction::block("Contact support."),
            json!({
                "@odata.type": "microsoft.graph.passwordSubmit.Block",
                "message": "Contact support."
            }),
        ),
        // The values the JIT doc's sample function sets for Block.
        (
            PasswordSubmitAction::Block {
                title: Some("Sign-in blocked".into()),
                message: "Admin has blocked your sign-in attempt. Please contact support.".into(),
            },
            json!({
                "@odata.type": "microsoft.graph.passwordSubmit.Block",
                "title": "Sign-in blocked",
                "message": "Admin has blocked your sign-in attempt. Please contact support."
            }),
        ),
    ];
    for (action, expected_action) in cases {
        let body = action.to_response(NONCE).unwrap();
        assert_eq!(
            body,
            json!({
                "data": {
                    "@odata.type": "microsoft.graph.onPasswordSubmitResponseData",
                    "actions": [expected_action],
                    "nonce": NONCE
                }
            }),
            "{action:?}"
        );
        assert_eq!(
            action.action_type(),
            body["data"]["actions"][0]["@odata.type"]
        );
        assert!(!action.action_type().contains("passwordsubmit"));
    }
}

#[test]
fn builder_refuses_what_entra_would_reject() {
    use PasswordSubmitActionError as E;
    for nonce in ["", "  "] {
        assert_eq!(
            PasswordSubmitAction::MigratePassword
                .to_response(nonce)
                .unwrap_err(),
            E::EmptyNonce
        );
    }
    assert_eq!(
        PasswordSubmitAction::block("")
            .to_response(NONCE)
            .unwrap_err(),
        E::EmptyMessage
    );
    assert_eq!(
        PasswordSubmitAction::Block {
            title: Some(String::new()),
            message: "Blocked".into()
        }
        .to_response(NONCE)
        .unwrap_err(),
        E::EmptyTitle
    );
    assert_eq!(
        PasswordSubmitAction::Retry {
            title: None,
            message: Some(" ".into())
        }
        .to_response(NONCE)
        .unwrap_err(),
        E::EmptyMessage
    );
}
