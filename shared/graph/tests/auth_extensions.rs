//! Custom authentication extensions, their validation, and event listeners against the sandbox over
//! HTTP (graph-api.md a.2 rows 23-30, A.6; extension-callbacks.md (c)).

mod common;

use common::*;
use entra_graph::{
    AuthenticationConfiguration, AuthenticationEventListener, ClientConfiguration,
    CustomAuthenticationExtension, EndpointConfiguration, ExtensionType, GraphError, ListenerType,
};
use entra_sandbox::faults::{Fault, FaultRule};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// graph-api.md A.6, the documented create body.
fn documented_attribute_collection_start() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtension",
        "displayName": "attributeCollectionStartName",
        "description": "example description",
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
            "resourceId": "api://contoso.com/fb96de85-2abe-4b02-b45f-64ba122c509e"
        },
        "endpointConfiguration": {
            "@odata.type": "#microsoft.graph.httpRequestEndpoint",
            "targetUrl": "https://contoso.com"
        },
        "clientConfiguration": { "timeoutInMilliseconds": 2000, "maximumRetries": 1 }
    })
}

/// extension-callbacks spec d.2 step 2, the documented token-issuance body.
fn documented_token_issuance_start() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.onTokenIssuanceStartCustomExtension",
        "displayName": "onTokenIssuanceStartCustomExtension",
        "description": "Fetch additional claims from custom user store",
        "endpointConfiguration": {
            "@odata.type": "#microsoft.graph.httpRequestEndpoint",
            "targetUrl": "https://authenticationeventsAPI.contoso.com"
        },
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
            "resourceId": "api://authenticationeventsAPI.contoso.com/a13d0fc1-04ab-4ede-b215-63de0174cbb4"
        },
        "clientConfiguration": { "timeoutInMilliseconds": 2000, "maximumRetries": 1 },
        "claimsForTokenConfiguration": [
            { "claimIdInApiResponse": "DateOfBirth" },
            { "claimIdInApiResponse": "CustomRoles" }
        ]
    })
}

#[test]
fn builders_produce_the_documented_bodies() {
    let built = CustomAuthenticationExtension::new(
        ExtensionType::AttributeCollectionStart,
        "attributeCollectionStartName",
        "https://contoso.com",
        "api://contoso.com/fb96de85-2abe-4b02-b45f-64ba122c509e",
    )
    .with_description("example description")
    .with_client_configuration(ClientConfiguration::new(2000, 1));
    assert_eq!(
        serde_json::to_value(&built).unwrap(),
        documented_attribute_collection_start()
    );
    let built = CustomAuthenticationExtension::new(
        ExtensionType::TokenIssuanceStart,
        "onTokenIssuanceStartCustomExtension",
        "https://authenticationeventsAPI.contoso.com",
        "api://authenticationeventsAPI.contoso.com/a13d0fc1-04ab-4ede-b215-63de0174cbb4",
    )
    .with_description("Fetch additional claims from custom user store")
    .with_client_configuration(ClientConfiguration::new(2000, 1))
    .with_claim("DateOfBirth")
    .with_claim("CustomRoles");
    assert_eq!(
        serde_json::to_value(&built).unwrap(),
        documented_token_issuance_start()
    );
    // The documented JSON deserializes into the same value.
    let parsed: CustomAuthenticationExtension =
        serde_json::from_value(documented_token_issuance_start()).unwrap();
    assert_eq!(parsed, built);

    // extension-callbacks spec d.2 step 4: the token-issuance listener body, exactly.
    let listener = AuthenticationEventListener::token_issuance_start(
        "6fc5012e-7665-43d6-9708-4370863f4e6e",
        ["a13d0fc1-04ab-4ede-b215-63de0174cbb4"],
    );
    assert_eq!(
        serde_json::to_value(&listener).unwrap(),
        json!({
            "@odata.type": "#microsoft.graph.onTokenIssuanceStartListener",
            "conditions": {"applications": {"includeApplications": [{"appId": "a13d0fc1-04ab-4ede-b215-63de0174cbb4"}]}},
            "handler": {
                "@odata.type": "#microsoft.graph.onTokenIssuanceStartCustomExtensionHandler",
                "customExtension": {"id": "6fc5012e-7665-43d6-9708-4370863f4e6e"}
            }
        })
    );
    // graph-api.md A.6: the attribute-collection listener with priority and includeAllApplications.
    let listener = AuthenticationEventListener::attribute_collection_start(
        "2d9c3e8d-88a9-444e-8c4c-f0c6c4fe1c02",
        ["0001111-aaaa-2222-bbbb-3333cccc4444"],
    )
    .with_priority(500)
    .only_listed_applications();
    assert_eq!(
        serde_json::to_value(&listener).unwrap(),
        json!({"@odata.type":"#microsoft.graph.onAttributeCollectionStartListener","priority":500,"conditions":{"applications":{"includeAllApplications":false,"includeApplications":[{"appId":"0001111-aaaa-2222-bbbb-3333cccc4444"}]}},"handler":{"@odata.type":"#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler","customExtension":{"id":"2d9c3e8d-88a9-444e-8c4c-f0c6c4fe1c02"}}})
    );
    // Email OTP (email-otp-get-started §3.4).
    let otp = AuthenticationEventListener::for_applications(
        ListenerType::EmailOtpSend,
        "{customExtensionObjectId}",
        ["{App_to_sendotp_ID}"],
    )
    .unwrap()
    .with_priority(500)
    .only_listed_applications();
    assert_eq!(
        serde_json::to_value(&otp).unwrap(),
        json!({
            "@odata.type": "#microsoft.graph.onEmailOtpSendListener",
            "conditions": {"applications": {"includeAllApplications": false, "includeApplications": [{"appId": "{App_to_sendotp_ID}"}]}},
            "priority": 500,
            "handler": {"@odata.type": "#microsoft.graph.onOtpSendCustomExtensionHandler", "customExtension": {"id": "{customExtensionObjectId}"}}
        })
    );
    assert!(
        AuthenticationEventListener::for_applications(
            ListenerType::parse("#microsoft.graph.onFutureListener"),
            "x",
            ["y"]
        )
        .is_err()
    );
}

#[tokio::test]
async fn every_extension_type_round_trips() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let extensions = graph.custom_authentication_extensions();
    assert!(extensions.list().await.unwrap().is_empty());

    let mut created = Vec::new();
    for (n, kind) in ExtensionType::KNOWN.iter().enumerate() {
        let mut extension = CustomAuthenticationExtension::new(
            kind.clone(),
            format!("extension {n}"),
            "https://hooks.example.com/callback",
            "api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13",
        )
        .with_client_configuration(ClientConfiguration::new(1500, 0));
        if *kind == ExtensionType::TokenIssuanceStart {
            extension = extension.with_claim("loyaltyTier");
        }
        if *kind == ExtensionType::OtpSend {
            extension.behavior_on_error =
                Some(json!({"@odata.type": "#microsoft.graph.customExtensionBehaviorOnError"}));
        }
        // A property this client does not model round-trips.
        extension
            .extra
            .insert("futureSetting".into(), json!({"enabled": true}));
        let answer = extensions.create(&extension).await.unwrap();
        let id = answer.id.clone().unwrap();
        assert_eq!(answer.extension_type, *kind);
        assert_eq!(answer.writable(), extension.writable());
        let read = extensions.get(&id).await.unwrap();
        assert_eq!(read, answer);
        assert_eq!(read.extra["futureSetting"], json!({"enabled": true}));
        created.push(id);
    }
    let listed = extensions.list().await.unwrap();
    assert_eq!(listed.len(), ExtensionType::KNOWN.len());
    assert_eq!(
        extensions
            .find_by_display_name("extension 2")
            .await
            .unwrap()
            .unwrap()
            .id
            .as_ref(),
        Some(&created[2])
    );

    // PATCH with the type (always sent), then read back.
    let patch = CustomAuthenticationExtension::patch(ExtensionType::TokenIssuanceStart)
        .with_description("changed")
        .with_client_configuration(ClientConfiguration::new(2000, 1));
    extensions.update(&created[0], &patch).await.unwrap();
    let patched = extensions.get(&created[0]).await.unwrap();
    assert_eq!(patched.description.as_deref(), Some("changed"));
    assert_eq!(
        patched.client_configuration,
        Some(ClientConfiguration::new(2000, 1))
    );
    assert_eq!(patched.display_name.as_deref(), Some("extension 0"));
    // The type cannot change.
    let retype = CustomAuthenticationExtension::patch(ExtensionType::OtpSend);
    let error = extensions.update(&created[0], &retype).await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    // Out-of-range client configuration is refused before sending.
    let too_slow = CustomAuthenticationExtension::patch(ExtensionType::TokenIssuanceStart)
        .with_client_configuration(ClientConfiguration::new(5000, 0));
    assert!(matches!(
        extensions.update(&created[0], &too_slow).await.unwrap_err(),
        GraphError::InvalidRequest(_)
    ));

    for id in &created {
        extensions.delete(id).await.unwrap();
    }
    assert!(extensions.list().await.unwrap().is_empty());
    assert!(
        extensions
            .get(&created[0])
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(extensions.find(&created[0]).await.unwrap(), None);
    assert!(
        extensions
            .delete(&created[0])
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn validation_reports_format_domain_principal_and_consent() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let extensions = graph.custom_authentication_extensions();
    let endpoint = EndpointConfiguration::http("https://hooks.example.com/api/tokens");

    let malformed = extensions
        .validate_proposed(
            &endpoint,
            &AuthenticationConfiguration::azure_ad_token("https://hooks.example.com"),
        )
        .await
        .unwrap();
    assert!(!malformed.is_valid());
    assert!(malformed.has("IncorrectResourceIdFormat"));
    assert_eq!(
        malformed.errors[0].message,
        "ResourceId should be in the format of 'api://{fully qualified domain name}/{appid}'"
    );

    let unknown_app = "0b7e2a54-9f3c-4d1e-8a6b-5c4d3e2f1a09";
    let other_domain = extensions
        .validate_proposed(
            &endpoint,
            &AuthenticationConfiguration::azure_ad_token(format!(
                "api://elsewhere.example.com/{unknown_app}"
            )),
        )
        .await
        .unwrap();
    assert!(other_domain.has("DomainNameDoesNotMatch"));
    assert!(other_domain.has("ServicePrincipalNotFound"));

    // Register the API the way the bootstrap does: URI, service principal, Receive.Payload consent.
    let registration = graph
        .applications()
        .register_extension_api("entra-hooks extension API", "hooks.example.com")
        .await
        .unwrap();
    let resource = AuthenticationConfiguration::azure_ad_token(&registration.identifier_uri);
    let valid = extensions
        .validate_proposed(&endpoint, &resource)
        .await
        .unwrap();
    assert!(valid.is_valid(), "{valid:?}");
    assert!(valid.warnings.is_empty(), "{valid:?}");

    // Without the consent: a warning, still valid.
    let app = graph
        .applications()
        .create(&entra_graph::Application::new("no consent"))
        .await
        .unwrap();
    let app_id = app.app_id.unwrap();
    graph.service_principals().create(&app_id).await.unwrap();
    let unconsented = extensions
        .validate_proposed(
            &endpoint,
            &AuthenticationConfiguration::azure_ad_token(format!(
                "api://hooks.example.com/{app_id}"
            )),
        )
        .await
        .unwrap();
    assert!(unconsented.is_valid());
    assert!(unconsented.has("PermissionNotGrantedToServicePrincipal"));

    // By id: the stored extension's configuration is what gets checked.
    let created = extensions
        .create(&CustomAuthenticationExtension::new(
            ExtensionType::TokenIssuanceStart,
            "claims",
            "https://hooks.example.com/api/tokens",
            &registration.identifier_uri,
        ))
        .await
        .unwrap();
    let by_id = extensions
        .validate(created.id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(by_id.is_valid() && by_id.warnings.is_empty(), "{by_id:?}");
    assert!(
        extensions
            .validate("missing")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn listeners_wire_extensions_to_applications() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let extensions = graph.custom_authentication_extensions();
    let listeners = graph.authentication_event_listeners();
    let resource = "api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13";
    let create = |kind: ExtensionType| {
        let extensions = extensions.clone();
        async move {
            extensions
                .create(&CustomAuthenticationExtension::new(
                    kind,
                    "hook",
                    "https://hooks.example.com/api",
                    resource,
                ))
                .await
                .unwrap()
                .id
                .unwrap()
        }
    };
    let tokens = create(ExtensionType::TokenIssuanceStart).await;
    let start = create(ExtensionType::AttributeCollectionStart).await;
    let submit = create(ExtensionType::AttributeCollectionSubmit).await;
    let otp = create(ExtensionType::OtpSend).await;
    let flow_apps = ["63856651-13d9-4784-9abf-20758d509e19"];

    let wanted = [
        AuthenticationEventListener::token_issuance_start(
            &tokens,
            ["a13d0fc1-04ab-4ede-b215-63de0174cbb4"],
        ),
        AuthenticationEventListener::attribute_collection_start(&start, flow_apps)
            .with_priority(500)
            .only_listed_applications(),
        AuthenticationEventListener::attribute_collection_submit(&submit, flow_apps),
        AuthenticationEventListener::email_otp_send(&otp, flow_apps),
    ];
    let mut ids = Vec::new();
    for listener in &wanted {
        let created = listeners.create(listener).await.unwrap();
        assert_eq!(created.listener_type, listener.listener_type);
        assert_eq!(created.priority, Some(500), "Graph's default priority");
        assert_eq!(created.app_ids(), listener.app_ids());
        assert_eq!(created.extension_id(), listener.extension_id());
        let read = listeners.get(created.id.as_deref().unwrap()).await.unwrap();
        assert_eq!(read, created);
        ids.push(created.id.unwrap());
    }
    assert_eq!(listeners.list().await.unwrap().len(), 4);

    // The documented OTP PATCH: fall back to Microsoft's provider; the extension stays wired.
    let fallback = AuthenticationEventListener::patch(ListenerType::EmailOtpSend)
        .fall_back_to_microsoft_provider_on_error();
    listeners.update(&ids[3], &fallback).await.unwrap();
    let patched = listeners.get(&ids[3]).await.unwrap();
    assert_eq!(patched.extension_id(), Some(otp.as_str()));
    assert_eq!(
        patched.handler.unwrap().configuration.unwrap()["behaviorOnError"]["@odata.type"],
        "#microsoft.graph.fallbackToMicrosoftProviderOnError"
    );

    // A listener whose handler calls an extension of another event, or none that exists: 400.
    let mismatched = AuthenticationEventListener::token_issuance_start(&start, flow_apps);
    assert_eq!(
        listeners.create(&mismatched).await.unwrap_err().status(),
        Some(StatusCode::BAD_REQUEST)
    );
    let dangling = AuthenticationEventListener::token_issuance_start("missing", flow_apps);
    assert_eq!(
        listeners.create(&dangling).await.unwrap_err().status(),
        Some(StatusCode::BAD_REQUEST)
    );

    for id in &ids {
        listeners.delete(id).await.unwrap();
    }
    assert!(listeners.list().await.unwrap().is_empty());
    assert!(listeners.get(&ids[0]).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn writes_without_odata_type_are_refused_and_faults_are_retried() {
    let sandbox = sandbox().await;
    let token = sandbox.issue_access_token();
    let http = reqwest::Client::new();
    let url = format!(
        "{}identity/customAuthenticationExtensions",
        sandbox.graph_url()
    );
    let mut untyped = documented_attribute_collection_start();
    untyped.as_object_mut().unwrap().remove("@odata.type");
    let post = |body: Value| http.post(&url).bearer_auth(&token).json(&body).send();
    let refused = post(untyped).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "The custom extension should be of subtype of CustomAuthenticationExtension"
    );
    let mut wrong = documented_attribute_collection_start();
    wrong["@odata.type"] = json!("#microsoft.graph.user");
    assert_eq!(post(wrong).await.unwrap().status(), StatusCode::BAD_REQUEST);

    // The how-to's casing is accepted and stored in Graph's spelling.
    let mut cased = documented_attribute_collection_start();
    cased["@odata.type"] = json!("#microsoft.graph.OnAttributeCollectionStartCustomExtension");
    let created = post(cased).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        created["@odata.type"],
        "#microsoft.graph.onAttributeCollectionStartCustomExtension"
    );
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#identity/customAuthenticationExtensions/$entity")
    );
    let id = created["id"].as_str().unwrap();
    let patch = http
        .patch(format!("{url}/{id}"))
        .bearer_auth(&token)
        .json(&json!({"description": "no type"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::BAD_REQUEST);
    let listener = http
        .post(format!(
            "{}identity/authenticationEventListeners",
            sandbox.graph_url()
        ))
        .bearer_auth(&token)
        .json(&json!({"handler": {"customExtension": {"id": id}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(listener.status(), StatusCode::BAD_REQUEST);
    let out_of_range = http
        .patch(format!("{url}/{id}"))
        .bearer_auth(&token)
        .json(&json!({"@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtension", "clientConfiguration": {"timeoutInMilliseconds": 100}}))
        .send()
        .await
        .unwrap();
    assert_eq!(out_of_range.status(), StatusCode::BAD_REQUEST);

    // Throttling on the collection is retried by the client.
    sandbox.faults().add(FaultRule::new(
        "/v1.0/identity/customAuthenticationExtensions",
        Fault::ServiceUnavailable { retry_after: None },
        Some(2),
    ));
    let listed = client(&sandbox)
        .custom_authentication_extensions()
        .list()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        requests_to(&sandbox, "/v1.0/identity/customAuthenticationExtensions")
            .iter()
            .filter(|r| r.fault.is_some())
            .count(),
        2
    );
}
