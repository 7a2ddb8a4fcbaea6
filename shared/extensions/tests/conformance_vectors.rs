//! The response check against every response vector: Microsoft's documented answers pass, the
//! Microsoft .NET library's library-internal, legacy and invalid shapes are refused (we never emit
//! them), and the legacy (pre-GA) request schema is not taken for a current event.

mod common;

use common::{json, vectors_dir};
use entra_extensions::conformance::{ConformanceError, check_response};
use entra_extensions::{CalloutError, EventKind, TokenIssuanceStartRequest};
use serde_json::Value;

fn kind_of_docs_response(file: &str) -> EventKind {
    let event = file.split('.').next().unwrap();
    match event {
        "tokenIssuanceStart" => EventKind::TokenIssuanceStart,
        "attributeCollectionStart" => EventKind::AttributeCollectionStart,
        "attributeCollectionSubmit" => EventKind::AttributeCollectionSubmit,
        "emailOtpSend" => EventKind::EmailOtpSend,
        "passwordSubmit" => EventKind::PasswordSubmit,
        other => panic!("unknown event in {other}"),
    }
}

#[test]
fn every_documented_response_conforms() {
    let mut checked = 0;
    for entry in std::fs::read_dir(vectors_dir().join("docs"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.contains(".response.") {
            continue;
        }
        let kind = kind_of_docs_response(&name);
        check_response(kind, &json(&format!("docs/{name}")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        checked += 1;
    }
    assert_eq!(checked, 10, "every docs response vector");
    check_response(
        EventKind::TokenIssuanceStart,
        &json("azure-sdk/ExpectedPayload.json"),
    )
    .unwrap();
}

#[test]
fn the_libraries_internal_and_invalid_shapes_are_refused() {
    let kind = EventKind::TokenIssuanceStart;
    let cases = [
        // No data.@odata.type: the .NET library fills it in before sending; we must send it.
        (
            "azure-sdk/CloudEventActionResponse.json",
            ConformanceError::WrongResponseType {
                expected: "microsoft.graph.onTokenIssuanceStartResponseData",
                found: "nothing".into(),
            },
        ),
        // No data wrapper.
        (
            "azure-sdk/ConversionPayload.json",
            ConformanceError::UnexpectedMember("actions".into()),
        ),
        (
            "azure-sdk/InvalidActionResponse.json",
            ConformanceError::UnexpectedMember("actions".into()),
        ),
        (
            "azure-sdk/NoActionResponse.json",
            ConformanceError::UnexpectedMember("actions".into()),
        ),
        (
            "azure-sdk/NullResponse.json",
            ConformanceError::UnexpectedMember("errors".into()),
        ),
        (
            "azure-sdk/Legacy/ExpectedPayload.json",
            ConformanceError::UnexpectedMember("actions".into()),
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(
            check_response(kind, &json(file)).unwrap_err(),
            expected,
            "{file}"
        );
    }
}

#[test]
fn wrapped_versions_of_the_invalid_shapes_are_refused_for_the_right_reason() {
    let kind = EventKind::TokenIssuanceStart;
    let wrap = |actions: Value| serde_json::json!({"data": {"@odata.type": "microsoft.graph.onTokenIssuanceStartResponseData", "actions": actions}});
    assert_eq!(
        check_response(
            kind,
            &wrap(json("azure-sdk/NoActionResponse.json")["actions"].clone())
        )
        .unwrap_err(),
        ConformanceError::ActionCount(0)
    );
    assert_eq!(
        check_response(
            kind,
            &wrap(json("azure-sdk/InvalidActionResponse.json")["actions"].clone())
        )
        .unwrap_err(),
        ConformanceError::MissingMember("@odata.type")
    );
    let mut two = json("azure-sdk/ExpectedPayload.json");
    let action = two["data"]["actions"][0].clone();
    two["data"]["actions"].as_array_mut().unwrap().push(action);
    assert_eq!(
        check_response(kind, &two).unwrap_err(),
        ConformanceError::ActionCount(2)
    );

    let mut lower = json("azure-sdk/ExpectedPayload.json");
    lower["data"]["actions"][0]["@odata.type"] =
        "microsoft.graph.tokenissuancestart.provideclaimsfortoken".into();
    assert!(matches!(
        check_response(kind, &lower),
        Err(ConformanceError::WrongActionType { .. })
    ));

    let mut boolean = json("azure-sdk/ExpectedPayload.json");
    boolean["data"]["actions"][0]["claims"]["Flag"] = true.into();
    assert_eq!(
        check_response(kind, &boolean).unwrap_err(),
        ConformanceError::ClaimType("Flag".into())
    );

    let otp = json("docs/emailOtpSend.response.continueWithDefaultBehavior.json");
    assert!(matches!(
        check_response(kind, &otp),
        Err(ConformanceError::WrongResponseType { .. })
    ));

    let mut password = json("docs/passwordSubmit.response.MigratePassword.json");
    password["data"].as_object_mut().unwrap().remove("nonce");
    assert_eq!(
        check_response(EventKind::PasswordSubmit, &password).unwrap_err(),
        ConformanceError::MissingNonce
    );
}

/// Legacy/RequestSchema.json describes the pre-GA request (`onTokenIssuanceStartCustomExtension`,
/// `apiSchemaVersion` `10-01-2021-preview`): recognised as not a current event, answered 400.
#[test]
fn a_request_in_the_legacy_schema_is_an_unknown_event() {
    let schema = json("azure-sdk/Legacy/RequestSchema.json");
    let legacy_type = schema["properties"]["type"]["enum"][0].as_str().unwrap();
    let version = schema["properties"]["apiSchemaVersion"]["enum"][0]
        .as_str()
        .unwrap();
    let body = serde_json::json!({
        "type": legacy_type,
        "apiSchemaVersion": version,
        "time": "2021-10-01T00:00:00Z",
        "eventListenerId": "00000000-0000-0000-0000-000000000001",
        "customExtensionId": "00000000-0000-0000-0000-000000000002",
        "context": { "correlationId": "00000000-0000-0000-0000-000000000003" }
    });
    let error = TokenIssuanceStartRequest::parse(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        error,
        CalloutError::UnknownEventType(legacy_type.to_owned())
    );
}
