//! The exact requests the user-flow, attribute and identity-provider operations put on the wire
//! (method, path with its type-cast segments, JSON body), checked against Microsoft's documented
//! bodies (graph-api.md a.1-a.2, A.1-A.5), and the documented answers read back. A recording
//! Graph stands in for the sandbox's Graph routes; the sandbox still issues the token.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::*;
use entra_graph::{
    AttributeCollectionPage, AttributeCollectionView, AttributeInput, GraphClient,
    IdentityProvider, MaskedSecret, SOCIAL_IDENTITY_PROVIDER, UserFlow,
};
use serde_json::{Value, json};

const FLOW: &str = "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
const ON_ATTRIBUTES: &str = "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp";
const FLOW_ID: &str = "1d51b447-eb52-4ec8-ae4e-0a35ebc148ea";
const APP: &str = "63856651-13d9-4784-9abf-20758d509e19";
const EMAIL_REGEX: &str = "^[a-zA-Z0-9.!#$%&’'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:.[a-zA-Z0-9-]+)*$";
const NAME_REGEX: &str = "^[a-zA-Z_][0-9a-zA-Z_ ]*[0-9a-zA-Z_]+$";

/// One request as the recording Graph saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: Method,
    path: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    /// Everything seen since the last call.
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The one request seen since the last call.
    fn one(&self) -> Seen {
        let mut seen = self.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        seen.remove(0)
    }
}

/// Graph's documented create answer (A.1.2, example 2 abbreviated).
fn create_answer() -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/authenticationEventsFlows/$entity",
        "@odata.type": FLOW,
        "id": FLOW_ID,
        "displayName": "Woodgrove Drive User Flow",
        "description": null,
        "priority": 500,
        "onUserCreateStart": null,
        "conditions": {"applications": {"includeAllApplications": false}},
        "onInteractiveAuthFlowStart": {
            "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
            "isSignUpAllowed": true
        }
    })
}

/// Answers like Graph: 201 with a body for creates, 204 for `$ref`, PATCH and DELETE, an empty
/// collection for lists.
async fn record(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| json!({"unparsed": true}))
    };
    recorder.0.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        body: json.clone(),
    });
    match method {
        Method::POST if path.ends_with("/$ref") => StatusCode::NO_CONTENT.into_response(),
        Method::POST if path.ends_with("/authenticationEventsFlows") => {
            (StatusCode::CREATED, axum::Json(create_answer())).into_response()
        }
        Method::POST if path.ends_with("/userFlowAttributes") => (
            StatusCode::CREATED,
            axum::Json(json!({
                "id": "extension_d09380e2b4c642b9a203fb816a04a7ad_Hobby",
                "displayName": "Hobby", "description": "Your hobby",
                "userFlowAttributeType": "custom", "dataType": "string"
            })),
        )
            .into_response(),
        Method::POST => {
            let mut answer = json.clone();
            answer["id"] = json!("created");
            (StatusCode::CREATED, axum::Json(answer)).into_response()
        }
        Method::GET => axum::Json(json!({"value": []})).into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A client whose Graph is the recorder (tokens from the sandbox), and the recorder's origin.
async fn recorded(sandbox: &entra_sandbox::Sandbox) -> (GraphClient, Recorder, String) {
    let recorder = Recorder::default();
    let app = Router::new().fallback(record).with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config =
        secret_config(sandbox).with_graph_base_url(format!("{origin}/v1.0/").parse().unwrap());
    (GraphClient::new(config).unwrap(), recorder, origin)
}

fn flow_path(rest: &str) -> String {
    format!("/v1.0/identity/authenticationEventsFlows/{FLOW_ID}{rest}")
}

/// Microsoft's create example 1 (A.1.2), cleaned as the notes say, with `inputType` in the enum's
/// spelling (the docs' `"Text"` is the one difference our client makes).
fn documented_create() -> Value {
    json!({
        "@odata.type": FLOW,
        "displayName": "Woodgrove Drive User Flow",
        "onAuthenticationMethodLoadStart": {
            "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
            "identityProviders": [{"id": "EmailPassword-OAUTH"}]
        },
        "onInteractiveAuthFlowStart": {
            "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
            "isSignUpAllowed": true
        },
        "onAttributeCollection": {
            "@odata.type": ON_ATTRIBUTES,
            "attributes": [
                {"id": "email", "displayName": "Email Address", "description": "Email address of the user",
                 "userFlowAttributeType": "builtIn", "dataType": "string"},
                {"id": "displayName", "displayName": "Display Name", "description": "Display Name of the User.",
                 "userFlowAttributeType": "builtIn", "dataType": "string"}
            ],
            "attributeCollectionPage": {"views": [{"inputs": [
                {"attribute": "email", "label": "Email Address", "inputType": "text", "hidden": true,
                 "editable": false, "writeToDirectory": true, "required": true,
                 "validationRegEx": EMAIL_REGEX},
                {"attribute": "displayName", "label": "Display Name", "inputType": "text", "hidden": false,
                 "editable": true, "writeToDirectory": true, "required": false,
                 "validationRegEx": NAME_REGEX}
            ]}]}
        }
    })
}

/// The documented page's two inputs, built with the typed API.
fn documented_inputs() -> Vec<AttributeInput> {
    let mut email = AttributeInput::text("email", "Email Address");
    email.hidden = Some(true);
    email.editable = Some(false);
    email.required = Some(true);
    email.validation_reg_ex = Some(EMAIL_REGEX.into());
    let mut name = AttributeInput::text("displayName", "Display Name");
    name.validation_reg_ex = Some(NAME_REGEX.into());
    vec![email, name]
}

#[tokio::test]
async fn a_flow_create_sends_the_documented_body_and_reads_the_documented_answer() {
    let sandbox = sandbox().await;
    let (graph, recorder, _) = recorded(&sandbox).await;
    let flows = graph.user_flows();

    // The documented body, read into the model and sent: the same JSON arrives.
    let documented: UserFlow = serde_json::from_value(documented_create()).unwrap();
    let created = flows.create(&documented).await.unwrap();
    let seen = recorder.one();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1.0/identity/authenticationEventsFlows");
    assert_eq!(seen.body, documented_create());
    assert_eq!(created.id.as_deref(), Some(FLOW_ID));
    assert_eq!(created.priority, Some(500));
    assert_eq!(created.sign_up_allowed(), Some(true));

    // The builder writes the same flow; attributes go by id, which is all Graph reads of them.
    let built = UserFlow::new("Woodgrove Drive User Flow", ["EmailPassword-OAUTH"], true)
        .with_attribute_collection(["email", "displayName"], documented_inputs());
    flows.create(&built).await.unwrap();
    let mut expected = documented_create();
    expected["onAttributeCollection"]["attributes"] =
        json!([{"id": "email"}, {"id": "displayName"}]);
    assert_eq!(recorder.one().body, expected);

    // A read flow sent back: no id, no annotations.
    let mut read: UserFlow = serde_json::from_value(create_answer()).unwrap();
    read.display_name = Some("Woodgrove".into());
    flows.update(FLOW_ID, &read).await.unwrap();
    let seen = recorder.one();
    assert_eq!(seen.method, Method::PATCH);
    assert!(seen.body.get("id").is_none() && seen.body.get("@odata.context").is_none());
    assert_eq!(seen.body["@odata.type"], FLOW);
}

#[tokio::test]
async fn flow_updates_links_and_refs_go_to_the_documented_paths_with_the_documented_bodies() {
    let sandbox = sandbox().await;
    let (graph, recorder, origin) = recorded(&sandbox).await;
    let flows = graph.user_flows();
    let cast = "/microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
    let idps = format!(
        "{cast}/onAuthenticationMethodLoadStart/microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/identityProviders"
    );
    let attrs = format!(
        "{cast}/onAttributeCollection/microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes"
    );

    // Rename (A.1.5): exactly the documented minimal body.
    let mut rename = UserFlow::patch();
    rename.display_name = Some("Woodgrove Drive User Flow (renamed)".into());
    flows.update(FLOW_ID, &rename).await.unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::PATCH,
            path: flow_path(""),
            body: json!({"@odata.type": FLOW, "displayName": "Woodgrove Drive User Flow (renamed)"}),
        }
    );

    // Page layout (row 15): the flow's and the handler's types, every input.
    flows
        .set_page_layout(FLOW_ID, documented_inputs())
        .await
        .unwrap();
    let seen = recorder.one();
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::PATCH, flow_path("").as_str())
    );
    assert_eq!(
        seen.body,
        json!({"@odata.type": FLOW, "onAttributeCollection": {
            "@odata.type": ON_ATTRIBUTES,
            "attributeCollectionPage":
                documented_create()["onAttributeCollection"]["attributeCollectionPage"].clone()
        }})
    );
    // ... or a whole page with several titled views.
    let page = AttributeCollectionPage {
        views: vec![
            AttributeCollectionView {
                title: Some("About you".into()),
                description: Some("Step 1".into()),
                inputs: vec![AttributeInput::text("displayName", "Name")],
                ..AttributeCollectionView::default()
            },
            AttributeCollectionView {
                title: Some("Where".into()),
                inputs: vec![AttributeInput::text("city", "City")],
                ..AttributeCollectionView::default()
            },
        ],
        ..AttributeCollectionPage::default()
    };
    flows
        .set_attribute_collection_page(FLOW_ID, page.clone())
        .await
        .unwrap();
    let sent = recorder.one().body;
    assert_eq!(
        sent["onAttributeCollection"]["attributeCollectionPage"],
        serde_json::to_value(&page).unwrap()
    );
    assert_eq!(
        sent["onAttributeCollection"]["attributeCollectionPage"]["views"][1]["title"],
        "Where"
    );

    // Linked applications (A.2).
    flows.link_application(FLOW_ID, APP).await.unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::POST,
            path: flow_path("/conditions/applications/includeApplications"),
            body: json!({"@odata.type": "#microsoft.graph.authenticationConditionApplication", "appId": APP}),
        }
    );
    flows.unlink_application(FLOW_ID, APP).await.unwrap();
    let seen = recorder.one();
    assert_eq!(seen.method, Method::DELETE);
    assert_eq!(
        seen.path,
        flow_path(&format!(
            "/conditions/applications/includeApplications/{APP}"
        ))
    );
    flows.linked_applications(FLOW_ID).await.unwrap();
    assert_eq!(
        recorder.one().path,
        flow_path("/conditions/applications/includeApplications")
    );

    // Identity providers (A.3): the documented @odata.id form, on the client's Graph host
    // (https://graph.microsoft.com/beta/identityProviders/Google-OAUTH in global Azure).
    flows
        .add_identity_provider(FLOW_ID, "Google-OAUTH")
        .await
        .unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::POST,
            path: flow_path(&format!("{idps}/$ref")),
            body: json!({"@odata.id": format!("{origin}/beta/identityProviders/Google-OAUTH")}),
        }
    );
    flows
        .remove_identity_provider(FLOW_ID, "Facebook-OAUTH")
        .await
        .unwrap();
    let seen = recorder.one();
    assert_eq!(
        (seen.method, seen.path),
        (
            Method::DELETE,
            flow_path(&format!("{idps}/Facebook-OAUTH/$ref"))
        )
    );
    flows.identity_providers(FLOW_ID).await.unwrap();
    assert_eq!(recorder.one().path, flow_path(&idps));

    // Attributes (A.4).
    flows.add_attribute(FLOW_ID, "city").await.unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::POST,
            path: flow_path(&format!("{attrs}/$ref")),
            body: json!({"@odata.id": format!("{origin}/v1.0/identity/userFlowAttributes/city")}),
        }
    );
    flows.remove_attribute(FLOW_ID, "city").await.unwrap();
    let seen = recorder.one();
    assert_eq!(
        (seen.method, seen.path),
        (Method::DELETE, flow_path(&format!("{attrs}/city/$ref")))
    );
    flows.attributes(FLOW_ID).await.unwrap();
    assert_eq!(recorder.one().path, flow_path(&attrs));

    flows.delete(FLOW_ID).await.unwrap();
    let seen = recorder.one();
    assert_eq!((seen.method, seen.path), (Method::DELETE, flow_path("")));
}

#[tokio::test]
async fn attribute_and_provider_writes_send_the_documented_bodies() {
    let sandbox = sandbox().await;
    let (graph, recorder, _) = recorded(&sandbox).await;

    // Custom attribute create (A.5), answered with the documented body.
    let attributes = graph.user_flow_attributes();
    let created = attributes
        .create("Hobby", Some("Your hobby"), "string")
        .await
        .unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::POST,
            path: "/v1.0/identity/userFlowAttributes".into(),
            body: json!({"displayName": "Hobby", "description": "Your hobby", "dataType": "string"}),
        }
    );
    assert_eq!(
        created.id.as_deref(),
        Some("extension_d09380e2b4c642b9a203fb816a04a7ad_Hobby")
    );
    assert!(!created.is_built_in());
    let id = created.id.unwrap();
    attributes
        .update_description(&id, "What you do for fun")
        .await
        .unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::PATCH,
            path: format!("/v1.0/identity/userFlowAttributes/{id}"),
            body: json!({"description": "What you do for fun"}),
        }
    );
    assert!(attributes.create("Height", None, "float").await.is_err());
    assert!(recorder.take().is_empty(), "refused before sending");

    // Social provider create and the documented secret rotation.
    let providers = graph.identity_providers();
    providers
        .create(&IdentityProvider::social(
            "Google",
            "Login with Google",
            "56433757-cadd-4135-8431-2c9e3fd68ae8",
            "000000000000",
        ))
        .await
        .unwrap();
    assert_eq!(
        recorder.one().body,
        json!({
            "@odata.type": SOCIAL_IDENTITY_PROVIDER,
            "displayName": "Login with Google",
            "identityProviderType": "Google",
            "clientId": "56433757-cadd-4135-8431-2c9e3fd68ae8",
            "clientSecret": "000000000000"
        })
    );
    let mut rotate = IdentityProvider::patch(SOCIAL_IDENTITY_PROVIDER);
    rotate.client_secret = Some(MaskedSecret::new("1111111111111"));
    providers.update("Google-OAUTH", &rotate).await.unwrap();
    assert_eq!(
        recorder.one(),
        Seen {
            method: Method::PATCH,
            path: "/v1.0/identity/identityProviders/Google-OAUTH".into(),
            body: json!({"@odata.type": SOCIAL_IDENTITY_PROVIDER, "clientSecret": "1111111111111"}),
        }
    );
    // A provider as read, renamed and sent back: neither the mask nor read-only members go out.
    let read: IdentityProvider = serde_json::from_value(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/identityProviders/$entity",
        "@odata.type": SOCIAL_IDENTITY_PROVIDER, "id": "Google-OAUTH", "displayName": "Google",
        "identityProviderType": "Google", "clientId": "google-client", "clientSecret": "******"
    }))
    .unwrap();
    let mut renamed = read.clone();
    renamed.display_name = Some("Sign in with Google".into());
    providers.update("Google-OAUTH", &renamed).await.unwrap();
    assert_eq!(
        recorder.one().body,
        json!({"@odata.type": SOCIAL_IDENTITY_PROVIDER, "displayName": "Sign in with Google",
               "clientId": "google-client"})
    );
    let untyped = IdentityProvider {
        display_name: Some("x".into()),
        ..IdentityProvider::default()
    };
    assert!(providers.update("Google-OAUTH", &untyped).await.is_err());
    assert!(recorder.take().is_empty(), "refused before sending");
    providers.delete("Google-OAUTH").await.unwrap();
    let seen = recorder.one();
    assert_eq!(
        (seen.method, seen.path),
        (
            Method::DELETE,
            "/v1.0/identity/identityProviders/Google-OAUTH".to_owned()
        )
    );
}
