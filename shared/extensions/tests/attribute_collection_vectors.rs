//! Conformance of the attributeCollectionStart / attributeCollectionSubmit wire types against
//! Microsoft's published payloads (tests/vectors/extension-callbacks) and the captures quoted
//! in docs/protocols/extension-callbacks.md a.6, a.7 and a.11.

mod common;

use std::collections::BTreeSet;

use common::{json, vector, vectors_dir};
use entra_extensions::{
    AttributeActionError, AttributeCollectionStartAction, AttributeCollectionStartRequest,
    AttributeCollectionSubmitAction, AttributeCollectionSubmitRequest, AttributeKind,
    AttributeValues, BareValue, CalloutError, EventKind, ShowBlockPage, ShowValidationError,
    UserSignUpInfo,
};
use serde_json::{Value, json};

const START_REQUESTS: [&str; 2] = [
    "docs/attributeCollectionStart.request.json",
    "microsoft-samples/OnAttributeCollectionStart.json",
];
const SUBMIT_REQUESTS: [&str; 2] = [
    "docs/attributeCollectionSubmit.request.json",
    "microsoft-samples/OnAttributeCollectionSubmit.json",
];

const BLOCK_TITLE: &str = "Hold tight...";
const BLOCK_MESSAGE: &str = "Your access request is already processing. You'll be notified when your request has been approved.";

/// The documented example values of setPrefillValues and modifyAttributeValues.
fn documented_values() -> AttributeValues {
    AttributeValues::new()
        .with("key1", vec!["value1", "value2", "value3"])
        .with("key2", true)
}

fn start_responses() -> Vec<(&'static str, AttributeCollectionStartAction)> {
    vec![
        (
            "docs/attributeCollectionStart.response.continueWithDefaultBehavior.json",
            AttributeCollectionStartAction::ContinueWithDefaultBehavior,
        ),
        (
            "docs/attributeCollectionStart.response.setPrefillValues.json",
            AttributeCollectionStartAction::SetPrefillValues(documented_values()),
        ),
        (
            "docs/attributeCollectionStart.response.showBlockPage.json",
            AttributeCollectionStartAction::ShowBlockPage(
                ShowBlockPage::new(BLOCK_MESSAGE).with_title(BLOCK_TITLE),
            ),
        ),
    ]
}

fn submit_responses() -> Vec<(&'static str, AttributeCollectionSubmitAction)> {
    vec![
        (
            "docs/attributeCollectionSubmit.response.continueWithDefaultBehavior.json",
            AttributeCollectionSubmitAction::ContinueWithDefaultBehavior,
        ),
        (
            "docs/attributeCollectionSubmit.response.modifyAttributeValues.json",
            AttributeCollectionSubmitAction::ModifyAttributeValues(documented_values()),
        ),
        (
            "docs/attributeCollectionSubmit.response.showBlockPage.json",
            AttributeCollectionSubmitAction::ShowBlockPage(
                ShowBlockPage::new(BLOCK_MESSAGE).with_title(BLOCK_TITLE),
            ),
        ),
        (
            "docs/attributeCollectionSubmit.response.showValidationError.json",
            AttributeCollectionSubmitAction::ShowValidationError(
                ShowValidationError::new("Please fix the below errors to proceed.")
                    .with("city", "City cannot contain any numbers")
                    .with(
                        "extension_<appid>_graduationYear",
                        "Graduation year must be at least 4 digits",
                    ),
            ),
        ),
    ]
}

/// A new attribute-collection vector must come with a test: every file for these two events is
/// one of the requests or responses above.
#[test]
fn every_attribute_collection_vector_is_exercised() {
    let mut on_disk = BTreeSet::new();
    for folder in ["docs", "microsoft-samples"] {
        for entry in std::fs::read_dir(vectors_dir().join(folder)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let lower = name.to_ascii_lowercase();
            if lower.contains("attributecollectionstart")
                || lower.contains("attributecollectionsubmit")
            {
                on_disk.insert(format!("{folder}/{name}"));
            }
        }
    }
    let mut covered: BTreeSet<String> = START_REQUESTS
        .iter()
        .chain(SUBMIT_REQUESTS.iter())
        .map(|f| f.to_string())
        .collect();
    covered.extend(start_responses().into_iter().map(|(f, _)| f.to_owned()));
    covered.extend(submit_responses().into_iter().map(|(f, _)| f.to_owned()));
    assert_eq!(on_disk, covered);
}

/// The docs and the Functions sample send the same five attributes, one of each type.
fn assert_documented_attributes(info: &UserSignUpInfo, extension_prefix: &str, file: &str) {
    let attributes = &info.attributes;
    assert_eq!(attributes.len(), 5, "{file}");

    let given_name = attributes.get("givenName").expect("givenName");
    assert_eq!(given_name.kind, AttributeKind::String, "{file}");
    assert_eq!(given_name.as_str(), Some("Larissa Price"), "{file}");
    assert_eq!(
        given_name.attribute_type.as_deref(),
        Some("builtIn"),
        "{file}"
    );
    assert_eq!(
        attributes.get("companyName").and_then(|a| a.as_str()),
        Some("Contoso University"),
        "{file}"
    );

    let groups = attributes
        .get(&format!("{extension_prefix}_universityGroups"))
        .expect("universityGroups");
    assert_eq!(groups.kind, AttributeKind::String, "{file}");
    assert_eq!(groups.values(), ["Alumni", "Faculty"], "{file}");
    assert_eq!(
        groups.attribute_type.as_deref(),
        Some("directorySchemaExtension")
    );

    let year = attributes
        .get(&format!("{extension_prefix}_graduationYear"))
        .expect("graduationYear");
    assert_eq!(year.kind, AttributeKind::Int64, "{file}");
    assert_eq!(year.as_i64(), Some(2010), "{file}");

    let mailing = attributes
        .get(&format!("{extension_prefix}_onMailingList"))
        .expect("onMailingList");
    assert_eq!(mailing.kind, AttributeKind::Boolean, "{file}");
    assert_eq!(mailing.as_bool(), Some(false), "{file}");
    assert!(!mailing.is_empty(), "{file}: false is a value");

    assert_eq!(info.identities.len(), 1, "{file}");
    let identity = &info.identities[0];
    assert_eq!(identity.sign_in_type.as_deref(), Some("email"), "{file}");
    assert_eq!(
        identity.issuer.as_deref(),
        Some("contoso.onmicrosoft.com"),
        "{file}"
    );
    assert_eq!(
        identity.issuer_assigned_id.as_deref(),
        Some("larissa.price@contoso.onmicrosoft.com"),
        "{file}"
    );
}

fn extension_prefix(file: &str) -> &'static str {
    if file.starts_with("docs/") {
        "extension_<appid>"
    } else {
        // microsoft-samples: an app-id part of 31 hex digits (MANIFEST.md); looked up verbatim.
        "extension_6666666666666666666666666666666"
    }
}

/// Both start requests parse, with no `user` (the account does not exist yet) and the docs'
/// placeholder GUIDs (`<GUID>`, `<Your Test Application App Id>`) accepted as-is.
#[test]
fn start_requests_parse_with_typed_attributes() {
    for file in START_REQUESTS {
        let request = AttributeCollectionStartRequest::parse(&vector(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(request.callout.kind, EventKind::AttributeCollectionStart);
        assert_eq!(
            request.callout.tenant_id,
            "aaaabbbb-0000-cccc-1111-dddd2222eeee"
        );
        assert_eq!(request.callout.context.request_type, None, "{file}");
        assert_eq!(request.callout.context_member("user"), None, "{file}");
        assert_documented_attributes(&request.user_sign_up_info, extension_prefix(file), file);
    }
    let docs = AttributeCollectionStartRequest::parse(&vector(START_REQUESTS[0])).unwrap();
    assert_eq!(docs.callout.context.correlation_id, "<GUID>");
    assert_eq!(
        docs.callout
            .context
            .client_service_principal
            .unwrap()
            .app_id
            .as_deref(),
        Some("<Your Test Application App Id>")
    );
}

/// microsoft-samples/OnAttributeCollectionSubmit.json has `correlationId` `"<GUID>"`: no GUID
/// syntax is required at this layer.
#[test]
fn submit_requests_parse_with_typed_attributes() {
    for file in SUBMIT_REQUESTS {
        let request = AttributeCollectionSubmitRequest::parse(&vector(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(request.callout.kind, EventKind::AttributeCollectionSubmit);
        assert_eq!(request.callout.context.correlation_id, "<GUID>", "{file}");
        assert_eq!(request.callout.context_member("user"), None, "{file}");
        assert_documented_attributes(&request.user_sign_up_info, extension_prefix(file), file);
    }
}

/// docs/attributeCollectionStart.request.json (and the Functions sample) spell the
/// universityGroups key `@odata.Type`; without case-insensitive keys the kind would be inferred,
/// so this also checks the explicit type wins over the value's JSON type.
#[test]
fn odata_type_key_with_capital_t_is_read() {
    let body = json("docs/attributeCollectionStart.request.json");
    let entry = &body["data"]["userSignUpInfo"]["attributes"]["extension_<appid>_universityGroups"];
    assert!(
        entry.get("@odata.Type").is_some(),
        "the vector keeps the quirk"
    );

    let mut body = body.clone();
    body["data"]["userSignUpInfo"]["attributes"]["extension_<appid>_universityGroups"] = json!({
        "@odata.Type": "microsoft.graph.int64DirectoryAttributeValue",
        "value": "Alumni,Faculty",
    });
    let request = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap();
    let groups = request
        .user_sign_up_info
        .attributes
        .get("extension_<appid>_universityGroups")
        .unwrap();
    assert_eq!(groups.kind, AttributeKind::Int64);
    assert_eq!(groups.attribute_type, None);
}

/// a.12 rule 1 / a.2 casing note: Microsoft's samples vary the casing of type literals, so
/// attribute `@odata.type` values are compared ignoring case; unknown types are kept, not refused.
#[test]
fn odata_type_values_match_ignoring_case_and_unknown_types_are_kept() {
    let mut body = json("docs/attributeCollectionSubmit.request.json");
    let attributes = &mut body["data"]["userSignUpInfo"]["attributes"];
    attributes["extension_<appid>_graduationYear"]["@odata.type"] =
        "MICROSOFT.GRAPH.INT64DIRECTORYATTRIBUTEVALUE".into();
    attributes["extension_<appid>_onMailingList"]["@odata.type"] =
        "microsoft.graph.BooleanDirectoryAttributeValue".into();
    attributes["birthDate"] = json!({
        "@odata.type": "microsoft.graph.dateTimeDirectoryAttributeValue",
        "value": "2000-01-01",
        "attributeType": "builtIn"
    });
    let request = AttributeCollectionSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
    let attributes = &request.user_sign_up_info.attributes;
    assert_eq!(
        attributes
            .get("extension_<appid>_graduationYear")
            .unwrap()
            .kind,
        AttributeKind::Int64
    );
    assert_eq!(
        attributes
            .get("extension_<appid>_onMailingList")
            .unwrap()
            .kind,
        AttributeKind::Boolean
    );
    let birth_date = attributes.get("birthDate").unwrap();
    assert_eq!(
        birth_date.kind,
        AttributeKind::Other("microsoft.graph.dateTimeDirectoryAttributeValue".into())
    );
    assert_eq!(
        birth_date.kind.odata_type(),
        "microsoft.graph.dateTimeDirectoryAttributeValue"
    );
    assert_eq!(birth_date.as_str(), Some("2000-01-01"));
}

/// The woodgrove captures (spec a.6 attributeCollectionStart-LocalAccount.json, a.7
/// attributeCollectionSubmit-LocalAccount.json) call the email `EmailAddress` at start and
/// `email` at submit; lookups ignore case and `email()` tries both names.
#[test]
fn email_address_and_email_are_both_found() {
    let mut start = json("docs/attributeCollectionStart.request.json");
    start["data"]["userSignUpInfo"] = json!({
        "attributes": {
            "EmailAddress": {
                "value": "someone@contoso.com",
                "@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
                "attributeType": "builtIn"
            }
        },
        "identities": [
            {"signInType": "federated", "issuer": "mail", "issuerAssignedId": "someone@contoso.com"}
        ]
    });
    let start = AttributeCollectionStartRequest::parse(start.to_string().as_bytes()).unwrap();
    let info = &start.user_sign_up_info;
    assert_eq!(info.email(), Some("someone@contoso.com"));
    assert_eq!(
        info.attributes.get("emailaddress").and_then(|a| a.as_str()),
        Some("someone@contoso.com")
    );
    assert_eq!(info.identities[0].issuer.as_deref(), Some("mail"));

    let mut submit = json("docs/attributeCollectionSubmit.request.json");
    submit["data"]["userSignUpInfo"] = json!({
        "attributes": {
            "email": {
                "value": "someone@contoso.com",
                "@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
                "attributeType": "builtIn"
            },
            "extension_9ce7f42908d14395aed7c48e9b6b957f_SpecialDiet": {
                "value": "Eggs",
                "@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
                "attributeType": "directorySchemaExtension"
            }
        }
    });
    let submit = AttributeCollectionSubmitRequest::parse(submit.to_string().as_bytes()).unwrap();
    let info = &submit.user_sign_up_info;
    assert_eq!(info.email(), Some("someone@contoso.com"));
    assert_eq!(
        info.attributes.get("Email").and_then(|a| a.as_str()),
        Some("someone@contoso.com")
    );
    assert_eq!(
        info.attributes
            .get("extension_9ce7f42908d14395aed7c48e9b6b957f_specialdiet")
            .and_then(|a| a.as_str()),
        Some("Eggs")
    );
    // The submit capture has no `identities` array (a.7).
    assert!(info.identities.is_empty());
}

/// An exact key wins over a case-insensitive one when both are present.
#[test]
fn exact_attribute_name_wins_over_case_variant() {
    let mut body = json("docs/attributeCollectionSubmit.request.json");
    body["data"]["userSignUpInfo"]["attributes"]["GivenName"] = json!({
        "@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
        "value": "Other"
    });
    let request = AttributeCollectionSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
    let attributes = &request.user_sign_up_info.attributes;
    assert_eq!(
        attributes.get("givenName").and_then(|a| a.as_str()),
        Some("Larissa Price")
    );
    assert_eq!(
        attributes.get("GivenName").and_then(|a| a.as_str()),
        Some("Other")
    );
}

/// Multi-valued attributes: `"Alumni,Faculty"` in the current docs and the Functions sample, a JSON
/// array `["Alumni", "Faculty"]` in the 2023 reference (spec a.11, @072eddee). Both read the same.
#[test]
fn multi_values_read_from_comma_string_and_from_array() {
    let comma = AttributeCollectionStartRequest::parse(&vector(
        "microsoft-samples/OnAttributeCollectionStart.json",
    ))
    .unwrap();
    let from_comma = comma
        .user_sign_up_info
        .attributes
        .get("extension_6666666666666666666666666666666_universityGroups")
        .unwrap()
        .values();

    let mut body = json("docs/attributeCollectionStart.request.json");
    body["data"]["userSignUpInfo"]["attributes"]["extension_<appid>_universityGroups"]["value"] =
        json!(["Alumni", "Faculty"]);
    let array = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap();
    let groups = array
        .user_sign_up_info
        .attributes
        .get("extension_<appid>_universityGroups")
        .unwrap();
    assert_eq!(groups.kind, AttributeKind::String);
    assert_eq!(groups.values(), from_comma);
    assert_eq!(groups.values(), ["Alumni", "Faculty"]);
    assert_eq!(groups.as_str(), None, "an array is not a string");
}

/// a.6: at start "most attributes won't have values assigned": empty and `null` values are no
/// selection, and a missing `@odata.type` is inferred from the value.
#[test]
fn empty_null_and_untyped_values() {
    let mut body = json("docs/attributeCollectionStart.request.json");
    let attributes = &mut body["data"]["userSignUpInfo"]["attributes"];
    attributes["city"] =
        json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": ""});
    attributes["postalCode"] =
        json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": null});
    attributes["jobTitle"] =
        json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue"});
    attributes["untypedNumber"] = json!({"value": 7});
    attributes["untypedFlag"] = json!({"value": true});
    attributes["untypedText"] = json!({"value": "x"});
    let request = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap();
    let attributes = &request.user_sign_up_info.attributes;
    for name in ["city", "postalCode", "jobTitle"] {
        let value = attributes.get(name).unwrap();
        assert!(value.is_empty(), "{name}");
        assert!(value.values().is_empty(), "{name}");
    }
    assert_eq!(attributes.get("postalCode").unwrap().value, Value::Null);
    assert_eq!(
        attributes.get("untypedNumber").unwrap().kind,
        AttributeKind::Int64
    );
    assert_eq!(
        attributes.get("untypedFlag").unwrap().kind,
        AttributeKind::Boolean
    );
    assert_eq!(
        attributes.get("untypedText").unwrap().kind,
        AttributeKind::String
    );
}

/// a.12 rules 4 and 5: `null` objects and entries are tolerated, unknown properties ignored.
#[test]
fn nulls_and_unknown_properties_are_tolerated() {
    let mut body = json("docs/attributeCollectionSubmit.request.json");
    body["data"]["futureMember"] = json!({"anything": [1, 2, 3]});
    body["data"]["authenticationContext"]["resourceServicePrincipal"] = Value::Null;
    body["data"]["userSignUpInfo"]["identities"] = Value::Null;
    let attributes = &mut body["data"]["userSignUpInfo"]["attributes"];
    attributes["companyName"] = Value::Null;
    attributes["givenName"]["futureFlag"] = true.into();
    let request = AttributeCollectionSubmitRequest::parse(body.to_string().as_bytes()).unwrap();
    let info = &request.user_sign_up_info;
    assert_eq!(info.attributes.len(), 4, "the null entry is skipped");
    assert!(info.attributes.get("companyName").is_none());
    assert!(info.identities.is_empty());
    assert_eq!(request.callout.context.resource_service_principal, None);

    let mut body = json("docs/attributeCollectionStart.request.json");
    body["data"]["userSignUpInfo"]["identities"] = json!([null, {"signInType": 5}]);
    let request = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(request.user_sign_up_info.identities.len(), 1);
    assert_eq!(request.user_sign_up_info.identities[0].sign_in_type, None);

    for absent in [Value::Null, json!({})] {
        let mut body = json("docs/attributeCollectionStart.request.json");
        body["data"]["userSignUpInfo"] = absent;
        let request = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(request.user_sign_up_info, UserSignUpInfo::default());
        assert_eq!(request.user_sign_up_info.email(), None);
    }
    let mut body = json("docs/attributeCollectionStart.request.json");
    body["data"]
        .as_object_mut()
        .unwrap()
        .remove("userSignUpInfo");
    let request = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap();
    assert!(request.user_sign_up_info.attributes.is_empty());
}

#[test]
fn each_parser_refuses_the_other_events() {
    for file in SUBMIT_REQUESTS.iter().chain(
        [
            "docs/emailOtpSend.request.json",
            "docs/passwordSubmit.request.json",
        ]
        .iter(),
    ) {
        let err = AttributeCollectionStartRequest::parse(&vector(file)).expect_err(file);
        assert!(
            matches!(
                err,
                CalloutError::WrongEvent {
                    expected: EventKind::AttributeCollectionStart,
                    ..
                }
            ),
            "{file}: {err:?}"
        );
        assert_eq!(err.code(), "wrong_event_type");
    }
    for file in START_REQUESTS
        .iter()
        .chain(["docs/tokenIssuanceStart.request.json"].iter())
    {
        let err = AttributeCollectionSubmitRequest::parse(&vector(file)).expect_err(file);
        assert!(
            matches!(
                err,
                CalloutError::WrongEvent {
                    expected: EventKind::AttributeCollectionSubmit,
                    ..
                }
            ),
            "{file}: {err:?}"
        );
    }
}

/// A start `type` with the submit `data.@odata.type` is a contradiction, not a start callout.
#[test]
fn contradicting_data_type_is_refused() {
    let mut body = json("docs/attributeCollectionStart.request.json");
    body["data"]["@odata.type"] = "microsoft.graph.onAttributeCollectionSubmitCalloutData".into();
    let err = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(err, CalloutError::DataTypeMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn malformed_bodies_and_members_are_refused() {
    for body in [
        &b"{\"type\": \"microsoft.graph.authenticationEvent.attributeCollectionStart\","[..],
        b"",
        b"null",
    ] {
        let err = AttributeCollectionStartRequest::parse(body).unwrap_err();
        assert_eq!(err.code(), "malformed_json", "{err:?}");
    }
    let err = AttributeCollectionSubmitRequest::parse(&vector("azure-sdk/InvalidJsonRequest.json"))
        .unwrap_err();
    assert!(matches!(err, CalloutError::NotJson(_)), "{err:?}");

    let cases: [(&str, Value, &str); 5] = [
        ("/data/userSignUpInfo", json!("text"), "data.userSignUpInfo"),
        (
            "/data/userSignUpInfo/attributes",
            json!([]),
            "data.userSignUpInfo.attributes",
        ),
        (
            "/data/userSignUpInfo/attributes/givenName",
            json!("Larissa Price"),
            "data.userSignUpInfo.attributes",
        ),
        (
            "/data/userSignUpInfo/identities",
            json!({"signInType": "email"}),
            "data.userSignUpInfo.identities",
        ),
        (
            "/data/userSignUpInfo/identities/0",
            json!("email"),
            "data.userSignUpInfo.identities",
        ),
    ];
    for (pointer, replacement, expected_field) in cases {
        let mut body = json("docs/attributeCollectionSubmit.request.json");
        *body.pointer_mut(pointer).unwrap() = replacement;
        let err = AttributeCollectionSubmitRequest::parse(body.to_string().as_bytes()).unwrap_err();
        match &err {
            CalloutError::InvalidField { field, .. } => assert_eq!(*field, expected_field),
            other => panic!("{pointer}: {other:?}"),
        }
        assert_eq!(err.code(), "invalid_callout");
    }

    let mut body = json("docs/attributeCollectionStart.request.json");
    body["data"].as_object_mut().unwrap().remove("tenantId");
    let err = AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(err, CalloutError::MissingField("data.tenantId"));
}

#[test]
fn start_builder_reproduces_every_documented_response() {
    for (file, action) in start_responses() {
        assert_eq!(action.to_response().unwrap(), json(file), "{file}");
        let expected = json(file);
        assert_eq!(
            action.action_type(),
            expected["data"]["actions"][0]["@odata.type"],
            "{file}"
        );
    }
}

#[test]
fn submit_builder_reproduces_every_documented_response() {
    for (file, action) in submit_responses() {
        assert_eq!(action.to_response().unwrap(), json(file), "{file}");
        let expected = json(file);
        assert_eq!(
            action.action_type(),
            expected["data"]["actions"][0]["@odata.type"],
            "{file}"
        );
    }
}

/// a.11: response values are bare and typed like the attribute (the custom-extension sample
/// prefills `extension_appId_mailingList: false` and `extension_appId_memberSince: 2023`).
#[test]
fn prefill_values_keep_their_json_types() {
    let values = AttributeValues::new()
        .with("postalCode", "98052")
        .with("extension_appId_memberSince", 2023)
        .with("extension_appId_bigNumber", i64::MAX)
        .with("extension_appId_mailingList", false)
        .with("extension_appId_groups", vec!["Alumni".to_owned()]);
    let body = AttributeCollectionStartAction::SetPrefillValues(values)
        .to_response()
        .unwrap();
    assert_eq!(
        body["data"]["actions"][0]["inputs"],
        json!({
            "postalCode": "98052",
            "extension_appId_memberSince": 2023,
            "extension_appId_bigNumber": i64::MAX,
            "extension_appId_mailingList": false,
            "extension_appId_groups": "Alumni"
        })
    );
    assert_eq!(body["data"]["actions"].as_array().unwrap().len(), 1);
}

#[test]
fn setting_an_attribute_twice_keeps_one_key() {
    let mut values = AttributeValues::new();
    values.insert("city", "Sydney");
    values.insert("City", "Perth");
    assert_eq!(values.len(), 1);
    assert_eq!(values.get("CITY"), Some(&BareValue::String("Perth".into())));
    let body = AttributeCollectionSubmitAction::ModifyAttributeValues(values)
        .to_response()
        .unwrap();
    assert_eq!(
        body["data"]["actions"][0]["attributes"],
        json!({"City": "Perth"})
    );

    let error = ShowValidationError::new("Fix it")
        .with("city", "first")
        .with("CITY", "second");
    assert_eq!(
        error.attribute_errors().collect::<Vec<_>>(),
        [("CITY", "second")]
    );
}

/// A block page without a title carries only the message; validation errors without per-field
/// messages still carry the documented `attributeErrors` object.
#[test]
fn optional_parts_are_left_out_or_kept_empty() {
    let body = AttributeCollectionStartAction::ShowBlockPage(ShowBlockPage::new("Not now"))
        .to_response()
        .unwrap();
    assert_eq!(
        body["data"]["actions"][0],
        json!({
            "@odata.type": "microsoft.graph.attributeCollectionStart.showBlockPage",
            "message": "Not now"
        })
    );
    let body =
        AttributeCollectionSubmitAction::ShowValidationError(ShowValidationError::new("Not valid"))
            .to_response()
            .unwrap();
    assert_eq!(
        body["data"]["actions"][0],
        json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
            "message": "Not valid",
            "attributeErrors": {}
        })
    );
}

#[test]
fn builders_refuse_what_entra_would_reject() {
    use AttributeActionError as E;
    let start = |action: AttributeCollectionStartAction| action.to_response().unwrap_err();
    let submit = |action: AttributeCollectionSubmitAction| action.to_response().unwrap_err();

    assert_eq!(
        start(AttributeCollectionStartAction::SetPrefillValues(
            AttributeValues::new()
        )),
        E::NoAttributeValues
    );
    assert_eq!(
        submit(AttributeCollectionSubmitAction::ModifyAttributeValues(
            AttributeValues::new().with("", "x")
        )),
        E::EmptyAttributeName
    );
    assert_eq!(
        start(AttributeCollectionStartAction::SetPrefillValues(
            AttributeValues::new().with("  ", true)
        )),
        E::EmptyAttributeName
    );
    for bad in [vec!["a,b"], vec!["a", ""]] {
        assert_eq!(
            submit(AttributeCollectionSubmitAction::ModifyAttributeValues(
                AttributeValues::new().with("groups", bad)
            )),
            E::InvalidMultiValue {
                attribute: "groups".into()
            }
        );
    }
    assert_eq!(
        start(AttributeCollectionStartAction::ShowBlockPage(
            ShowBlockPage::new("")
        )),
        E::EmptyMessage
    );
    assert_eq!(
        submit(AttributeCollectionSubmitAction::ShowBlockPage(
            ShowBlockPage::new(" \n")
        )),
        E::EmptyMessage
    );
    assert_eq!(
        submit(AttributeCollectionSubmitAction::ShowBlockPage(
            ShowBlockPage::new("Blocked").with_title("")
        )),
        E::EmptyTitle
    );
    assert_eq!(
        submit(AttributeCollectionSubmitAction::ShowValidationError(
            ShowValidationError::new("")
        )),
        E::EmptyMessage
    );
    assert_eq!(
        submit(AttributeCollectionSubmitAction::ShowValidationError(
            ShowValidationError::new("Fix").with("", "bad")
        )),
        E::EmptyAttributeName
    );
    assert_eq!(
        submit(AttributeCollectionSubmitAction::ShowValidationError(
            ShowValidationError::new("Fix").with("city", "")
        )),
        E::EmptyAttributeError {
            attribute: "city".into()
        }
    );

    // An empty multi-value (nothing selected) is a valid empty string.
    let body = AttributeCollectionSubmitAction::ModifyAttributeValues(
        AttributeValues::new().with("groups", Vec::<String>::new()),
    )
    .to_response()
    .unwrap();
    assert_eq!(body["data"]["actions"][0]["attributes"]["groups"], "");
}
