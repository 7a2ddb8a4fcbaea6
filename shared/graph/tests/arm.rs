//! The ARM client against the sandbox's ciamDirectories over HTTP (tenant-lifecycle.md §1), and the
//! device-code sign-in that gives it a person's token.

mod common;

use std::time::{Duration, Instant};

use common::*;
use entra_graph::arm::{
    ARM_DEFAULT_SCOPE, ArmErrorDetail, CiamDirectoryRef, DeleteOutcome, LongRunningOperation,
    NewCiamDirectory, OperationKind, OperationProgress, PollingPolicy,
};
use entra_graph::device_code::AZURE_CLI_CLIENT_ID;
use entra_graph::{
    ArmClient, ArmConfig, ArmCredential, ArmError, ClientCredential, DelegatedToken,
    DeviceCodeFlow, DevicePoll, GraphError,
};
use entra_sandbox::Sandbox;
use entra_sandbox::faults::{Fault, FaultRule, RetryAfter};
use reqwest::Method;

const SUBSCRIPTION: &str = "6a1f3c2e-0b4d-4e5f-8a9b-1c2d3e4f5a6b";
const GROUP: &str = "identity-rg";
const ADMIN: &str = "admin@contoso.example";

fn quick_polling() -> PollingPolicy {
    PollingPolicy {
        default_interval: Duration::from_millis(10),
        max_interval: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
        max_consecutive_failures: 3,
    }
}

fn arm_config(sandbox: &Sandbox, credential: ArmCredential) -> ArmConfig {
    ArmConfig::new(credential)
        .with_base_url(sandbox.arm_url())
        .with_retry(fast_retry())
        .with_polling(quick_polling())
}

/// A client holding a person's token, as `az account get-access-token` would hand it over.
fn user_client(sandbox: &Sandbox) -> ArmClient {
    let token = DelegatedToken::new(sandbox.arm().issue_user_token(ADMIN), None);
    ArmClient::new(arm_config(sandbox, ArmCredential::User(token))).unwrap()
}

async fn quick_sandbox(provisioning_polls: u32) -> Sandbox {
    let sandbox = sandbox().await;
    sandbox.arm().configure(|s| {
        s.provisioning_polls = provisioning_polls;
        s.retry_after_secs = 0;
    });
    sandbox
}

fn contoso(name: &str) -> (CiamDirectoryRef, NewCiamDirectory) {
    (
        CiamDirectoryRef::new(SUBSCRIPTION, GROUP, name),
        NewCiamDirectory::new("United States", "Contoso", "US"),
    )
}

fn recorder() -> (
    std::sync::Arc<std::sync::Mutex<Vec<OperationProgress>>>,
    impl FnMut(&OperationProgress),
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |p: &OperationProgress| {
        sink.lock().unwrap().push(p.clone())
    })
}

#[tokio::test]
async fn name_check_reports_free_taken_and_invalid_names() {
    let sandbox = quick_sandbox(0).await;
    sandbox.arm().reserve_name("fabrikam.onmicrosoft.com");
    let directories = user_client(&sandbox).ciam_directories();

    let free = directories
        .check_name_availability(SUBSCRIPTION, "contoso", "US")
        .await
        .unwrap();
    assert!(free.name_available);
    assert_eq!(free.reason, None);

    let taken = directories
        .check_name_availability(SUBSCRIPTION, "Fabrikam", "US")
        .await
        .unwrap();
    assert!(!taken.name_available);
    assert_eq!(taken.reason.as_deref(), Some("AlreadyExists"));
    // The sandbox's own tenant is taken too.
    let own = directories
        .check_name_availability(SUBSCRIPTION, &sandbox.config().tenant_name, "US")
        .await
        .unwrap();
    assert_eq!(own.reason.as_deref(), Some("AlreadyExists"));

    let invalid = directories
        .check_name_availability(SUBSCRIPTION, "not-valid", "US")
        .await
        .unwrap();
    assert_eq!(invalid.reason.as_deref(), Some("Invalid"));

    let log = sandbox.request_log();
    let check = log
        .iter()
        .find(|r| r.path().ends_with("/checkNameAvailability"))
        .unwrap();
    assert_eq!(check.method, Method::POST);
    assert!(
        check
            .path_and_query
            .ends_with("?api-version=2023-05-17-preview")
    );
    assert!(check.has_authorization && check.client_request_id.is_some());
}

#[tokio::test]
async fn create_follows_the_operation_through_several_polls_to_a_ready_tenant() {
    let sandbox = quick_sandbox(3).await;
    let (resource, new) = contoso("contoso.onmicrosoft.com");
    let (seen, progress) = recorder();
    let created = user_client(&sandbox)
        .ciam_directories()
        .create(&resource, &new, progress)
        .await
        .unwrap();

    assert!(created.is_ready());
    let tenant_id = created.tenant_id().unwrap();
    assert!(uuid::Uuid::parse_str(tenant_id).is_ok());
    assert_eq!(created.domain_name(), Some("contoso.onmicrosoft.com"));
    assert_eq!(created.name, "contoso.onmicrosoft.com");
    assert_eq!(
        created.resource_type,
        "Microsoft.AzureActiveDirectory/ciamDirectories"
    );
    assert_eq!(
        created
            .properties
            .create_tenant_properties
            .as_ref()
            .unwrap()
            .display_name,
        "Contoso"
    );

    let statuses: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.status.clone())
        .collect();
    assert_eq!(
        statuses,
        ["InProgress", "InProgress", "InProgress", "Succeeded"]
    );
    let progress = seen.lock().unwrap().clone();
    assert_eq!(
        progress.iter().map(|p| p.polls).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(progress.last().unwrap().next_poll_in, None);
    assert_eq!(progress[0].next_poll_in, Some(Duration::ZERO));

    let log = sandbox.request_log();
    let methods: Vec<_> = log
        .iter()
        .map(|r| {
            let leaf = r.path().rsplit('/').nth(1).unwrap_or_default().to_owned();
            format!("{} {leaf}", r.method)
        })
        .collect();
    assert_eq!(
        methods,
        [
            "GET ciamDirectories",
            "PUT ciamDirectories",
            "GET operationStatuses",
            "GET operationStatuses",
            "GET operationStatuses",
            "GET operationStatuses",
            "GET ciamDirectories",
        ]
    );
    // The sandbox's copy agrees.
    let stored = sandbox
        .arm()
        .directory(SUBSCRIPTION, GROUP, "contoso.onmicrosoft.com")
        .unwrap();
    assert_eq!(stored["properties"]["tenantId"], tenant_id);

    // Creating again returns the existing tenant without a second PUT.
    sandbox.faults().clear_request_log();
    let again = user_client(&sandbox)
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap();
    assert_eq!(again.tenant_id(), Some(tenant_id));
    assert!(
        sandbox
            .request_log()
            .iter()
            .all(|r| r.method == Method::GET)
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let sandbox = sandbox().await;
    sandbox.arm().configure(|s| {
        s.provisioning_polls = 1;
        s.retry_after_secs = 1;
    });
    let client = user_client(&sandbox);
    let (resource, new) = contoso("slowtenant");
    let (_, operation) = client
        .ciam_directories()
        .begin_create(&resource, &new)
        .await
        .unwrap();
    let operation = operation.expect("a 201 names its operation");
    assert_eq!(operation.kind, OperationKind::AzureAsyncOperation);
    assert_eq!(operation.retry_after, Some(Duration::from_secs(1)));
    let started = Instant::now();
    let (seen, progress) = recorder();
    client.wait(&operation, progress).await.unwrap();
    // One second before the first poll (the PUT's Retry-After), one before the second.
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        seen.lock().unwrap()[0].next_poll_in,
        Some(Duration::from_secs(1))
    );

    // The same service with a 50 ms ceiling on waits.
    let (resource, new) = contoso("cappedtenant");
    let capped = ArmClient::new(
        arm_config(
            &sandbox,
            ArmCredential::User(DelegatedToken::new(
                sandbox.arm().issue_user_token(ADMIN),
                None,
            )),
        )
        .with_polling(PollingPolicy {
            max_interval: Duration::from_millis(50),
            ..quick_polling()
        }),
    )
    .unwrap();
    let started = Instant::now();
    capped
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn failed_provisioning_surfaces_arm_error() {
    let sandbox = quick_sandbox(1).await;
    sandbox.arm().fail_next_provisioning(
        "TenantQuotaExceeded",
        "The subscription has reached its tenant quota.",
    );
    let (resource, new) = contoso("quotatenant");
    let (seen, progress) = recorder();
    let error = user_client(&sandbox)
        .ciam_directories()
        .create(&resource, &new, progress)
        .await
        .unwrap_err();
    match &error {
        ArmError::OperationFailed { status, error } => {
            assert_eq!(status, "Failed");
            assert_eq!(
                error,
                &ArmErrorDetail {
                    code: "TenantQuotaExceeded".into(),
                    message: "The subscription has reached its tenant quota.".into(),
                    target: None
                }
            );
        }
        other => panic!("expected a failed operation, got {other:?}"),
    }
    assert_eq!(error.code(), Some("TenantQuotaExceeded"));
    assert!(error.to_string().contains("TenantQuotaExceeded"));
    assert_eq!(seen.lock().unwrap().last().unwrap().status, "Failed");
    let stored = sandbox
        .arm()
        .directory(SUBSCRIPTION, GROUP, "quotatenant")
        .unwrap();
    assert_eq!(stored["properties"]["provisioningState"], "Failed");
}

#[tokio::test]
async fn delete_follows_its_operation_and_frees_the_name() {
    let sandbox = quick_sandbox(0).await;
    sandbox.arm().configure(|s| s.deletion_polls = 2);
    let client = user_client(&sandbox);
    let directories = client.ciam_directories();
    let (resource, new) = contoso("gonetenant");
    directories.create(&resource, &new, |_| {}).await.unwrap();
    let taken = directories
        .check_name_availability(SUBSCRIPTION, "gonetenant", "US")
        .await
        .unwrap();
    assert!(!taken.name_available);

    let (seen, progress) = recorder();
    assert_eq!(
        directories.delete(&resource, progress).await.unwrap(),
        DeleteOutcome::Deleted
    );
    let statuses: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.status.clone())
        .collect();
    assert_eq!(statuses, ["InProgress", "InProgress", "Succeeded"]);
    assert!(directories.get(&resource).await.unwrap().is_none());
    assert_eq!(
        directories.delete(&resource, |_| {}).await.unwrap(),
        DeleteOutcome::Absent
    );
    assert!(
        directories
            .check_name_availability(SUBSCRIPTION, "gonetenant", "US")
            .await
            .unwrap()
            .name_available
    );
}

#[tokio::test]
async fn a_delete_followed_through_location_alone() {
    let sandbox = quick_sandbox(0).await;
    sandbox.arm().configure(|s| s.deletion_polls = 1);
    let client = user_client(&sandbox);
    let (resource, new) = contoso("locationtenant");
    client
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap();
    let (_, operation) = client
        .ciam_directories()
        .begin_delete(&resource)
        .await
        .unwrap();
    let operation = operation.unwrap();
    // Follow the Location URL instead of Azure-AsyncOperation: it answers 202, then 204.
    let by_location = LongRunningOperation {
        url: operation
            .url
            .as_str()
            .replace("operationStatuses", "operationResults")
            .parse()
            .unwrap(),
        kind: OperationKind::Location,
        retry_after: Some(Duration::ZERO),
    };
    let (seen, progress) = recorder();
    let status = client.wait(&by_location, progress).await.unwrap();
    assert_eq!(status.status, "Succeeded");
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(
        client
            .ciam_directories()
            .get(&resource)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn throttled_requests_are_retried() {
    let sandbox = quick_sandbox(1).await;
    sandbox.faults().add(
        FaultRule::new(
            "/subscriptions/",
            Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(0)),
            },
            Some(1),
        )
        .for_method(Method::PUT),
    );
    sandbox.faults().add(
        FaultRule::new(
            format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AzureActiveDirectory/operationStatuses"),
            Fault::ServiceUnavailable { retry_after: None },
            Some(1),
        ),
    );
    let (resource, new) = contoso("busytenant");
    let created = user_client(&sandbox)
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap();
    assert!(created.is_ready());
    let puts: Vec<_> = sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.method == Method::PUT)
        .collect();
    assert_eq!(puts.len(), 2);
    assert!(puts[0].fault.is_some());
    assert_eq!(puts[1].retry_attempt.as_deref(), Some("1"));
    assert_eq!(puts[0].client_request_id, puts[1].client_request_id);
}

#[tokio::test]
async fn resuming_a_creation_waits_on_the_resource() {
    let sandbox = quick_sandbox(3).await;
    let client = user_client(&sandbox);
    let (resource, new) = contoso("resumetenant");
    let (started, _) = client
        .ciam_directories()
        .begin_create(&resource, &new)
        .await
        .unwrap();
    assert_eq!(started.provisioning_state(), Some("Provisioning"));
    assert_eq!(started.tenant_id(), None);
    // A second run (the first one was interrupted) finds it provisioning and waits.
    let (seen, progress) = recorder();
    let ready = client
        .ciam_directories()
        .create(&resource, &new, progress)
        .await
        .unwrap();
    assert!(ready.is_ready());
    assert!(!seen.lock().unwrap().is_empty());
    assert_eq!(
        sandbox
            .request_log()
            .iter()
            .filter(|r| r.method == Method::PUT)
            .count(),
        1
    );
}

#[tokio::test]
async fn device_code_sign_in_pending_then_approved_gives_a_working_token() {
    let sandbox = quick_sandbox(0).await;
    sandbox.arm().configure(|s| s.device_code_interval_secs = 1);
    let flow = DeviceCodeFlow::new(
        sandbox.url(),
        "organizations",
        AZURE_CLI_CLIENT_ID,
        ARM_DEFAULT_SCOPE,
    )
    .unwrap()
    .with_retry(fast_retry());
    let challenge = flow.start().await.unwrap();
    assert_eq!(challenge.user_code.len(), 8);
    assert_eq!(challenge.interval, Duration::from_secs(1));
    assert!(challenge.instruction().contains(&challenge.user_code));
    assert!(!format!("{challenge:?}").contains("device_code:"));
    assert_eq!(
        sandbox.arm().pending_user_codes(),
        vec![challenge.user_code.clone()]
    );

    assert!(matches!(
        flow.poll_once(&challenge).await.unwrap(),
        DevicePoll::Pending
    ));
    // Polling again at once is too fast.
    assert!(matches!(
        flow.poll_once(&challenge).await.unwrap(),
        DevicePoll::SlowDown
    ));

    assert!(
        sandbox
            .arm()
            .approve_device_code(&challenge.user_code, ADMIN)
    );
    let mut pending = 0;
    let token = flow
        .wait_for_token(&challenge, |_| pending += 1)
        .await
        .unwrap();
    assert_eq!(pending, 0);
    assert!(token.expires_on().is_some());

    // The token creates a tenant, recorded as created by the person.
    let client = ArmClient::new(arm_config(&sandbox, ArmCredential::User(token.clone()))).unwrap();
    let (resource, new) = contoso("devicetenant");
    client
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap();
    let stored = sandbox
        .arm()
        .directory(SUBSCRIPTION, GROUP, "devicetenant")
        .unwrap();
    assert_eq!(stored["systemData"]["createdBy"], ADMIN);

    // The device code is redeemed once.
    let again = flow.poll_once(&challenge).await.unwrap_err();
    assert_eq!(auth_error(&again), "bad_verification_code");
}

fn auth_error(error: &GraphError) -> String {
    match error {
        GraphError::Auth(auth) => auth.error.clone(),
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

#[tokio::test]
async fn device_code_sign_in_waits_while_pending_and_stops_when_declined() {
    let sandbox = quick_sandbox(0).await;
    sandbox.arm().configure(|s| s.device_code_interval_secs = 1);
    let flow = DeviceCodeFlow::new(
        sandbox.url(),
        sandbox.tenant_id(),
        AZURE_CLI_CLIENT_ID,
        ARM_DEFAULT_SCOPE,
    )
    .unwrap();
    let challenge = flow.start().await.unwrap();
    let arm = sandbox.state().clone();
    let code = challenge.user_code.clone();
    let mut pending = Vec::new();
    let error = flow
        .wait_for_token(&challenge, |polls| {
            pending.push(polls);
            // The person refuses after the first pending poll.
            arm.arm.decline_device_code(&code);
        })
        .await
        .unwrap_err();
    assert_eq!(pending, [1]);
    assert_eq!(auth_error(&error), "authorization_declined");

    // Graph scopes are not what the sandbox signs people in for.
    let graph = DeviceCodeFlow::new(
        sandbox.url(),
        "organizations",
        AZURE_CLI_CLIENT_ID,
        "https://graph.microsoft.com/.default",
    )
    .unwrap();
    assert_eq!(
        auth_error(&graph.start().await.unwrap_err()),
        "invalid_scope"
    );
}

#[tokio::test]
async fn app_only_tokens_read_but_cannot_create() {
    let sandbox = quick_sandbox(0).await;
    let app = config_with(
        &sandbox,
        ClientCredential::secret(sandbox.config().graph_client_secret.clone()),
    );
    let client = ArmClient::new(arm_config(&sandbox, ArmCredential::App(Box::new(app)))).unwrap();
    let directories = client.ciam_directories();
    assert!(
        directories
            .check_name_availability(SUBSCRIPTION, "apponly", "US")
            .await
            .unwrap()
            .name_available
    );
    let (resource, new) = contoso("apponly");
    let error = directories
        .create(&resource, &new, |_| {})
        .await
        .unwrap_err();
    assert!(error.is_unauthenticated(), "{error:?}");
    assert_eq!(error.code(), Some("Unauthenticated"));
    assert_eq!(sandbox.arm().directory_count(), 0);

    // A Graph token is for the wrong audience.
    let graph_token = DelegatedToken::new(sandbox.issue_access_token(), None);
    let error = ArmClient::new(arm_config(&sandbox, ArmCredential::User(graph_token)))
        .unwrap()
        .ciam_directories()
        .get(&resource)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InvalidAuthenticationTokenAudience"));
    // ARM tokens do not open Graph either.
    let arm_token = sandbox.arm().issue_user_token(ADMIN);
    let status = reqwest::Client::new()
        .get(sandbox.graph_url().join("users").unwrap())
        .bearer_auth(arm_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn api_version_is_configurable_and_checked() {
    let sandbox = quick_sandbox(0).await;
    let token = DelegatedToken::new(sandbox.arm().issue_user_token(ADMIN), None);
    let stable = ArmClient::new(
        arm_config(&sandbox, ArmCredential::User(token.clone())).with_api_version("2024-05-01"),
    )
    .unwrap();
    let (resource, new) = contoso("stabletenant");
    stable
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap();
    assert!(
        sandbox
            .request_log()
            .iter()
            .all(|r| r.path_and_query.contains("api-version=2024-05-01"))
    );
    let unknown = ArmClient::new(
        arm_config(&sandbox, ArmCredential::User(token)).with_api_version("2099-01-01"),
    )
    .unwrap();
    let error = unknown.ciam_directories().get(&resource).await.unwrap_err();
    assert_eq!(error.code(), Some("NoRegisteredProviderFound"));
}

#[tokio::test]
async fn operation_urls_on_another_host_get_no_token() {
    let sandbox = quick_sandbox(0).await;
    let client = user_client(&sandbox);
    let elsewhere = LongRunningOperation {
        url: "https://attacker.example/operationStatuses/1"
            .parse()
            .unwrap(),
        kind: OperationKind::AzureAsyncOperation,
        retry_after: None,
    };
    let error = client.wait(&elsewhere, |_| {}).await.unwrap_err();
    assert!(matches!(error, ArmError::InvalidResponse(_)), "{error:?}");
    assert!(sandbox.request_log().is_empty());
}

#[tokio::test]
async fn a_ci_federated_token_signs_the_app_in_to_graph_and_arm_without_a_secret() {
    use entra_graph::FederatedTokenSource;

    let sandbox = quick_sandbox(0).await;
    let client_id = "5d1c7a3e-9f2b-4c6d-8e1a-3b5c7d9e1f20";
    let subject = "repo:octo-org/octo-repo:ref:refs/heads/main";
    sandbox.register_federated_credential(client_id, &sandbox.ci_oidc_issuer(), subject);
    let job = |subject: &str| {
        let (request_url, request_token) = sandbox.ci_job(subject);
        let lookup = move |name: &str| match name {
            "ACTIONS_ID_TOKEN_REQUEST_URL" => Some(request_url.to_string()),
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some(request_token.clone()),
            _ => None,
        };
        ClientCredential::Federated(FederatedTokenSource::from_env(lookup).unwrap().unwrap())
    };
    let app = |credential| {
        entra_graph::GraphConfig::new(sandbox.tenant_id(), client_id, credential)
            .with_authority_host(sandbox.url())
            .with_graph_base_url(sandbox.graph_url())
            .with_retry(fast_retry())
    };

    // Graph, app-only.
    let graph = entra_graph::GraphClient::new(app(job(subject))).unwrap();
    graph
        .get_json::<serde_json::Value>(graph.url(&["users"]))
        .await
        .unwrap();
    // ARM: reads work, creating a tenant needs a person.
    let arm = ArmClient::new(arm_config(
        &sandbox,
        ArmCredential::App(Box::new(app(job(subject)))),
    ))
    .unwrap();
    assert!(
        arm.ciam_directories()
            .check_name_availability(SUBSCRIPTION, "fromci", "US")
            .await
            .unwrap()
            .name_available
    );
    let (resource, new) = contoso("fromci");
    let error = arm
        .ciam_directories()
        .create(&resource, &new, |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("Unauthenticated"));
    // The CI token was asked for with the token-exchange audience.
    assert!(sandbox.request_log().iter().any(|r| {
        r.path() == "/_ci/github/token"
            && r.path_and_query
                .contains("audience=api%3A%2F%2FAzureADTokenExchange")
    }));

    // A job of another branch is not trusted.
    let other =
        entra_graph::GraphClient::new(app(job("repo:octo-org/octo-repo:pull_request"))).unwrap();
    let error = other
        .get_json::<serde_json::Value>(other.url(&["users"]))
        .await
        .unwrap_err();
    match error {
        GraphError::Auth(auth) => assert_eq!(auth.code, Some(70021)),
        other => panic!("expected AADSTS70021, got {other:?}"),
    }
}
