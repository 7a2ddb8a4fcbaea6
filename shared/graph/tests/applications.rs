//! The app-registration bootstrap against the sandbox over HTTP (tenant-lifecycle.md §2 and its
//! bootstrap row; extension-callbacks.md (b)-(c)).

mod common;

use common::*;
use entra_graph::{
    AppRole, AppRoleGrant, Application, FederatedIdentityCredential, GraphError, KeyCredential,
    ListQuery, MICROSOFT_GRAPH_APP_ID, RECEIVE_PAYLOAD_ROLE_ID, RequiredResourceAccess,
    github_branch_subject, odata,
};
use entra_sandbox::tenant_config::MICROSOFT_GRAPH_APP_ROLES;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What the bootstrap grants the CI app (tenant-lifecycle.md, bootstrap row).
const BOOTSTRAP_PERMISSIONS: [&str; 8] = [
    "EventListener.ReadWrite.All",
    "IdentityUserFlow.ReadWrite.All",
    "CustomAuthenticationExtension.ReadWrite.All",
    "Organization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "AuditLog.Read.All",
];

#[tokio::test]
async fn applications_round_trip_by_object_id_and_app_id() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let applications = graph.applications();

    let mut new = Application::new("entra-hooks ci");
    new.extra.insert("notes".into(), json!("created by a test"));
    let created = applications.create(&new).await.unwrap();
    let object_id = created.id.clone().unwrap();
    let app_id = created.app_id.clone().unwrap();
    assert_eq!(created.display_name.as_deref(), Some("entra-hooks ci"));
    assert_eq!(
        created.extra["notes"], "created by a test",
        "unknown properties round-trip"
    );

    let role = AppRole::application(
        "3b6f3a8e-2c1d-4e5f-9a0b-1c2d3e4f5a6b",
        "Hooks.Invoke",
        "Invoke the hooks",
    );
    let patch = Application {
        identifier_uris: Some(vec![format!("api://hooks.example.com/{app_id}")]),
        app_roles: Some(vec![role.clone()]),
        required_resource_access: Some(vec![RequiredResourceAccess::roles(
            MICROSOFT_GRAPH_APP_ID,
            ["741f803b-c850-494e-b5df-cde7c675a1ca"],
        )]),
        ..Application::default()
    };
    applications.update(&object_id, &patch).await.unwrap();

    let by_id = applications.get(&object_id, &[]).await.unwrap();
    let by_app_id = applications.find_by_app_id(&app_id).await.unwrap().unwrap();
    assert_eq!(by_id.writable(), by_app_id.writable());
    assert_eq!(by_id.identifier_uris, patch.identifier_uris);
    assert_eq!(by_id.app_role("Hooks.Invoke"), Some(&role));
    assert_eq!(
        by_id.required_resource_access,
        patch.required_resource_access
    );
    assert_eq!(
        applications
            .find_by_app_id("6c1b0c3e-0000-4000-8000-000000000000")
            .await
            .unwrap(),
        None
    );
    let named = applications
        .find_by_display_name("entra-hooks ci")
        .await
        .unwrap();
    assert_eq!(named.len(), 1);
    let filtered = applications
        .list(&ListQuery::new().filter(format!("appId eq {}", odata::quote(&app_id))))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);

    // A second registration cannot take the same identifier URI.
    let other = applications
        .create(&Application::new("other"))
        .await
        .unwrap();
    let taken = applications
        .update(other.id.as_deref().unwrap(), &patch)
        .await
        .unwrap_err();
    assert_eq!(taken.status(), Some(StatusCode::BAD_REQUEST));

    applications.delete(&object_id).await.unwrap();
    assert!(
        applications
            .get(&object_id, &[])
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(applications.find_by_app_id(&app_id).await.unwrap(), None);
}

#[tokio::test]
async fn graph_permissions_are_granted_idempotently() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let principals = graph.service_principals();

    let microsoft_graph = principals.microsoft_graph().await.unwrap();
    assert_eq!(microsoft_graph.app_id, MICROSOFT_GRAPH_APP_ID);
    assert_eq!(
        microsoft_graph.id,
        sandbox.microsoft_graph_service_principal_id()
    );
    for (id, value, _) in MICROSOFT_GRAPH_APP_ROLES {
        assert_eq!(microsoft_graph.app_role(value).unwrap().id, id, "{value}");
    }

    let ci = graph
        .applications()
        .create(&Application::new("entra-hooks ci"))
        .await
        .unwrap();
    let ci_app_id = ci.app_id.unwrap();
    assert_eq!(principals.find_by_app_id(&ci_app_id).await.unwrap(), None);
    let ci_sp = principals.ensure(&ci_app_id).await.unwrap();
    assert_eq!(principals.ensure(&ci_app_id).await.unwrap(), ci_sp);
    assert_eq!(principals.get(&ci_sp.id).await.unwrap(), ci_sp);
    let duplicate = principals.create(&ci_app_id).await.unwrap_err();
    assert_eq!(duplicate.status(), Some(StatusCode::CONFLICT));
    let unknown = principals
        .create("6c1b0c3e-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(StatusCode::BAD_REQUEST));

    let grants = principals
        .grant_graph_permissions(&ci_sp.id, &BOOTSTRAP_PERMISSIONS)
        .await
        .unwrap();
    assert_eq!(grants.len(), BOOTSTRAP_PERMISSIONS.len());
    assert!(grants.iter().all(|(_, grant)| grant.is_created()));
    let AppRoleGrant::Created(first) = &grants[0].1 else {
        unreachable!()
    };
    assert_eq!(first.principal_id, ci_sp.id);
    assert_eq!(first.resource_id, microsoft_graph.id);
    assert_eq!(first.app_role_id, "0edf5e9e-4ce8-468a-8432-d08631d18c43");
    assert_eq!(
        first.resource_display_name.as_deref(),
        Some("Microsoft Graph")
    );

    // Again: nothing new, nothing fails.
    let again = principals
        .grant_graph_permissions(&ci_sp.id, &BOOTSTRAP_PERMISSIONS)
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|(_, grant)| matches!(grant, AppRoleGrant::AlreadyGranted(Some(_))))
    );
    assert_eq!(
        sandbox.app_role_assignments().len(),
        BOOTSTRAP_PERMISSIONS.len()
    );
    assert_eq!(
        principals
            .app_role_assignments(&ci_sp.id)
            .await
            .unwrap()
            .len(),
        BOOTSTRAP_PERMISSIONS.len()
    );
    assert_eq!(
        principals
            .app_role_assigned_to(&microsoft_graph.id)
            .await
            .unwrap()
            .len(),
        BOOTSTRAP_PERMISSIONS.len()
    );

    // Graph's own duplicate answer (400 "already exists") is tolerated too.
    let token = sandbox.issue_access_token();
    let raw = reqwest::Client::new()
        .post(format!(
            "{}servicePrincipals/{}/appRoleAssignedTo",
            sandbox.graph_url(),
            microsoft_graph.id
        ))
        .bearer_auth(&token)
        .json(&json!({"principalId": ci_sp.id, "resourceId": microsoft_graph.id, "appRoleId": "0edf5e9e-4ce8-468a-8432-d08631d18c43"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Permission being assigned already exists on the object."
    );

    // An unknown permission fails before anything is granted.
    let error = principals
        .grant_graph_permissions(&ci_sp.id, &["Mail.Send.Everywhere"])
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::InvalidRequest(_)));
    let bogus_role = principals
        .grant_app_role(
            &microsoft_graph.id,
            &ci_sp.id,
            "11111111-2222-4333-8444-555555555555",
        )
        .await
        .unwrap_err();
    assert_eq!(bogus_role.status(), Some(StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn client_secrets_appear_once_and_never_in_debug() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let applications = graph.applications();
    let app = applications
        .create(&Application::new("secret holder"))
        .await
        .unwrap();
    let object_id = app.id.unwrap();

    let added = applications
        .add_password(&object_id, "ci rotation", Some("2027-06-30T00:00:00Z"))
        .await
        .unwrap();
    let secret = added.secret_text.expose_secret().to_owned();
    assert!(secret.len() >= 16);
    assert_eq!(added.hint.as_deref(), Some(&secret[..3]));
    assert_eq!(added.end_date_time.as_deref(), Some("2027-06-30T00:00:00Z"));
    assert!(
        !format!("{added:?}").contains(&secret),
        "Debug leaks the secret"
    );

    let listed = applications.get(&object_id, &[]).await.unwrap();
    let credentials = listed.password_credentials.clone().unwrap();
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        credentials[0].key_id.as_deref(),
        Some(added.key_id.as_str())
    );
    assert!(!serde_json::to_string(&listed).unwrap().contains(&secret));
    let stored = sandbox
        .application_by_app_id(listed.app_id.as_deref().unwrap())
        .unwrap();
    assert!(
        !stored.to_string().contains(&secret),
        "the tenant keeps no secret text"
    );

    applications
        .remove_password(&object_id, &added.key_id)
        .await
        .unwrap();
    let listed = applications.get(&object_id, &[]).await.unwrap();
    assert!(listed.password_credentials.unwrap().is_empty());
    let again = applications
        .remove_password(&object_id, &added.key_id)
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn certificates_replace_key_credentials() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let applications = graph.applications();
    let app = applications
        .create(&Application::new("cert holder"))
        .await
        .unwrap();
    let object_id = app.id.unwrap();

    let (cert_pem, _key) = certificate();
    let key = KeyCredential::verify_certificate_pem(&cert_pem, "CN=entra-hooks").unwrap();
    applications
        .set_key_credentials(&object_id, vec![key.clone()])
        .await
        .unwrap();
    let plain = applications.get(&object_id, &[]).await.unwrap();
    let listed = plain.key_credentials.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, key.key_id);
    assert_eq!(listed[0].usage.as_deref(), Some("Verify"));
    assert_eq!(listed[0].key, None, "key is null unless selected");
    let selected = applications
        .get(&object_id, &["keyCredentials"])
        .await
        .unwrap();
    assert_eq!(selected.key_credentials.unwrap()[0].key, key.key);

    // The PATCH replaces the collection.
    applications
        .set_key_credentials(&object_id, vec![])
        .await
        .unwrap();
    let emptied = applications.get(&object_id, &[]).await.unwrap();
    assert!(emptied.key_credentials.unwrap().is_empty());

    assert!(matches!(
        KeyCredential::verify_certificate_pem("not pem", "x").unwrap_err(),
        GraphError::InvalidRequest(_)
    ));
    let mut garbage = key;
    garbage.key = Some("***".into());
    let refused = applications
        .set_key_credentials(&object_id, vec![garbage])
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn federated_credentials_for_github_actions() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let applications = graph.applications();
    let app = applications.create(&Application::new("ci")).await.unwrap();
    let object_id = app.id.unwrap();
    assert!(
        applications
            .federated_credentials(&object_id)
            .await
            .unwrap()
            .is_empty()
    );

    let main = FederatedIdentityCredential::github_actions(
        "github-main",
        github_branch_subject("octo-org/octo-repo", "main"),
    )
    .with_description("plan/apply from main");
    let created = applications
        .create_federated_credential(&object_id, &main)
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(
        created.issuer,
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(
        created.subject,
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    assert_eq!(created.audiences, ["api://AzureADTokenExchange"]);
    let mut without_id = created.clone();
    without_id.id = None;
    without_id.extra.clear();
    assert_eq!(without_id, main);

    // By id and by name.
    let by_name = applications
        .find_federated_credential(&object_id, "github-main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id.as_deref(), Some(id.as_str()));
    assert_eq!(
        applications
            .find_federated_credential(&object_id, &id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "github-main"
    );

    // Name and issuer+subject are unique per application.
    let same_name = applications
        .create_federated_credential(&object_id, &main)
        .await
        .unwrap_err();
    assert_eq!(same_name.status(), Some(StatusCode::CONFLICT));
    let mut same_subject = main.clone();
    same_subject.name = "github-main-2".into();
    assert_eq!(
        applications
            .create_federated_credential(&object_id, &same_subject)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::CONFLICT)
    );
    let pull_requests = FederatedIdentityCredential::github_actions(
        "github-pr",
        entra_graph::github_pull_request_subject("octo-org/octo-repo"),
    );
    applications
        .create_federated_credential(&object_id, &pull_requests)
        .await
        .unwrap();
    assert_eq!(
        applications
            .federated_credentials(&object_id)
            .await
            .unwrap()
            .len(),
        2
    );

    applications
        .delete_federated_credential(&object_id, "github-main")
        .await
        .unwrap();
    applications
        .delete_federated_credential(&object_id, "github-pr")
        .await
        .unwrap();
    assert!(
        applications
            .federated_credentials(&object_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        applications
            .delete_federated_credential(&object_id, "github-main")
            .await
            .unwrap_err()
            .is_not_found()
    );

    // The sandbox enforces the audience itself, not only the client.
    let token = sandbox.issue_access_token();
    let raw = reqwest::Client::new()
        .post(format!(
            "{}applications/{object_id}/federatedIdentityCredentials",
            sandbox.graph_url()
        ))
        .bearer_auth(&token)
        .json(&json!({"name": "x-aud", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:o/r:pull_request", "audiences": ["api://other"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn extension_api_registration_is_complete_and_repeatable() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let applications = graph.applications();

    let first = applications
        .register_extension_api(
            "entra-hooks extension API",
            "abc123.lambda-url.eu-west-1.on.aws",
        )
        .await
        .unwrap();
    assert_eq!(
        first.identifier_uri,
        format!("api://abc123.lambda-url.eu-west-1.on.aws/{}", first.app_id)
    );
    assert!(first.consent.is_created());
    let app = applications.get(&first.object_id, &[]).await.unwrap();
    assert_eq!(
        app.identifier_uris,
        Some(vec![first.identifier_uri.clone()])
    );
    assert_eq!(app.api.unwrap().requested_access_token_version, Some(2));
    let access = app.required_resource_access.unwrap();
    assert_eq!(access[0].resource_app_id, MICROSOFT_GRAPH_APP_ID);
    assert_eq!(access[0].resource_access[0].id, RECEIVE_PAYLOAD_ROLE_ID);
    assert_eq!(access[0].resource_access[0].access_type, "Role");
    let assignments = graph
        .service_principals()
        .app_role_assignments(&first.service_principal.id)
        .await
        .unwrap();
    assert_eq!(assignments.len(), 1);
    assert_eq!(assignments[0].app_role_id, RECEIVE_PAYLOAD_ROLE_ID);
    assert_eq!(
        assignments[0].resource_id,
        sandbox.microsoft_graph_service_principal_id()
    );

    // Re-running finds the same registration and changes nothing.
    let second = applications
        .register_extension_api(
            "entra-hooks extension API",
            "abc123.lambda-url.eu-west-1.on.aws",
        )
        .await
        .unwrap();
    assert_eq!(second.object_id, first.object_id);
    assert_eq!(second.service_principal, first.service_principal);
    assert!(!second.consent.is_created());
    assert_eq!(sandbox.app_role_assignments().len(), 1);
    assert!(matches!(
        applications
            .register_extension_api("x", "https://not-a-host")
            .await
            .unwrap_err(),
        GraphError::InvalidRequest(_)
    ));
}

#[tokio::test]
async fn a_grant_racing_another_tolerates_graphs_duplicate_answer() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let principals = graph.service_principals();
    let app = graph
        .applications()
        .create(&Application::new("racer"))
        .await
        .unwrap();
    let sp = principals
        .create(app.app_id.as_deref().unwrap())
        .await
        .unwrap();
    let resource = sandbox.microsoft_graph_service_principal_id();
    let role = "b0afded3-3588-46d8-8b3d-9842eff778da";
    // The first POST is held back, so both callers see no assignment when they look, and the slow
    // one meets Graph's "already exists" 400 when its POST lands.
    sandbox.faults().add(
        entra_sandbox::FaultRule::new(
            format!("/v1.0/servicePrincipals/{resource}/appRoleAssignedTo"),
            entra_sandbox::Fault::Delay(std::time::Duration::from_millis(600)),
            Some(1),
        )
        .for_method(reqwest::Method::POST),
    );
    let slow = {
        let principals = principals.clone();
        let sp = sp.id.clone();
        tokio::spawn(async move { principals.grant_app_role(resource, &sp, role).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let fast = principals
        .grant_app_role(resource, &sp.id, role)
        .await
        .unwrap();
    assert!(fast.is_created());
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow, AppRoleGrant::AlreadyGranted(None));
    assert_eq!(sandbox.app_role_assignments().len(), 1);
}
