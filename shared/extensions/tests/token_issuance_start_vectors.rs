//! Conformance of the tokenIssuanceStart wire types against Microsoft's published payloads
//! (tests/vectors/extension-callbacks).

mod common;

use common::{json, vector};
use entra_extensions::{
    CalloutError, ClaimValue, ClaimsError, EventKind, ProvideClaimsForToken,
    TokenIssuanceStartRequest,
};
use serde_json::Value;

#[test]
fn docs_request_parses_with_full_user() {
    let request = TokenIssuanceStartRequest::parse(&vector("docs/tokenIssuanceStart.request.json"))
        .expect("docs request parses");
    assert_eq!(request.callout.kind, EventKind::TokenIssuanceStart);
    assert_eq!(request.callout.tenant_id, "<Your tenant GUID>");
    assert_eq!(request.callout.context.locale.as_deref(), Some("en-us"));
    assert_eq!(
        request.callout.context.protocol.as_deref(),
        Some("OAUTH2.0")
    );
    let user = request.user.expect("user present");
    assert_eq!(user.id, "90847c2a-e29d-4d2f-9f54-c5b4d3f26471");
    assert_eq!(
        user.user_principal_name.as_deref(),
        Some("casey@contoso.com")
    );
    let client = request
        .callout
        .context
        .client_service_principal
        .expect("client sp");
    assert_eq!(
        client.app_display_name.as_deref(),
        Some("My Test application")
    );
}

#[test]
fn sample_and_sdk_requests_parse() {
    for file in [
        "microsoft-samples/OnTokenIssuanceStart.json",
        "azure-sdk/ValidRequest.json",
    ] {
        let request = TokenIssuanceStartRequest::parse(&vector(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(request.user.is_some(), "{file}: user");
        assert!(!request.callout.context.correlation_id.is_empty(), "{file}");
    }
}

/// RequestMissingSource.json: the .NET library answers 400; we accept it because `source` is
/// informational and never used for authorization.
#[test]
fn missing_source_is_accepted() {
    let request = TokenIssuanceStartRequest::parse(&vector("azure-sdk/RequestMissingSource.json"))
        .expect("accepted");
    assert_eq!(request.callout.source, None);
}

/// RequestMissingODataType.json: accepted, the top-level `type` names the event.
#[test]
fn missing_data_odata_type_is_accepted() {
    TokenIssuanceStartRequest::parse(&vector("azure-sdk/RequestMissingODataType.json"))
        .expect("accepted");
}

#[test]
fn invalid_json_and_xml_are_rejected_as_malformed() {
    for file in [
        "azure-sdk/InvalidJsonRequest.json",
        "azure-sdk/InvalidXmlRequest.xml",
    ] {
        let err = TokenIssuanceStartRequest::parse(&vector(file)).expect_err(file);
        assert!(matches!(err, CalloutError::NotJson(_)), "{file}: {err:?}");
        assert_eq!(err.code(), "malformed_json");
    }
}

/// Microsoft docs and samples spell `@odata.type` as `@odata.Type`; keys are read ignoring case.
#[test]
fn odata_type_key_casing_variant_is_read() {
    let mut body = json("docs/tokenIssuanceStart.request.json");
    let data = body["data"].as_object_mut().unwrap();
    let value = data.remove("@odata.type").unwrap();
    data.insert("@odata.Type".into(), value);
    TokenIssuanceStartRequest::parse(body.to_string().as_bytes()).expect("accepted");

    data_type_mismatch_is_rejected(body);
}

fn data_type_mismatch_is_rejected(mut body: Value) {
    body["data"]["@odata.Type"] = "microsoft.graph.onOtpSendCalloutData".into();
    let err = TokenIssuanceStartRequest::parse(body.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(err, CalloutError::DataTypeMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn other_events_and_unknown_types_are_rejected() {
    let err =
        TokenIssuanceStartRequest::parse(&vector("docs/emailOtpSend.request.json")).unwrap_err();
    assert!(matches!(err, CalloutError::WrongEvent { .. }), "{err:?}");

    let legacy = br#"{"type":"onTokenIssuanceStartCustomExtension","apiSchemaVersion":"10-01-2021-preview"}"#;
    let err = TokenIssuanceStartRequest::parse(legacy).unwrap_err();
    assert_eq!(err.code(), "unknown_event_type");

    for (body, code) in [
        (&b"[]"[..], "malformed_json"),
        (b"{}", "invalid_callout"),
        (b"", "malformed_json"),
    ] {
        let err = TokenIssuanceStartRequest::parse(body).unwrap_err();
        assert_eq!(err.code(), code, "{:?}", String::from_utf8_lossy(body));
    }
}

/// A social account (woodgrove capture in the spec, a.5) has no userPrincipalName.
#[test]
fn sparse_social_user_is_accepted() {
    let mut body = json("docs/tokenIssuanceStart.request.json");
    body["data"]["authenticationContext"]["user"] = serde_json::json!({
        "displayName": "Someone",
        "id": "92476d48-0000-0000-0000-000000000000",
        "mail": "someone@gmail.com",
        "userType": "Member"
    });
    let request = TokenIssuanceStartRequest::parse(body.to_string().as_bytes()).unwrap();
    let user = request.user.unwrap();
    assert_eq!(user.user_principal_name, None);
    assert_eq!(user.mail.as_deref(), Some("someone@gmail.com"));
}

#[test]
fn response_matches_the_documented_and_sdk_payloads() {
    let mut action = ProvideClaimsForToken::new();
    action.insert("DateOfBirth", "01/01/2000");
    action.insert(
        "CustomRoles",
        vec!["Writer".to_owned(), "Editor".to_owned()],
    );
    let body = action.to_response().unwrap();
    assert_eq!(
        body,
        json("docs/tokenIssuanceStart.response.provideClaimsForToken.json")
    );
    assert_eq!(body, json("azure-sdk/ExpectedPayload.json"));
}

#[test]
fn one_element_arrays_stay_arrays_and_names_keep_case() {
    let mut action = ProvideClaimsForToken::new();
    action.insert("Roles", ClaimValue::Many(vec!["Reader".into()]));
    action.insert("roles", "lower");
    action.insert("Roles", ClaimValue::Many(vec!["Writer".into()]));
    let body = action.to_response().unwrap();
    let claims = &body["data"]["actions"][0]["claims"];
    assert_eq!(claims["Roles"], serde_json::json!(["Writer"]));
    assert_eq!(claims["roles"], "lower");
    assert_eq!(action.len(), 2);
}

#[test]
fn oversized_or_nameless_claims_are_refused_before_sending() {
    let mut action = ProvideClaimsForToken::new();
    action.insert("big", "x".repeat(3 * 1024));
    assert_eq!(
        action.to_response().unwrap_err(),
        ClaimsError::TooLarge { size: 3 * 1024 + 3 }
    );

    let mut exact = ProvideClaimsForToken::new();
    exact.insert("big", "x".repeat(3 * 1024 - 3));
    assert!(exact.to_response().is_ok());

    let mut nameless = ProvideClaimsForToken::new();
    nameless.insert("", "value");
    assert_eq!(
        nameless.to_response().unwrap_err(),
        ClaimsError::EmptyClaimName
    );
}

/// `Debug` of a callout never prints the raw `data` (OTP codes, encrypted passwords live there).
#[test]
fn callout_debug_leaves_out_raw_data() {
    let mut body = json("docs/tokenIssuanceStart.request.json");
    body["data"]["secretish"] = serde_json::json!("do-not-print-me");
    let request = TokenIssuanceStartRequest::parse(body.to_string().as_bytes()).unwrap();
    let printed = format!("{:?}", request.callout);
    assert!(!printed.contains("do-not-print-me"), "{printed}");
    assert!(printed.contains("TokenIssuanceStart"));
}
