//! User flows, custom user-flow attributes and tenant identity providers against the sandbox over
//! HTTP (graph-api.md a.1-a.2 rows 1-22, A.1-A.5).

mod common;

use common::*;
use entra_graph::{AttributeInput, IdentityProvider, InputType, UserFlow};

const APP: &str = "a1b2c3d4-0000-4000-8000-000000000001";

/// The ids of the attributes flow `id` collects.
async fn collected(flows: &entra_graph::UserFlows, id: &str) -> Vec<String> {
    flows
        .attributes(id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|attribute| attribute.id)
        .collect()
}

#[tokio::test]
async fn a_flow_round_trips_with_its_providers_attributes_page_and_applications() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let flows = graph.user_flows();

    let flow = UserFlow::new("Sign up and sign in", ["EmailPassword-OAUTH"], true)
        .with_attribute_collection(
            ["email", "displayName"],
            vec![
                AttributeInput::text("email", "Email Address"),
                AttributeInput::text("displayName", "Display Name"),
            ],
        );
    let created = flows.create(&flow).await.unwrap();
    let id = created
        .id
        .clone()
        .expect("the create answer carries the id");
    // The create answer omits the navigation collections (A.1.2); a fresh read has them.
    assert!(created.identity_provider_ids().is_empty(), "{created:?}");
    let read = flows.get_fresh(&id).await.unwrap();
    assert_eq!(read.display_name.as_deref(), Some("Sign up and sign in"));
    assert_eq!(read.identity_provider_ids(), ["EmailPassword-OAUTH"]);
    assert_eq!(read.attribute_ids(), ["email", "displayName"]);
    assert_eq!(read.sign_up_allowed(), Some(true));
    assert_eq!(read.inputs().len(), 2);
    assert!(
        flows
            .list()
            .await
            .unwrap()
            .iter()
            .any(|f| f.id.as_deref() == Some(&id))
    );

    // Linked applications.
    flows.link_application(&id, APP).await.unwrap();
    assert_eq!(flows.linked_applications(&id).await.unwrap(), [APP]);
    assert_eq!(flows.get(&id).await.unwrap().application_ids(), [APP]);
    flows.unlink_application(&id, APP).await.unwrap();
    assert!(flows.linked_applications(&id).await.unwrap().is_empty());

    // Rename and sign-up off by PATCH.
    let mut patch = UserFlow::patch().with_sign_up_allowed(false);
    patch.display_name = Some("Sign in only".into());
    flows.update(&id, &patch).await.unwrap();
    let read = flows.get(&id).await.unwrap();
    assert_eq!(read.display_name.as_deref(), Some("Sign in only"));
    assert_eq!(read.sign_up_allowed(), Some(false));

    flows.delete(&id).await.unwrap();
    let gone = flows.get(&id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
}

#[tokio::test]
async fn the_page_layout_is_replaced_whole_and_attributes_join_by_ref() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let flows = graph.user_flows();
    let flow = UserFlow::new("Layout", ["EmailPassword-OAUTH"], true).with_attribute_collection(
        ["email"],
        vec![AttributeInput::text("email", "Email Address")],
    );
    let id = flows.create(&flow).await.unwrap().id.unwrap();
    flows.get_fresh(&id).await.unwrap();

    // $ref add: the attribute is collected and Graph puts a default input on the page.
    flows.add_attribute(&id, "city").await.unwrap();
    let ids = collected(&flows, &id).await;
    assert!(
        ids.iter().any(|id| id.eq_ignore_ascii_case("city")),
        "{ids:?}"
    );
    let inputs = flows.get(&id).await.unwrap().inputs();
    assert!(
        inputs
            .iter()
            .any(|input| input.attribute.eq_ignore_ascii_case("city")),
        "{inputs:?}"
    );

    // The layout PATCH replaces every input: only what is sent remains, in this order.
    let mut city = AttributeInput::text("city", "Your city");
    city.required = Some(true);
    flows
        .set_page_layout(
            &id,
            vec![city.clone(), AttributeInput::text("email", "Email Address")],
        )
        .await
        .unwrap();
    let inputs = flows.get(&id).await.unwrap().inputs();
    let order: Vec<&str> = inputs
        .iter()
        .map(|input| input.attribute.as_str())
        .collect();
    assert_eq!(order, ["city", "email"]);
    assert_eq!(inputs[0].label, "Your city");
    assert_eq!(inputs[0].required, Some(true));
    assert_eq!(inputs[0].input_type, InputType::Text);

    // $ref remove: no longer collected.
    flows.remove_attribute(&id, "city").await.unwrap();
    let ids = collected(&flows, &id).await;
    assert!(
        !ids.iter().any(|id| id.eq_ignore_ascii_case("city")),
        "{ids:?}"
    );
}

#[tokio::test]
async fn identity_providers_are_created_masked_and_offered_by_ref() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let providers = graph.identity_providers();
    let google = IdentityProvider::social("Google", "Google", "google-client", "g00gle-secret");
    let created = providers.create(&google).await.unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(id, "Google-OAUTH");
    let listed = providers.list().await.unwrap();
    let read = listed
        .iter()
        .find(|provider| provider.id.as_deref() == Some("Google-OAUTH"))
        .unwrap();
    assert_eq!(read.client_id.as_deref(), Some("google-client"));
    assert_ne!(
        read.client_secret.as_ref().map(|s| s.expose_secret()),
        Some("g00gle-secret"),
        "Graph never returns the secret"
    );
    assert!(listed.iter().any(|provider| provider.is_built_in()));

    let flows = graph.user_flows();
    let flow_id = flows
        .create(&UserFlow::new("Social", ["EmailPassword-OAUTH"], true))
        .await
        .unwrap()
        .id
        .unwrap();
    flows.get_fresh(&flow_id).await.unwrap();
    flows.add_identity_provider(&flow_id, &id).await.unwrap();
    let offered: Vec<String> = flows
        .identity_providers(&flow_id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|provider| provider.id)
        .collect();
    assert_eq!(offered.len(), 2, "{offered:?}");
    flows
        .remove_identity_provider(&flow_id, "EmailPassword-OAUTH")
        .await
        .unwrap();
    // The last provider stays: Graph refuses to leave a flow without one.
    let refused = flows
        .remove_identity_provider(&flow_id, &id)
        .await
        .unwrap_err();
    assert_eq!(
        refused.status().map(|s| s.as_u16()),
        Some(400),
        "{refused:?}"
    );
}

#[tokio::test]
async fn custom_attributes_get_extension_ids_and_only_the_description_changes() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let attributes = graph.user_flow_attributes();
    let created = attributes
        .create("Hobby", Some("Your hobby"), "string")
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    assert!(
        id.starts_with("extension_") && id.ends_with("_Hobby"),
        "{id}"
    );
    assert_eq!(created.user_flow_attribute_type.as_deref(), Some("custom"));
    let duplicate = attributes
        .create("Hobby", None, "string")
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.status().map(|s| s.as_u16()),
        Some(409),
        "{duplicate:?}"
    );
    assert!(attributes.create("Height", None, "float").await.is_err());

    attributes
        .update_description(&id, "What you do for fun")
        .await
        .unwrap();
    assert_eq!(
        attributes.get(&id).await.unwrap().description.as_deref(),
        Some("What you do for fun")
    );
    let listed = attributes.list().await.unwrap();
    assert!(listed.iter().any(|a| a.is_built_in()));
    attributes.delete(&id).await.unwrap();
    assert!(attributes.get(&id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_flow_not_readable_yet_after_its_create_is_read_again() {
    let sandbox = sandbox().await;
    sandbox.lag_new_flows(3);
    let graph = client(&sandbox);
    let flows = graph.user_flows();
    let id = flows
        .create(&UserFlow::new("Lagging", ["EmailPassword-OAUTH"], true))
        .await
        .unwrap()
        .id
        .unwrap();
    let read = flows.get_fresh(&id).await.unwrap();
    assert_eq!(read.display_name.as_deref(), Some("Lagging"));
    let reads = requests_to(
        &sandbox,
        &format!("/v1.0/identity/authenticationEventsFlows/{id}"),
    );
    assert_eq!(reads.len(), 4, "three 404s, then the answer");
}

#[tokio::test]
async fn the_create_answer_has_graph_s_shape_and_writes_need_the_odata_type() {
    let sandbox = sandbox().await;
    let url = format!("{}identity/authenticationEventsFlows", sandbox.graph_url());
    let token = sandbox.issue_access_token();
    let http = reqwest::Client::new();
    let documented = serde_json::json!({
        "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
        "displayName": "Woodgrove Drive User Flow",
        "onAuthenticationMethodLoadStart": {
            "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
            "identityProviders": [{"id": "EmailPassword-OAUTH"}]
        },
        "onInteractiveAuthFlowStart": {
            "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
            "isSignUpAllowed": true
        }
    });
    let created = http
        .post(&url)
        .bearer_auth(&token)
        .json(&documented)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["priority"], 500);
    assert_eq!(
        body["conditions"]["applications"]["includeAllApplications"],
        false
    );
    // The navigation collection is left out of the answer (A.1.2 quirks).
    assert!(
        body["onAuthenticationMethodLoadStart"]["@odata.type"].is_string()
            && body["onAuthenticationMethodLoadStart"]
                .get("identityProviders")
                .is_none(),
        "{body}"
    );
    assert!(body["onUserCreateStart"].is_null(), "{body}");

    let mut untyped = documented.clone();
    untyped.as_object_mut().unwrap().remove("@odata.type");
    untyped["displayName"] = "Other".into();
    let refused = http
        .post(&url)
        .bearer_auth(&token)
        .json(&untyped)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let duplicate = http
        .post(&url)
        .bearer_auth(&token)
        .json(&documented)
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
}

#[tokio::test]
async fn a_new_attribute_a_flow_cannot_see_yet_is_linked_with_after_create() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let flows = graph.user_flows();
    let flow = flows
        .create(&UserFlow::new("Loyalty", ["EmailPassword-OAUTH"], true))
        .await
        .unwrap()
        .id
        .unwrap();
    sandbox.lag_new_user_flow_attributes(2);
    let attribute = graph
        .user_flow_attributes()
        .create("LoyaltyNumber", None, "int64")
        .await
        .unwrap()
        .id
        .unwrap();
    // The lag is real: a plain call meets it.
    let lagging = flows.add_attribute(&flow, &attribute).await.unwrap_err();
    assert!(lagging.is_not_found(), "{lagging:?}");
    // The wrapped call waits it out.
    entra_graph::after_create(|| flows.add_attribute(&flow, &attribute))
        .await
        .unwrap();
    assert_eq!(
        collected(&flows, &flow).await.last().map(String::as_str),
        Some(attribute.as_str())
    );
    let refs = requests_to(&sandbox, "/v1.0/identity/authenticationEventsFlows/")
        .into_iter()
        .filter(|request| request.path().ends_with("/attributes/$ref"))
        .count();
    assert_eq!(refs, 3, "one plain 404, one wrapped 404, then 204");
    // The custom attribute is named like the users' extension properties.
    let app = sandbox.config().extension_app_id.replace('-', "");
    assert_eq!(attribute, format!("extension_{app}_LoyaltyNumber"));
}

#[tokio::test]
async fn after_create_gives_up_on_an_object_that_never_shows_up() {
    let sandbox = sandbox().await;
    sandbox.lag_new_identity_providers(10);
    let graph = client(&sandbox);
    let providers = graph.identity_providers();
    providers
        .create(&IdentityProvider::social(
            "Facebook",
            "Facebook",
            "fb-app",
            "fb-secret",
        ))
        .await
        .unwrap();
    let patience = entra_graph::AfterCreate {
        attempts: 3,
        first_wait: std::time::Duration::from_millis(1),
    };
    let gone = patience
        .run(|| providers.get("Facebook-OAUTH"))
        .await
        .unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    assert_eq!(
        requests_to(&sandbox, "/v1.0/identity/identityProviders/Facebook-OAUTH").len(),
        3
    );
    // A 404 for something that was never created is not waited on by a plain get.
    assert!(
        providers
            .get("Nope-OAUTH")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        requests_to(&sandbox, "/v1.0/identity/identityProviders/Nope-OAUTH").len(),
        1
    );
}

#[tokio::test]
async fn unknown_properties_and_a_page_of_several_views_round_trip_through_the_tenant() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let flows = graph.user_flows();
    let mut loyalty = AttributeInput::text("city", "City");
    loyalty
        .extra
        .insert("futureInputSetting".into(), serde_json::json!("kept"));
    let mut flow = UserFlow::new("Open type", ["EmailPassword-OAUTH"], true)
        .with_attribute_collection(["email", "city"], vec![loyalty]);
    flow.description = Some("A flow with properties this client does not know".into());
    flow.extra
        .insert("futureSetting".into(), serde_json::json!({"level": 2}));
    let id = flows.create(&flow).await.unwrap().id.unwrap();
    let read = flows.get_fresh(&id).await.unwrap();
    assert_eq!(read.extra["futureSetting"], serde_json::json!({"level": 2}));
    assert_eq!(read.inputs()[0].extra["futureInputSetting"], "kept");
    assert_eq!(read.description, flow.description);

    let page = entra_graph::AttributeCollectionPage {
        views: vec![
            entra_graph::AttributeCollectionView {
                title: Some("About you".into()),
                description: Some("Step 1 of 2".into()),
                inputs: vec![AttributeInput::text("email", "Email Address")],
                ..Default::default()
            },
            entra_graph::AttributeCollectionView {
                title: Some("Where you live".into()),
                inputs: vec![AttributeInput::text("city", "Your city")],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    flows
        .set_attribute_collection_page(&id, page.clone())
        .await
        .unwrap();
    let read = flows.get(&id).await.unwrap();
    let stored = read
        .on_attribute_collection
        .and_then(|collection| collection.attribute_collection_page)
        .unwrap();
    let titles: Vec<_> = stored.views.iter().map(|v| v.title.clone()).collect();
    assert_eq!(
        titles,
        [Some("About you".into()), Some("Where you live".into())]
    );
    assert_eq!(stored.views[0].description.as_deref(), Some("Step 1 of 2"));
    assert_eq!(stored.views[1].inputs[0].label, "Your city");
    // What Graph adds (defaultValue null, options []) is all that differs from what was sent.
    for (sent, kept) in page.views.iter().zip(&stored.views) {
        for (sent, kept) in sent.inputs.iter().zip(&kept.inputs) {
            let mut kept = kept.clone();
            kept.options = None;
            assert_eq!(&kept, sent);
        }
    }
}

#[tokio::test]
async fn apple_and_a_renamed_google_keep_their_secrets() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let providers = graph.identity_providers();

    let apple = IdentityProvider::apple(
        "Sign in with Apple",
        "UBF8T346G9",
        "com.contoso.app",
        "99P6D879C4",
        "-----BEGIN PRIVATE KEY-----apple-key",
    );
    let created = providers.create(&apple).await.unwrap();
    let id = created.id.clone().unwrap();
    let read = providers.get_fresh(&id).await.unwrap();
    assert_eq!(read.service_id.as_deref(), Some("com.contoso.app"));
    assert!(read.certificate_data.as_ref().unwrap().is_masked());
    let mut renamed = IdentityProvider::patch(entra_graph::APPLE_MANAGED_IDENTITY_PROVIDER);
    renamed.display_name = Some("Apple".into());
    providers.update(&id, &renamed).await.unwrap();
    assert_eq!(
        providers.get(&id).await.unwrap().display_name.as_deref(),
        Some("Apple")
    );
    assert_eq!(
        sandbox
            .identity_provider_secret_property(&id, "certificateData")
            .as_deref(),
        Some("-----BEGIN PRIVATE KEY-----apple-key")
    );

    // A provider read, renamed and written back: the secret Google was given stays.
    providers
        .create(&IdentityProvider::social(
            "Google",
            "Google",
            "google-client",
            "g00gle",
        ))
        .await
        .unwrap();
    let mut google = providers.get("Google-OAUTH").await.unwrap();
    google.display_name = Some("Sign in with Google".into());
    providers.update("Google-OAUTH", &google).await.unwrap();
    let read = providers.get("Google-OAUTH").await.unwrap();
    assert_eq!(read.display_name.as_deref(), Some("Sign in with Google"));
    assert_eq!(
        sandbox.identity_provider_secret("Google-OAUTH").as_deref(),
        Some("g00gle")
    );
    // Built-ins are listed with their type and cannot be deleted.
    let built_in: Vec<String> = providers
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(IdentityProvider::is_built_in)
        .filter_map(|provider| provider.id)
        .collect();
    assert_eq!(built_in, ["EmailPassword-OAUTH", "EmailOtpSignup-OAUTH"]);
    let refused = providers.delete("EmailPassword-OAUTH").await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(400));
}
