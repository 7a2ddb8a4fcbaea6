//! The keeper against the simulated tenant's subscriptions API, with our real receiver answering
//! Graph's validation handshake on loopback; then the whole webhook path: a user created through
//! Graph → the tenant's notification → receiver → queue → worker → the reaction in the tenant.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use entra_extensions::RulesFile;
use entra_graph::{GraphClient, NewUser};
use entra_notifications::config::{NotificationsConfig, SubscriptionSpec};
use entra_notifications::decrypt::DecryptionKeys;
use entra_notifications::wire::ChangeType;
use entra_platform::queue::MemoryQueue;
use entra_platform::store::MemoryStore;
use entra_platform::{SecretResolver, SecretValue};
use entra_sandbox::{LifecycleEvent, Sandbox};
use notification_worker::{DirectoryReactions, MemoryPublisher, Processed, SECTION, Worker};
use subscription_keeper::{Action, Keeper};
use time::OffsetDateTime;

const CLIENT_STATE: &str = "p8Zr2LkQ0vWm5XbT7nJc1YhE4sAf6uGd9oKiRx3NqMw";

fn graph(sandbox: &Sandbox) -> GraphClient {
    entra_graph::testing::sandbox_client(sandbox)
}

/// Our receiver on loopback, feeding `queue`; answers `http://127.0.0.1:{port}`.
async fn receiver(sandbox: &Sandbox, queue: Arc<MemoryQueue>) -> String {
    let receiver = notification_receiver::NotificationReceiver::new(
        sandbox.tenant_id(),
        HashMap::from([("users".to_owned(), SecretValue::new(CLIENT_STATE))]),
        None,
        DecryptionKeys::new(),
        queue,
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app =
        notification_receiver::router(Arc::new(receiver), notification_receiver::MAX_BODY_BYTES);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

fn notifications(public_url: &str, change_types: Vec<ChangeType>) -> NotificationsConfig {
    NotificationsConfig {
        public_url: Some(public_url.parse().unwrap()),
        subscriptions: vec![SubscriptionSpec {
            name: "users".into(),
            resource: "users".into(),
            change_types,
            client_state: "env:UNUSED".parse().unwrap(),
            include_resource_data: false,
            encryption_certificate: None,
            encryption_certificate_id: None,
            expiry_minutes: 41_700,
        }],
        ..NotificationsConfig::default()
    }
}

fn keeper(sandbox: &Sandbox, config: NotificationsConfig) -> Keeper {
    // The clientState comes from a literal reference (the test resolver allows literals).
    let mut config = config;
    for spec in &mut config.subscriptions {
        spec.client_state = format!("literal:{CLIENT_STATE}").parse().unwrap();
    }
    Keeper::new(
        graph(sandbox),
        config,
        SecretResolver::new().allow_literal(true),
        Arc::new(MemoryStore::new()),
        time::Duration::hours(72),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_creates_keeps_renews_recreates_and_cleans_up() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let queue = Arc::new(MemoryQueue::new());
    let base = receiver(&sandbox, queue).await;
    let both = vec![ChangeType::Updated, ChangeType::Deleted];
    let keeper = keeper(&sandbox, notifications(&base, both.clone()));
    let now = OffsetDateTime::now_utc();

    let actions = keeper.sync(now).await.unwrap();
    let [Action::Created { id, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    let held = sandbox.subscriptions().get(id).unwrap().to_json();
    assert_eq!(
        held["notificationUrl"],
        format!("{base}/notifications/graph?subscription=users")
    );
    assert_eq!(
        held["lifecycleNotificationUrl"],
        format!("{base}/notifications/lifecycle?subscription=users")
    );
    assert_eq!(held["changeType"], "updated,deleted");
    assert_eq!(held["clientState"], CLIENT_STATE);
    let state = keeper.state("users").await.unwrap().unwrap();
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["expirationDateTime"], held["expirationDateTime"]);

    // Nothing due: kept.
    assert!(matches!(
        &keeper.sync(now).await.unwrap()[..],
        [Action::Kept { .. }]
    ));
    // Expiring within the threshold: renewed, keeping the expiry Graph returns.
    sandbox
        .subscriptions()
        .set_expiration(id, (now + time::Duration::hours(5)).into())
        .unwrap();
    let actions = keeper.sync(now).await.unwrap();
    let [Action::Renewed { expires, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        expires,
        &sandbox.subscriptions().get(id).unwrap().to_json()["expirationDateTime"]
            .as_str()
            .unwrap()
            .to_owned()
    );

    // Graph removed the subscription (subscriptionRemoved): the next pass creates it again.
    sandbox
        .subscriptions()
        .emit_lifecycle(id, LifecycleEvent::SubscriptionRemoved)
        .unwrap();
    sandbox.subscriptions().wait_idle().await;
    assert!(sandbox.subscriptions().list().is_empty());
    let actions = keeper.sync(now).await.unwrap();
    assert!(
        matches!(&actions[..], [Action::Created { .. }]),
        "{actions:?}"
    );

    // The configuration changed what cannot be patched: deleted and created anew.
    let updated_only = keeper_for_types(&sandbox, &base, vec![ChangeType::Updated]);
    let actions = updated_only.sync(now).await.unwrap();
    assert!(
        matches!(
            &actions[..],
            [Action::Deleted { .. }, Action::Recreated { .. }]
        ),
        "{actions:?}"
    );
    assert_eq!(sandbox.subscriptions().list().len(), 1);

    // A subscription the configuration no longer names is deleted.
    let nothing = Keeper::new(
        graph(&sandbox),
        NotificationsConfig {
            public_url: Some(base.parse().unwrap()),
            ..NotificationsConfig::default()
        },
        SecretResolver::new(),
        Arc::new(MemoryStore::new()),
        time::Duration::hours(72),
    );
    let actions = nothing.sync(now).await.unwrap();
    assert!(
        matches!(&actions[..], [Action::Deleted { .. }]),
        "{actions:?}"
    );
    assert!(sandbox.subscriptions().list().is_empty());
}

fn keeper_for_types(sandbox: &Sandbox, base: &str, types: Vec<ChangeType>) -> Keeper {
    keeper(sandbox, notifications(base, types))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_the_handshake_is_reported_with_what_to_do() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // Nobody listens at this URL: Graph's validation request fails.
    let keeper = keeper(
        &sandbox,
        notifications("http://127.0.0.1:9", vec![ChangeType::Updated]),
    );
    let actions = keeper.sync(OffsetDateTime::now_utc()).await.unwrap();
    let [Action::Failed { problem, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert!(problem.contains("validation"), "{problem}");
    assert!(sandbox.subscriptions().list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_through_graph_reaches_the_reactions_through_the_webhook() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let queue = Arc::new(MemoryQueue::new());
    let base = receiver(&sandbox, queue.clone()).await;
    keeper(
        &sandbox,
        notifications(&base, vec![ChangeType::Updated, ChangeType::Deleted]),
    )
    .sync(OffsetDateTime::now_utc())
    .await
    .unwrap();

    let group = sandbox
        .insert_group(serde_json::json!({"displayName": "Webhook joiners"}))
        .unwrap();
    let rules: DirectoryReactions = RulesFile::parse(
        format!(
            "[directory_reactions]\n[[directory_reactions.reactions]]\nname = \"join\"\nresource = \"user\"\nadd_to_group = \"{group}\"\n"
        ),
        "rules.toml",
    )
    .unwrap()
    .section(SECTION)
    .unwrap();
    let store = Arc::new(MemoryStore::new());
    let reconciler = directory_poller::Poller::new(
        graph(&sandbox),
        queue.clone(),
        store.clone(),
        sandbox.tenant_id(),
        directory_poller::PollerSettings::default(),
    );
    let worker = Worker::new(
        graph(&sandbox),
        store,
        rules,
        Arc::new(MemoryPublisher::new()),
        Duration::from_secs(30),
    )
    .with_reconciler(Arc::new(reconciler));

    let user = graph(&sandbox)
        .users()
        .create(&NewUser::new("Webhook Wim"))
        .await
        .unwrap();
    sandbox.subscriptions().wait_idle().await;
    let messages = queue.receive(10, Duration::from_secs(30));
    assert_eq!(messages.len(), 1, "one notification for the new user");
    let processed = worker.process(&messages[0].body).await.unwrap();
    assert_eq!(processed, Processed::Reacted(vec!["join".into()]));
    assert_eq!(sandbox.group_member_ids(&group), vec![user.id.clone()]);

    // Reauthorization asked by Graph: the worker reauthorizes the subscription.
    let subscription = sandbox.subscriptions().list()[0].clone();
    let before = subscription.reauthorizations;
    sandbox
        .subscriptions()
        .emit_lifecycle(&subscription.id, LifecycleEvent::ReauthorizationRequired)
        .unwrap();
    sandbox.subscriptions().wait_idle().await;
    let lifecycle = queue.receive(10, Duration::from_secs(30));
    let lifecycle: Vec<_> = lifecycle
        .iter()
        .filter(|m| m.body.contains("\"kind\":\"lifecycle\""))
        .collect();
    assert_eq!(lifecycle.len(), 1);
    assert!(matches!(
        worker.process(&lifecycle[0].body).await.unwrap(),
        Processed::Lifecycle(_)
    ));
    assert_eq!(
        sandbox
            .subscriptions()
            .get(&subscription.id)
            .unwrap()
            .reauthorizations,
        before + 1
    );
}

/// A tiny receiver that only answers Graph's validation handshake (another team's endpoint).
async fn echo_receiver() -> String {
    async fn echo(axum::extract::RawQuery(query): axum::extract::RawQuery) -> String {
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "validationToken")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/hook", axum::routing::post(echo));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

async fn subscribe_elsewhere(sandbox: &Sandbox, url: &str, resource: &str) -> u16 {
    let client = graph(sandbox);
    let request =
        entra_graph::GraphRequest::new(http::Method::POST, client.url(&["subscriptions"]))
            .with_json(&serde_json::json!({
                "changeType": "updated,deleted",
                "notificationUrl": url,
                "resource": resource,
                "expirationDateTime": (OffsetDateTime::now_utc() + time::Duration::days(2))
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
                "clientState": "someone-else",
            }))
            .unwrap();
    match client.send(request).await {
        Ok(response) => response.status.as_u16(),
        Err(error) => error.status().map_or(0, |s| s.as_u16()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphs_conflict_and_quota_answers_are_reported_with_what_to_do() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let base = receiver(&sandbox, Arc::new(MemoryQueue::new())).await;
    let elsewhere = echo_receiver().await;

    // The same resource and change types already subscribed by this app, to another URL: 409.
    assert_eq!(
        subscribe_elsewhere(&sandbox, &elsewhere, "users").await,
        201
    );
    let conflicting = keeper(
        &sandbox,
        notifications(&base, vec![ChangeType::Updated, ChangeType::Deleted]),
    );
    let actions = conflicting.sync(OffsetDateTime::now_utc()).await.unwrap();
    let [Action::Failed { problem, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert!(problem.contains("already subscribed"), "{problem}");

    // The app's quota used up by other subscriptions: 403, with the quota named.
    let sandbox = Sandbox::start_default().await.unwrap();
    let base = receiver(&sandbox, Arc::new(MemoryQueue::new())).await;
    let elsewhere = echo_receiver().await;
    for n in 0..entra_sandbox::subscriptions::MAX_SUBSCRIPTIONS_PER_APP {
        let resource = format!("users/00000000-0000-0000-0000-{n:012}");
        assert_eq!(
            subscribe_elsewhere(&sandbox, &elsewhere, &resource).await,
            201
        );
    }
    let over_quota = keeper(&sandbox, notifications(&base, vec![ChangeType::Updated]));
    let actions = over_quota.sync(OffsetDateTime::now_utc()).await.unwrap();
    let [Action::Failed { problem, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert!(problem.contains("quota"), "{problem}");
}

/// Rich notifications end to end: the keeper subscribes with our encryption certificate, the
/// simulated tenant encrypts each changed user to it and signs validation tokens, and the receiver
/// checks the tokens and decrypts with the private key before queueing the resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_notifications_are_decrypted_by_the_receiver_from_the_tenants_deliveries() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let key = entra_sandbox::password_context::PasswordContextKey::generate().unwrap();
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("cert-2026-12", &key.private_key_pem())
        .unwrap();
    let policy = entra_tokens::CallerPolicy::graph_notification(
        vec![sandbox.tenant_id().to_owned()],
        vec![sandbox.config().graph_client_id.clone()],
    );
    let validator = entra_tokens::TokenValidator::new(
        policy,
        entra_tokens::KeySet::new(sandbox.common_discovery_url(), reqwest::Client::new()),
    );
    let queue = Arc::new(MemoryQueue::new());
    let receiver = notification_receiver::NotificationReceiver::new(
        sandbox.tenant_id(),
        HashMap::from([("users".to_owned(), SecretValue::new(CLIENT_STATE))]),
        Some(validator),
        keys,
        queue.clone(),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app =
        notification_receiver::router(Arc::new(receiver), notification_receiver::MAX_BODY_BYTES);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut config = notifications(&base, vec![ChangeType::Updated]);
    config.subscriptions[0].include_resource_data = true;
    config.subscriptions[0].encryption_certificate_id = Some("cert-2026-12".into());
    config.subscriptions[0].encryption_certificate = Some(
        format!("literal:{}", key.certificate_pem())
            .parse()
            .unwrap(),
    );
    let actions = keeper(&sandbox, config)
        .sync(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(
        matches!(&actions[..], [Action::Created { .. }]),
        "{actions:?}"
    );

    let user = graph(&sandbox)
        .users()
        .create(&NewUser::new("Rich Rosa"))
        .await
        .unwrap();
    sandbox.subscriptions().wait_idle().await;
    let messages = queue.receive(10, Duration::from_secs(30));
    assert_eq!(messages.len(), 1);
    let message: entra_notifications::event::QueueMessage =
        serde_json::from_str(&messages[0].body).unwrap();
    let entra_notifications::event::QueueMessage::Change(change) = message else {
        panic!("not a change")
    };
    let resource = change.resource_data.expect("the decrypted user");
    assert_eq!(resource["id"], user.id.as_str());
    assert_eq!(resource["displayName"], "Rich Rosa");
}
