//! User flows, custom user-flow attributes and identity providers over real HTTP with a bearer
//! token, as any Graph client would call them: the statuses, envelopes and quirks of
//! docs/protocols/graph-api.md a.1-a.2 rows 1-22 and A.1-A.5.

use entra_sandbox::Sandbox;
use entra_sandbox::faults::{Fault, FaultRule};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FLOW_TYPE: &str = "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
const CAST: &str = "microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
const IDPS: &str = "onAuthenticationMethodLoadStart/microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/identityProviders";
const ATTRS: &str = "onAttributeCollection/microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes";
const APP: &str = "63856651-13d9-4784-9abf-20758d509e19";

struct Tenant {
    sandbox: Sandbox,
    http: reqwest::Client,
    token: String,
}

/// One answer: status, `Location` header, JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

impl Answer {
    /// The Graph error code of an error envelope.
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

async fn tenant() -> Tenant {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.issue_access_token();
    Tenant {
        sandbox,
        http: reqwest::Client::new(),
        token,
    }
}

impl Tenant {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.sandbox.graph_url());
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            location,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a flow offering email with password; its id.
    async fn flow(&self, name: &str) -> String {
        let created = self
            .post("identity/authenticationEventsFlows", flow_body(name))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }
}

fn flow_body(name: &str) -> Value {
    json!({
        "@odata.type": FLOW_TYPE,
        "displayName": name,
        "onAuthenticationMethodLoadStart": {
            "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
            "identityProviders": [{"id": "EmailPassword-OAUTH"}]
        },
        "onInteractiveAuthFlowStart": {
            "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
            "isSignUpAllowed": true
        },
        "onAttributeCollection": {
            "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
            "attributes": [{"id": "email"}, {"id": "displayName"}],
            "attributeCollectionPage": {"views": [{"inputs": [
                {"attribute": "email", "label": "Email Address", "inputType": "Text", "required": true},
                {"attribute": "displayName", "label": "Display Name", "inputType": "text"}
            ]}]}
        }
    })
}

fn flow_path(id: &str) -> String {
    format!("identity/authenticationEventsFlows/{id}")
}

fn idps_path(id: &str) -> String {
    format!("identity/authenticationEventsFlows/{id}/{CAST}/{IDPS}")
}

fn attrs_path(id: &str) -> String {
    format!("identity/authenticationEventsFlows/{id}/{CAST}/{ATTRS}")
}

fn ids(collection: &Value) -> Vec<String> {
    collection["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn flow_writes_answer_201_204_400_404_and_409() {
    let t = tenant().await;
    let flows = "identity/authenticationEventsFlows";

    // 400: the flow's @odata.type is missing or wrong, or a handler's is missing.
    let mut untyped = flow_body("Untyped");
    untyped.as_object_mut().unwrap().remove("@odata.type");
    let answer = t.post(flows, untyped).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        !answer.code().is_empty(),
        "a Graph error envelope: {}",
        answer.body
    );
    let mut wrong = flow_body("Wrong");
    wrong["@odata.type"] = json!("#microsoft.graph.authenticationEventsFlow");
    assert_eq!(t.post(flows, wrong).await.status, StatusCode::BAD_REQUEST);
    let mut handler = flow_body("Handler");
    handler["onInteractiveAuthFlowStart"]
        .as_object_mut()
        .unwrap()
        .remove("@odata.type");
    assert_eq!(t.post(flows, handler).await.status, StatusCode::BAD_REQUEST);
    let mut no_name = flow_body("");
    no_name.as_object_mut().unwrap().remove("displayName");
    assert_eq!(t.post(flows, no_name).await.status, StatusCode::BAD_REQUEST);
    let mut bad_input = flow_body("Bad input");
    bad_input["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"][0]["inputType"] =
        json!("slider");
    assert_eq!(
        t.post(flows, bad_input).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut unknown_idp = flow_body("Unknown provider");
    unknown_idp["onAuthenticationMethodLoadStart"]["identityProviders"] =
        json!([{"id": "Nope-OAUTH"}]);
    assert_eq!(
        t.post(flows, unknown_idp).await.status,
        StatusCode::BAD_REQUEST
    );

    // 201 with a server GUID and Graph's create shape.
    let created = t.post(flows, flow_body("Sign up and sign in")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert!(
        created.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#identity/authenticationEventsFlows/$entity"),
        "{}",
        created.body
    );
    assert_eq!(created.body["@odata.type"], FLOW_TYPE);
    assert_eq!(created.body["priority"], 500);
    assert!(
        created.body["onAttributeCollection"]
            .get("attributes")
            .is_none()
    );
    let input =
        &created.body["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"][0];
    assert_eq!(input["inputType"], "text", "stored in the enum's spelling");
    assert_eq!(input["defaultValue"], Value::Null);
    assert_eq!(input["options"], json!([]));

    // 409: the display name is unique, on create and on rename.
    let duplicate = t.post(flows, flow_body("Sign up and sign in")).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.code(), "Request_MultipleObjectsWithSameKeyValue");
    t.flow("Other").await;
    let rename = json!({"@odata.type": FLOW_TYPE, "displayName": "Other"});
    assert_eq!(
        t.patch(&flow_path(&id), rename).await.status,
        StatusCode::CONFLICT
    );

    // PATCH: 400 without the type, 204 with it, the change visible.
    let untyped = t
        .patch(&flow_path(&id), json!({"displayName": "Renamed"}))
        .await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    let renamed = t
        .patch(
            &flow_path(&id),
            json!({"@odata.type": FLOW_TYPE, "displayName": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::NO_CONTENT);
    assert_eq!(renamed.body, Value::Null, "204 has no body");
    let read = t.get(&flow_path(&id)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["displayName"], "Renamed");
    assert_eq!(
        read.body["onUserCreateStart"]["userTypeToCreate"], "member",
        "defaults materialise on reads"
    );
    let empty = json!({
        "@odata.type": FLOW_TYPE,
        "onAuthenticationMethodLoadStart": {
            "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
            "identityProviders": []
        }
    });
    assert_eq!(
        t.patch(&flow_path(&id), empty).await.status,
        StatusCode::BAD_REQUEST,
        "a flow keeps one identity provider"
    );

    // 404 with Graph's envelope for an unknown id, on every route.
    let unknown = uuid::Uuid::new_v4().to_string();
    let missing = t.get(&flow_path(&unknown)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "Request_ResourceNotFound");
    assert!(
        missing.body["error"]["innerError"].is_object(),
        "{}",
        missing.body
    );
    for path in [
        idps_path(&unknown),
        attrs_path(&unknown),
        format!(
            "{}/conditions/applications/includeApplications",
            flow_path(&unknown)
        ),
    ] {
        assert_eq!(t.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let patch = json!({"@odata.type": FLOW_TYPE, "displayName": "X"});
    assert_eq!(
        t.patch(&flow_path(&unknown), patch).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.delete(&flow_path(&unknown)).await.status,
        StatusCode::NOT_FOUND
    );

    // DELETE: 204, then 404.
    assert_eq!(
        t.delete(&flow_path(&id)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.get(&flow_path(&id)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn navigation_collections_sit_behind_type_cast_segments() {
    let t = tenant().await;
    let id = t.flow("Cast").await;

    let listed = t.get(&idps_path(&id)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        listed.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#Collection(microsoft.graph.identityProviderBase)")
    );
    assert_eq!(ids(&listed.body), ["EmailPassword-OAUTH"]);
    assert_eq!(
        ids(&t.get(&attrs_path(&id)).await.body),
        ["email", "displayName"]
    );
    // Without the casts the segment is unknown to Graph.
    let uncast = format!(
        "{}/onAuthenticationMethodLoadStart/identityProviders",
        flow_path(&id)
    );
    assert_ne!(t.get(&uncast).await.status, StatusCode::OK);

    // Identity providers by $ref: 204; an unknown one 404; the last one stays (400).
    let add = |target: &str| json!({"@odata.id": format!("https://graph.microsoft.com/beta/identityProviders/{target}")});
    let added = t
        .post(
            &format!("{}/$ref", idps_path(&id)),
            add("EmailOtpSignup-OAUTH"),
        )
        .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT, "{}", added.body);
    let v1 = json!({"@odata.id": "https://graph.microsoft.com/v1.0/identity/identityProviders/EmailOtpSignup-OAUTH"});
    assert_eq!(
        t.post(&format!("{}/$ref", idps_path(&id)), v1).await.status,
        StatusCode::NO_CONTENT,
        "both documented @odata.id forms are accepted, adding twice is harmless"
    );
    assert_eq!(
        ids(&t.get(&idps_path(&id)).await.body),
        ["EmailPassword-OAUTH", "EmailOtpSignup-OAUTH"]
    );
    let unknown = t
        .post(&format!("{}/$ref", idps_path(&id)), add("Nope-OAUTH"))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let no_target = t.post(&format!("{}/$ref", idps_path(&id)), json!({})).await;
    assert_eq!(no_target.status, StatusCode::BAD_REQUEST);
    let removed = t
        .delete(&format!("{}/EmailPassword-OAUTH/$ref", idps_path(&id)))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.delete(&format!("{}/EmailPassword-OAUTH/$ref", idps_path(&id)))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "not offered any more"
    );
    let last = t
        .delete(&format!("{}/EmailOtpSignup-OAUTH/$ref", idps_path(&id)))
        .await;
    assert_eq!(last.status, StatusCode::BAD_REQUEST);

    // Attributes by $ref: 204 and a default input on the page; removal keeps the input.
    let city =
        json!({"@odata.id": "https://graph.microsoft.com/v1.0/identity/userFlowAttributes/city"});
    let added = t.post(&format!("{}/$ref", attrs_path(&id)), city).await;
    assert_eq!(added.status, StatusCode::NO_CONTENT);
    assert_eq!(
        ids(&t.get(&attrs_path(&id)).await.body),
        ["email", "displayName", "city"]
    );
    let inputs = |flow: &Value| -> Vec<String> {
        flow["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|input| input["attribute"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        inputs(&t.get(&flow_path(&id)).await.body),
        ["email", "displayName", "city"]
    );
    let ghost = json!({"@odata.id": "https://graph.microsoft.com/v1.0/identity/userFlowAttributes/extension_0_Nope"});
    assert_eq!(
        t.post(&format!("{}/$ref", attrs_path(&id)), ghost)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.delete(&format!("{}/city/$ref", attrs_path(&id)))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ids(&t.get(&attrs_path(&id)).await.body),
        ["email", "displayName"]
    );
    assert_eq!(
        inputs(&t.get(&flow_path(&id)).await.body),
        ["email", "displayName", "city"],
        "the page changes only with a PATCH (A.4: two calls)"
    );

    // The page PATCH replaces every input, in the order sent.
    let layout = json!({
        "@odata.type": FLOW_TYPE,
        "onAttributeCollection": {
            "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
            "attributeCollectionPage": {"views": [{"inputs": [
                {"attribute": "displayName", "label": "Your name", "inputType": "TEXT"},
                {"attribute": "email", "label": "Email Address", "inputType": "text"}
            ]}]}
        }
    });
    assert_eq!(
        t.patch(&flow_path(&id), layout).await.status,
        StatusCode::NO_CONTENT
    );
    let read = t.get(&flow_path(&id)).await.body;
    assert_eq!(inputs(&read), ["displayName", "email"]);
    let first = &read["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"][0];
    assert_eq!(first["label"], "Your name");
    assert_eq!(first["inputType"], "text");
    assert_eq!(
        ids(&t.get(&attrs_path(&id)).await.body),
        ["email", "displayName"],
        "the layout does not touch the attribute list"
    );
}

#[tokio::test]
async fn applications_link_to_one_flow() {
    let t = tenant().await;
    let first = t.flow("First").await;
    let second = t.flow("Second").await;
    let apps = |id: &str| {
        format!(
            "{}/conditions/applications/includeApplications",
            flow_path(id)
        )
    };
    let link =
        json!({"@odata.type": "#microsoft.graph.authenticationConditionApplication", "appId": APP});

    let untyped = t.post(&apps(&first), json!({"appId": APP})).await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    let linked = t.post(&apps(&first), link.clone()).await;
    assert_eq!(linked.status, StatusCode::CREATED);
    assert_eq!(linked.body["appId"], APP);
    assert!(
        linked.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/includeApplications/$entity")
    );
    let listed = t.get(&apps(&first)).await.body;
    assert_eq!(listed["value"], json!([{"appId": APP}]));
    assert_eq!(
        t.get(&flow_path(&first)).await.body["conditions"]["applications"]["includeApplications"],
        json!([{"appId": APP}])
    );
    let elsewhere = t.post(&apps(&second), link).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::BAD_REQUEST,
        "one flow per application"
    );
    assert_eq!(
        t.delete(&format!("{}/{APP}", apps(&second))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.delete(&format!("{}/{APP}", apps(&first))).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.get(&apps(&first)).await.body["value"], json!([]));
}

#[tokio::test]
async fn custom_attributes_are_named_after_the_extensions_app_and_keep_their_type() {
    let t = tenant().await;
    let path = "identity/userFlowAttributes";

    let listed = t.get(path).await;
    assert_eq!(listed.status, StatusCode::OK);
    let built_in = ids(&listed.body);
    for id in [
        "email",
        "displayName",
        "givenName",
        "surname",
        "city",
        "country",
        "jobTitle",
        "postalCode",
        "state",
        "streetAddress",
    ] {
        assert!(
            built_in.iter().any(|known| known == id),
            "{id} in {built_in:?}"
        );
    }
    for attribute in listed.body["value"].as_array().unwrap() {
        assert_eq!(attribute["userFlowAttributeType"], "builtIn");
        assert_eq!(attribute["dataType"], "string");
    }

    // The documented create (graph-api.md A.5): 201, Location, the body Microsoft shows.
    let created = t
        .post(
            path,
            json!({"displayName": "Hobby", "description": "Your hobby", "dataType": "string"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let app = t.sandbox.config().extension_app_id.replace('-', "");
    let id = format!("extension_{app}_Hobby");
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/identity/userFlowAttributes('{id}')").as_str())
    );
    let mut body = created.body.clone();
    body.as_object_mut().unwrap().remove("@odata.context");
    assert_eq!(
        body,
        json!({"id": id, "displayName": "Hobby", "description": "Your hobby",
               "userFlowAttributeType": "custom", "dataType": "string"})
    );

    // 409 for a name taken (whatever its case); 400 for what cannot be created.
    for name in ["Hobby", "hobby"] {
        let again = t
            .post(path, json!({"displayName": name, "dataType": "boolean"}))
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{name}");
    }
    let built_in_name = t
        .post(path, json!({"displayName": "City", "dataType": "string"}))
        .await;
    assert_eq!(built_in_name.status, StatusCode::CONFLICT);
    for data_type in ["dateTime", "stringCollection", ""] {
        let refused = t
            .post(path, json!({"displayName": "When", "dataType": data_type}))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{data_type:?}");
    }
    let spaced = t
        .post(
            path,
            json!({"displayName": "Two words", "dataType": "string"}),
        )
        .await;
    assert_eq!(spaced.status, StatusCode::BAD_REQUEST);

    // Only the description changes.
    let item = format!("{path}/{id}");
    for immutable in [
        json!({"dataType": "int64"}),
        json!({"displayName": "Pastime"}),
    ] {
        assert_eq!(
            t.patch(&item, immutable).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        t.patch(&item, json!({"description": "What you do for fun"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let read = t.get(&item).await;
    assert_eq!(read.body["description"], "What you do for fun");
    assert_eq!(read.body["dataType"], "string");

    // Built-ins stay; customs go; unknown ids are 404.
    assert_eq!(
        t.delete(&format!("{path}/city")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.delete(&item).await.status, StatusCode::NO_CONTENT);
    assert_eq!(t.get(&item).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.delete(&item).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.patch(&item, json!({"description": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn identity_providers_keep_their_secrets_and_need_their_type() {
    let t = tenant().await;
    let path = "identity/identityProviders";

    let built_in = t.get(path).await.body;
    for (id, kind) in [
        ("EmailPassword-OAUTH", "EmailPassword"),
        ("EmailOtpSignup-OAUTH", "EmailOTP"),
    ] {
        let provider = built_in["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("{id} seeded: {built_in}"));
        assert_eq!(
            provider["@odata.type"],
            "#microsoft.graph.builtInIdentityProvider"
        );
        assert_eq!(provider["identityProviderType"], kind);
    }

    let google = json!({
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": "Login with Google",
        "identityProviderType": "Google",
        "clientId": "56433757-cadd-4135-8431-2c9e3fd68ae8",
        "clientSecret": "000000000000"
    });
    let mut untyped = google.clone();
    untyped.as_object_mut().unwrap().remove("@odata.type");
    assert_eq!(t.post(path, untyped).await.status, StatusCode::BAD_REQUEST);
    let mut no_secret = google.clone();
    no_secret.as_object_mut().unwrap().remove("clientSecret");
    assert_eq!(
        t.post(path, no_secret).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut twitter = google.clone();
    twitter["identityProviderType"] = json!("Twitter");
    assert_eq!(t.post(path, twitter).await.status, StatusCode::BAD_REQUEST);

    let created = t.post(path, google.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["id"], "Google-OAUTH");
    assert_eq!(created.body["clientSecret"], "******");
    assert_eq!(
        t.sandbox
            .identity_provider_secret("Google-OAUTH")
            .as_deref(),
        Some("000000000000")
    );
    assert_eq!(t.post(path, google).await.status, StatusCode::CONFLICT);
    let read = t.get(&format!("{path}/Google-OAUTH")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["clientSecret"], "******");
    assert_eq!(
        read.body["clientId"],
        "56433757-cadd-4135-8431-2c9e3fd68ae8"
    );

    // The documented update body: the type and the new secret.
    let item = format!("{path}/Google-OAUTH");
    let untyped = t
        .patch(&item, json!({"clientSecret": "1111111111111"}))
        .await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    let rotated = t
        .patch(
            &item,
            json!({"@odata.type": "#microsoft.graph.socialIdentityProvider", "clientSecret": "1111111111111"}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.sandbox
            .identity_provider_secret("Google-OAUTH")
            .as_deref(),
        Some("1111111111111")
    );
    assert_eq!(t.get(&item).await.body["clientSecret"], "******");
    let renamed_type = t
        .patch(
            &item,
            json!({"@odata.type": "#microsoft.graph.socialIdentityProvider", "identityProviderType": "Facebook"}),
        )
        .await;
    assert_eq!(renamed_type.status, StatusCode::BAD_REQUEST);
    let built_in_patch = t
        .patch(
            &format!("{path}/EmailPassword-OAUTH"),
            json!({"@odata.type": "#microsoft.graph.builtInIdentityProvider", "displayName": "x"}),
        )
        .await;
    assert_eq!(built_in_patch.status, StatusCode::BAD_REQUEST);

    // Apple: its own type, its certificate kept apart.
    let apple = json!({
        "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
        "displayName": "Sign in with Apple",
        "developerId": "UBF8T346G9",
        "serviceId": "com.contoso.app",
        "keyId": "99P6D879C4",
        "certificateData": "-----BEGIN PRIVATE KEY-----\nMIGTA\n-----END PRIVATE KEY-----"
    });
    let created = t.post(path, apple).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["id"], "Apple-Managed-OIDC");
    assert_eq!(created.body["certificateData"], "******");
    assert!(
        t.sandbox
            .identity_provider_secret_property("Apple-Managed-OIDC", "certificateData")
            .is_some_and(|pem| pem.contains("PRIVATE KEY"))
    );

    // Deletes: built-ins and providers a flow offers stay; unknown ids are 404.
    assert_eq!(
        t.delete(&format!("{path}/EmailPassword-OAUTH"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let flow = t.flow("Google flow").await;
    let offer =
        json!({"@odata.id": "https://graph.microsoft.com/beta/identityProviders/Google-OAUTH"});
    assert_eq!(
        t.post(&format!("{}/$ref", idps_path(&flow)), offer)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.delete(&item).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.delete(&format!("{}/Google-OAUTH/$ref", idps_path(&flow)))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.delete(&item).await.status, StatusCode::NO_CONTENT);
    assert_eq!(t.get(&item).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.sandbox.identity_provider_secret("Google-OAUTH"), None);
}

#[tokio::test]
async fn new_objects_can_lag_behind_their_create() {
    let t = tenant().await;
    t.sandbox.lag_new_flows(2);
    t.sandbox.lag_new_user_flow_attributes(1);
    t.sandbox.lag_new_identity_providers(1);

    // A flow: every kind of request counts; lists leave it out meanwhile.
    let id = t.flow("Lagging").await;
    assert!(ids(&t.get("identity/authenticationEventsFlows").await.body).is_empty());
    let patch = json!({"@odata.type": FLOW_TYPE, "description": "x"});
    assert_eq!(
        t.patch(&flow_path(&id), patch).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get(&idps_path(&id)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&flow_path(&id)).await.status, StatusCode::OK);
    assert_eq!(
        ids(&t.get("identity/authenticationEventsFlows").await.body),
        [id.as_str()]
    );

    // A custom attribute: hidden from the list, 404 when a flow names it, then there.
    let created = t
        .post(
            "identity/userFlowAttributes",
            json!({"displayName": "Loyalty", "dataType": "int64"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let attribute = created.body["id"].as_str().unwrap().to_owned();
    let listed = ids(&t.get("identity/userFlowAttributes").await.body);
    assert!(!listed.contains(&attribute), "{listed:?}");
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/identity/userFlowAttributes/{attribute}")});
    let refs = format!("{}/$ref", attrs_path(&id));
    assert_eq!(
        t.post(&refs, reference.clone()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.post(&refs, reference).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(ids(&t.get("identity/userFlowAttributes").await.body).contains(&attribute));

    // A provider: 404 once by its own URL, then readable.
    let facebook = json!({
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": "Facebook", "identityProviderType": "Facebook",
        "clientId": "fb-client", "clientSecret": "fb-secret"
    });
    assert_eq!(
        t.post("identity/identityProviders", facebook).await.status,
        StatusCode::CREATED
    );
    let item = "identity/identityProviders/Facebook-OAUTH";
    assert_eq!(t.get(item).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(item).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_fault_layer_and_the_bearer_check_cover_these_routes() {
    let t = tenant().await;
    t.sandbox.faults().add(FaultRule::new(
        "/v1.0/identity/userFlowAttributes",
        Fault::ServiceUnavailable { retry_after: None },
        Some(1),
    ));
    assert_eq!(
        t.get("identity/userFlowAttributes").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        t.get("identity/userFlowAttributes").await.status,
        StatusCode::OK
    );

    let anonymous = reqwest::Client::new()
        .get(format!(
            "{}identity/authenticationEventsFlows",
            t.sandbox.graph_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
