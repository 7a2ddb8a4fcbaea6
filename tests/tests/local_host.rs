//! The local host end to end: the same commands the README and the start-up banner give a new user,
//! over real HTTP on loopback, against the embedded simulated tenant.

use std::net::SocketAddr;

use entra_local::{LocalHost, LocalHostOptions};
use serde_json::{Value, json};

async fn start() -> LocalHost {
    let mail_dir = std::env::temp_dir().join(format!("entra-local-mail-{}", uuid_like()));
    LocalHost::start(LocalHostOptions {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        sandbox_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        rules: None,
        mail_dir: mail_dir.clone(),
        state_dir: mail_dir.join("state"),
        ..LocalHostOptions::default()
    })
    .await
    .expect("local host starts")
}

#[tokio::test]
async fn banner_commands_work_end_to_end() {
    let host = start().await;
    let base = host.base_url();
    let http = reqwest::Client::new();

    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    // What the banner's pipeline does: fetch a sample body and a token, then call the endpoint.
    let sample = http
        .get(format!("{base}/local/samples/token-issuance-start"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = http
        .get(format!("{base}/local/token"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(token.split('.').count(), 3, "a compact JWS");

    let response = http
        .post(format!("{base}{}", token_path()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(sample.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["data"]["@odata.type"],
        "microsoft.graph.onTokenIssuanceStartResponseData"
    );
    let actions = answer["data"]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0]["@odata.type"],
        "microsoft.graph.tokenIssuanceStart.provideClaimsForToken"
    );

    // The same call without a token, or with a token of the wrong tenant, is refused.
    let unauthenticated = http
        .post(format!("{base}{}", token_path()))
        .body(sample.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let other_tenant = host
        .sandbox()
        .extension_token()
        .claim("tid", "aaaabbbb-0000-cccc-1111-dddd2222eeee")
        .sign();
    let refused = http
        .post(format!("{base}{}", token_path()))
        .bearer_auth(other_tenant)
        .body(sample)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn v1_and_v2_tokens_after_a_key_rollover_are_accepted_with_one_jwks_fetch() {
    let host = start().await;
    let base = host.base_url();
    let http = reqwest::Client::new();
    let sample = entra_local::samples::token_issuance_start(host.sandbox().config()).to_string();

    // Entra rolls its signing keys; the host fetches the JWKS on first use and gets both.
    let previous = host.sandbox().active_kid();
    let rotated = host.sandbox().rotate_signing_key();
    assert_ne!(previous, rotated);

    let v1 = host.sandbox().extension_token_v1().sign();
    let v2 = host.sandbox().extension_token().sign();
    for token in [v1, v2] {
        let status = http
            .post(format!("{base}{}", token_path()))
            .bearer_auth(token)
            .body(sample.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    assert_eq!(
        host.sandbox().jwks_fetch_count(),
        1,
        "one JWKS fetch serves both calls"
    );
}

#[tokio::test]
async fn the_banner_names_every_route_and_a_working_command() {
    let host = start().await;
    let banner = host.banner();
    for route in entra_local::ROUTES {
        assert!(banner.contains(route.path), "banner lists {}", route.path);
    }
    assert!(banner.contains(&format!("{}/local/token", host.base_url())));
    assert!(banner.contains(host.sandbox().tenant_id()));
}

fn token_path() -> &'static str {
    "/extensions/token-issuance-start"
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The banner's audit-export command: the configuration the host wrote points the export at its
/// simulated tenant, and one pass writes every closed window of the seeded logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banners_audit_export_command_exports_the_seeded_logs() {
    let host = start().await;
    assert!(
        host.banner()
            .contains(&host.audit_config().display().to_string())
    );
    let options = entra_infra::audit_export::AuditExportOptions {
        config: host.audit_config(),
        streams: Vec::new(),
        until: None,
        json: false,
    };
    let no_env: [(String, String); 0] = [];
    assert!(
        entra_infra::audit_export::run(&options, no_env)
            .await
            .unwrap()
    );
    let exports = host.audit_config().parent().unwrap().join("audit-exports");
    for stream in ["directoryAudits", "signIns"] {
        let mut objects = 0;
        let mut pending = vec![exports.join(format!("stream={stream}"))];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                if entry.path().is_dir() {
                    pending.push(entry.path());
                } else {
                    objects += 1;
                }
            }
        }
        // Two days of 15-minute windows, less the lag and the windows left open.
        assert!(objects >= 180, "{stream}: {objects} objects");
    }
}

/// The banner's directory-reactions command: a user created in the simulated tenant is picked up
/// by the poller, queued, and the worker's reactions show in the tenant's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_on_the_local_host_gets_the_example_reactions() {
    let host = start().await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/local/users", host.base_url()))
        .json(&json!({"displayName": "Noor Local", "accountEnabled": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let newsletter = entra_sandbox::directory::DEMO_GROUP_NEWSLETTER_ID;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let joined = host.sandbox().group_member_ids(newsletter).contains(&id);
        let titled = host.sandbox().user(&id).unwrap()["jobTitle"] == "Customer";
        let announced = host
            .reactions()
            .publisher
            .events()
            .iter()
            .any(|e| e.detail["resourceId"] == id.as_str());
        if joined && titled && announced {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reactions not seen: joined {joined}, titled {titled}, announced {announced}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The tenant also notified the host's receiver (the webhook path), and it answered 2xx.
    let delivered = host
        .sandbox()
        .subscriptions()
        .attempts_of(entra_sandbox::DeliveryKind::Change)
        .iter()
        .any(|attempt| attempt.succeeded() && attempt.body.contains(&id));
    assert!(delivered, "no notification reached the local receiver");
    // Later polls re-read the overlap, the webhook reports the same change: no second run.
    tokio::time::sleep(entra_local::reactions::LOCAL_POLL_INTERVAL * 2).await;
    let announcements = host
        .reactions()
        .publisher
        .events()
        .iter()
        .filter(|e| e.detail["resourceId"] == id.as_str())
        .count();
    assert_eq!(
        announcements, 1,
        "one announcement for the new user, whichever source came first"
    );
}

/// The banner's notification command: a Graph-shaped change notification to the local receiver is
/// acknowledged with 202, queued, and the worker's reactions run for that user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_notification_to_the_local_receiver_reaches_the_worker() {
    let host = start().await;
    let http = reqwest::Client::new();
    let body: Value = http
        .get(format!("{}/local/samples/notification", host.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .post(format!(
            "{}/notifications/graph?subscription=users",
            host.base_url()
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let user = entra_sandbox::directory::DEMO_USER_ID;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !host
        .reactions()
        .publisher
        .events()
        .iter()
        .any(|e| e.detail["resourceId"] == user && e.detail["source"] == "graphWebhook")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no reaction to the notification"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        host.sandbox()
            .group_member_ids(entra_sandbox::directory::DEMO_GROUP_NEWSLETTER_ID)
            .contains(&user.to_owned())
    );
    // A forged notification (wrong clientState) is acknowledged the same way and queues nothing.
    let mut forged = body.clone();
    forged["value"][0]["clientState"] = json!("guess");
    forged["value"][0]["resourceData"]["sequenceNumber"] = json!("forged");
    let before = host.reactions().publisher.events().len();
    let response = http
        .post(format!(
            "{}/notifications/graph?subscription=users",
            host.base_url()
        ))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after: Vec<_> = host
        .reactions()
        .publisher
        .events()
        .into_iter()
        .skip(before)
        .filter(|e| e.detail["source"] == "graphWebhook")
        .collect();
    assert!(after.is_empty(), "{after:?}");
}

/// The banner's tenant-configuration commands: the example tenant file plans changes against the
/// local host's simulated tenant, applies cleanly, and then plans none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banners_tenant_configuration_commands_apply_the_example() {
    use entra_infra::tenant_config::{self, plan::Deletes};

    let host = start().await;
    let banner = host.banner();
    assert!(
        banner.contains("plan -f infra/examples/tenant.toml --config"),
        "{banner}"
    );
    assert!(
        banner.contains("apply -f infra/examples/tenant.toml --config"),
        "{banner}"
    );
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("infra/examples/tenant.toml");
    let mut file = tenant_config::file::load(&example).unwrap();
    // The example reads Google's client secret from GOOGLE_CLIENT_SECRET; here from a file instead,
    // so the test does not touch the process environment.
    let secret = host
        .audit_config()
        .parent()
        .unwrap()
        .join("google-client-secret");
    std::fs::write(&secret, "local-google-secret").unwrap();
    for provider in file.identity_provider.iter_mut().flatten() {
        provider.client_secret = Some(format!("file:{}", secret.display()));
    }
    let no_env: [(String, String); 0] = [];
    let graph = tenant_config::connect(host.audit_config(), no_env, |_| None)
        .await
        .unwrap();

    let (plan, _) = tenant_config::plan_file(&graph, &file, Deletes::Keep)
        .await
        .unwrap();
    assert_eq!(plan.changes.len(), 10, "{plan:?}");
    let report = tenant_config::apply(&graph, &file, Deletes::Keep, |_, _, _| {})
        .await
        .unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.applied.len(), 10);
    let (plan, _) = tenant_config::plan_file(&graph, &file, Deletes::Keep)
        .await
        .unwrap();
    assert!(plan.is_empty(), "{plan:?}");
}
