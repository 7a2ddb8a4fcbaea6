//! `entra-hooks tenant create|show|delete` through the real binary, against the sandbox's ARM
//! ciamDirectories surface and device-code sign-in.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use entra_sandbox::{Sandbox, SandboxState};
use serde_json::Value;

const SUBSCRIPTION: &str = "6a1f3c2e-0b4d-4e5f-8a9b-1c2d3e4f5a6b";
const GROUP: &str = "identity-rg";
const ADMIN: &str = "admin@contoso.example";

async fn quick_sandbox() -> Sandbox {
    let sandbox = Sandbox::start_default().await.unwrap();
    sandbox.arm().configure(|s| {
        s.provisioning_polls = 2;
        s.deletion_polls = 1;
        s.retry_after_secs = 0;
        s.device_code_interval_secs = 1;
    });
    sandbox
}

fn target(sandbox: &Sandbox, name: &str) -> Vec<String> {
    [
        "--subscription",
        SUBSCRIPTION,
        "--resource-group",
        GROUP,
        "--name",
        name,
        "--arm-url",
        sandbox.arm_url().as_str(),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn create_args(sandbox: &Sandbox, name: &str) -> Vec<String> {
    let mut args = vec!["tenant".to_owned(), "create".to_owned()];
    args.extend(target(sandbox, name));
    args.extend(
        [
            "--location",
            "Europe",
            "--country",
            "DE",
            "--display-name",
            "Contoso Kunden",
            "--access-token-env",
            "ARM_TOKEN",
        ]
        .map(str::to_owned),
    );
    args
}

fn action_args(sandbox: &Sandbox, action: &str, name: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["tenant".to_owned(), action.to_owned()];
    args.extend(target(sandbox, name));
    args.extend(["--access-token-env", "ARM_TOKEN"].map(str::to_owned));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

async fn run(args: Vec<String>, token: String) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
            .args(args)
            .env("ARM_TOKEN", token)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_prints_the_tenant_id_and_domain_then_show_and_delete() {
    let sandbox = quick_sandbox().await;
    let token = sandbox.arm().issue_user_token(ADMIN);

    let output = run(create_args(&sandbox, "contosode"), token.clone()).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stored = sandbox
        .arm()
        .directory(SUBSCRIPTION, GROUP, "contosode.onmicrosoft.com")
        .expect("the resource is named by the full domain");
    let tenant_id = stored["properties"]["tenantId"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("tenant id    {tenant_id}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("domain       contosode.onmicrosoft.com"),
        "{stdout}"
    );
    assert_eq!(stored["location"], "Europe");
    assert_eq!(
        stored["properties"]["createTenantProperties"]["displayName"],
        "Contoso Kunden"
    );
    // Progress while polling, on stderr.
    assert_eq!(stderr.matches("InProgress (poll").count(), 2, "{stderr}");
    assert!(stderr.contains("Succeeded (poll 3)"), "{stderr}");
    // The name was checked before the PUT.
    let log = sandbox.request_log();
    let check = log
        .iter()
        .position(|r| r.path().ends_with("/checkNameAvailability"))
        .unwrap();
    let put = log.iter().position(|r| r.method == "PUT").unwrap();
    assert!(check < put);
    for out in [&stdout, &stderr] {
        assert!(!out.contains(&token));
    }

    let output = run(
        action_args(&sandbox, "show", "contosode", &["--json"]),
        token.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["tenantId"], tenant_id);
    assert_eq!(shown["domainName"], "contosode.onmicrosoft.com");
    assert_eq!(shown["provisioningState"], "Succeeded");

    // Without --yes and without a confirmation on stdin nothing is deleted.
    let output = run(
        action_args(&sandbox, "delete", "contosode", &[]),
        token.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("not confirmed"));
    assert_eq!(sandbox.arm().directory_count(), 1);

    let output = run(
        action_args(&sandbox, "delete", "contosode", &["--yes"]),
        token.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("tenant contosode.onmicrosoft.com: deleted"));
    assert_eq!(sandbox.arm().directory_count(), 0);

    let output = run(action_args(&sandbox, "show", "contosode", &[]), token).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("no tenant resource contosode.onmicrosoft.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_name_exits_1_before_anything_is_created() {
    let sandbox = quick_sandbox().await;
    sandbox.arm().reserve_name("fabrikam");
    let output = run(
        create_args(&sandbox, "fabrikam"),
        sandbox.arm().issue_user_token(ADMIN),
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the name fabrikam.onmicrosoft.com is not available: AlreadyExists"),
        "{stderr}"
    );
    assert!(sandbox.request_log().iter().all(|r| r.method != "PUT"));
    assert_eq!(sandbox.arm().directory_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_provisioning_and_app_only_tokens_exit_1_with_arm_s_words() {
    let sandbox = quick_sandbox().await;
    sandbox.arm().fail_next_provisioning(
        "TenantQuotaExceeded",
        "The subscription has reached its tenant quota.",
    );
    let output = run(
        create_args(&sandbox, "quota"),
        sandbox.arm().issue_user_token(ADMIN),
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Failed"), "{stderr}");
    assert!(
        stderr.contains("TenantQuotaExceeded The subscription has reached its tenant quota."),
        "{stderr}"
    );

    let output = run(
        create_args(&sandbox, "apponly"),
        sandbox
            .arm()
            .issue_app_token("c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50"),
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("needs a signed-in person"), "{stderr}");
    assert!(stderr.contains("401 Unauthenticated"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let sandbox = quick_sandbox().await;
    let mut args = create_args(&sandbox, "contoso");
    let at = args.iter().position(|a| a == "--location").unwrap();
    args.drain(at..at + 2);
    let output = run(args, String::new()).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--location"));
    // A token variable that is not set is a failure, not a panic.
    let output = run(action_args(&sandbox, "show", "contoso", &[]), String::new()).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("ARM_TOKEN: the variable is not set or empty"));
}

/// Reads the child's stderr until the device-code instruction, approves that code in the sandbox,
/// and returns everything the child wrote there.
fn approve_from_stderr(
    stderr: impl std::io::Read + Send + 'static,
    state: Arc<SandboxState>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some((_, rest)) = line.split_once("enter the code ") {
                let code = rest.split_whitespace().next().unwrap_or_default();
                assert!(state.arm.approve_device_code(code, ADMIN), "{line}");
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_sign_in_creates_the_tenant_as_the_person() {
    let sandbox = quick_sandbox().await;
    let mut args = create_args(&sandbox, "devicetenant");
    let at = args.iter().position(|a| a == "--access-token-env").unwrap();
    args.drain(at..at + 2);
    args.extend(
        [
            "--device-code",
            "--authority-host",
            sandbox.url().as_str(),
            "--tenant",
            sandbox.tenant_id(),
            "--json",
        ]
        .map(str::to_owned),
    );
    let state = sandbox.state().clone();
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let reader = approve_from_stderr(child.stderr.take().unwrap(), state);
        let output = child.wait_with_output().unwrap();
        (output.status, text(&output.stdout), reader.join().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("signed in"), "{stderr}");
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap();
    let stored = sandbox
        .arm()
        .directory(SUBSCRIPTION, GROUP, "devicetenant.onmicrosoft.com")
        .unwrap();
    assert_eq!(printed["tenantId"], stored["properties"]["tenantId"]);
    assert_eq!(printed["domainName"], "devicetenant.onmicrosoft.com");
    assert_eq!(stored["systemData"]["createdBy"], ADMIN);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_cli_token_is_taken_from_az_account_get_access_token() {
    use std::os::unix::fs::PermissionsExt;

    let sandbox = quick_sandbox().await;
    let token = sandbox.arm().issue_user_token(ADMIN);
    let dir = tempfile::tempdir().unwrap();
    let az = dir.path().join("az");
    // A stand-in for the Azure CLI that checks its arguments and prints its JSON.
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\n[ \"$1 $2 $3 $4 $5 $6\" = \"account get-access-token --resource https://management.azure.com --subscription {SUBSCRIPTION}\" ] || {{ echo \"unexpected: $*\" >&2; exit 3; }}\necho '{{\"accessToken\": \"{token}\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"tokenType\": \"Bearer\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut args = vec!["tenant".to_owned(), "show".to_owned()];
    args.extend(target(&sandbox, "absent"));
    args.push("--azure-cli".to_owned());
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
            .args(args)
            .env("PATH", path)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = text(&output.stderr);
    // Authenticated (a 404, not a 401): the resource simply does not exist.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no tenant resource absent.onmicrosoft.com"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
}
