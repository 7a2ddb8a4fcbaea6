//! `entra-hooks subscriptions sync|list` through the real binary, against the simulated tenant's
//! subscriptions API, with our receiver on loopback answering Graph's validation handshake.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use entra_notifications::decrypt::DecryptionKeys;
use entra_platform::SecretValue;
use entra_platform::queue::MemoryQueue;
use entra_sandbox::{Sandbox, SandboxConfig};

const CLIENT_STATE: &str = "w1Zr2LkQ0vWm5XbT7nJc1YhE4sAf6uGd9oKiRx3NqMq";

async fn run(args: Vec<String>, secret: String) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
            .args(args)
            .env("SANDBOX_GRAPH_SECRET", secret)
            .env("USERS_CLIENT_STATE", CLIENT_STATE)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_creates_then_keeps_and_list_shows_the_subscription() {
    let sandbox = Sandbox::start(SandboxConfig {
        seed_demo_data: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let receiver = notification_receiver::NotificationReceiver::new(
        sandbox.tenant_id(),
        HashMap::from([("users".to_owned(), SecretValue::new(CLIENT_STATE))]),
        None,
        DecryptionKeys::new(),
        Arc::new(MemoryQueue::new()),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app =
        notification_receiver::router(Arc::new(receiver), notification_receiver::MAX_BODY_BYTES);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("entra-hooks.toml");
    std::fs::write(
        &config,
        format!(
            r#"[tenant]
id = "{tenant}"
name = "{name}"

[graph]
client_id = "{client}"
secret = "env:SANDBOX_GRAPH_SECRET"
authority_host = "{authority}"
base_url = "{graph}"

[notifications]
public_url = "{base}"

[[notifications.subscriptions]]
name = "users"
resource = "users"
client_state = "env:USERS_CLIENT_STATE"
"#,
            tenant = sandbox.tenant_id(),
            name = sandbox.config().tenant_name,
            client = sandbox.config().graph_client_id,
            authority = sandbox.url(),
            graph = sandbox.graph_url(),
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let secret = sandbox.config().graph_client_secret.clone();
    let args = |action: &str| {
        vec![
            "subscriptions".to_owned(),
            action.to_owned(),
            "--config".to_owned(),
            config.clone(),
        ]
    };

    let output = run(args("sync"), secret.clone()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("created   users ("), "{stdout}");
    let held = sandbox.subscriptions().list();
    assert_eq!(held.len(), 1);

    let output = run(args("list"), secret.clone()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&held[0].id), "{stdout}");
    assert!(stdout.contains("users  updated,deleted"), "{stdout}");

    let output = run(args("sync"), secret).await;
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("kept      users ("));
    assert_eq!(sandbox.subscriptions().list().len(), 1);
}
