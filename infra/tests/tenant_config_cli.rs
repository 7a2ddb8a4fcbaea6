//! `entra-hooks plan|apply|export` through the real binary against the simulated tenant's Graph:
//! a file applies, a second apply does nothing, export → plan shows nothing, an edit shows exactly
//! the edit, a fault mid-apply leaves a run that a second apply completes, and deletes need
//! `--delete`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::http::Method;
use entra_sandbox::faults::RetryAfter;
use entra_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};

struct Fixture {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
}

async fn fixture() -> Fixture {
    let sandbox = Sandbox::start(SandboxConfig {
        seed_demo_data: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
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

[extension]
app_id = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"
"#,
            tenant = sandbox.tenant_id(),
            name = sandbox.config().tenant_name,
            client = sandbox.config().graph_client_id,
            authority = sandbox.url(),
            graph = sandbox.graph_url(),
        ),
    )
    .unwrap();
    Fixture {
        sandbox,
        dir,
        config,
    }
}

impl Fixture {
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[]).await
    }

    async fn run_with(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let mut all: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        all.push("--config".to_owned());
        all.push(self.config.display().to_string());
        let secret = self.sandbox.config().graph_client_secret.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
                .args(all)
                .env("SANDBOX_GRAPH_SECRET", secret)
                .envs(env)
                .env_remove("RUST_LOG")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    async fn plan(&self, file: &Path) -> (i32, String) {
        let output = self.run(&["plan", "-f", &file.display().to_string()]).await;
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    }

    async fn apply(&self, file: &Path, extra: &[&str]) -> (i32, String) {
        let path = file.display().to_string();
        let mut args = vec!["apply", "-f", path.as_str()];
        args.extend_from_slice(extra);
        let output = self.run(&args).await;
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    }
}

fn tenant_file(sandbox: &Sandbox, target: &str, welcome: &str) -> String {
    format!(
        r##"[tenant]
id = "{tenant}"

[[custom_extension]]
name = "Claims from our API"
event = "token_issuance_start"
target_url = "{target}"
resource_id = "api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"
timeout_ms = 2000
max_retries = 1
claims = ["loyaltyTier", "correlationId"]

[[custom_extension]]
name = "Sign-up checks"
event = "attribute_collection_submit"
target_url = "https://hooks.example.com/extensions/attribute-collection-submit"
resource_id = "api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"

[[listener]]
event = "token_issuance_start"
extension = "Claims from our API"
applications = ["a1b2c3d4-0000-4000-8000-000000000001"]

[branding]
background_color = "#0F6CBD"
sign_in_page_text = "{welcome}"

[[branding.localization]]
locale = "fr-FR"
sign_in_page_text = "Bienvenue chez Contoso"
"##,
        tenant = sandbox.tenant_id(),
    )
}

const TARGET: &str = "https://hooks.example.com/extensions/token-issuance-start";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_then_plan_shows_nothing_and_an_edit_shows_exactly_the_edit() {
    let fx = fixture().await;
    let file = fx.write("tenant.toml", &tenant_file(&fx.sandbox, TARGET, "Welcome"));

    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Plan: 5 to create, 0 to update, 0 to delete"),
        "{out}"
    );
    assert!(
        out.contains("| + create | custom_extension | Claims from our API |"),
        "{out}"
    );

    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[5/5]"), "{out}");
    // The listener was created against the extension created a moment before.
    let extensions = fx.sandbox.custom_authentication_extensions();
    assert_eq!(extensions.len(), 2, "{extensions:?}");
    let listeners = fx.sandbox.authentication_event_listeners();
    assert_eq!(listeners.len(), 1, "{listeners:?}");

    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("No changes"), "{out}");
    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");

    let edited = fx.write(
        "edited.toml",
        &tenant_file(&fx.sandbox, "https://hooks2.example.com/tis", "Hello"),
    );
    let (code, out) = fx.plan(&edited).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Plan: 0 to create, 2 to update, 0 to delete"),
        "{out}"
    );
    assert!(
        out.contains("target_url: https://hooks.example.com/extensions/token-issuance-start → https://hooks2.example.com/tis"),
        "{out}"
    );
    assert!(out.contains("sign_in_page_text: Welcome → Hello"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_plan_shows_no_changes() {
    let fx = fixture().await;
    let file = fx.write("tenant.toml", &tenant_file(&fx.sandbox, TARGET, "Welcome"));
    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");

    let output = fx.run(&["export"]).await;
    assert!(output.status.success(), "{output:?}");
    let exported = String::from_utf8(output.stdout).unwrap();
    assert!(
        exported.contains("name = \"Claims from our API\""),
        "{exported}"
    );
    assert!(exported.contains("locale = \"fr-FR\""), "{exported}");
    let exported_file = fx.write("exported.toml", &exported);
    let (code, out) = fx.plan(&exported_file).await;
    assert_eq!(code, 0, "{out}\n{exported}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_mid_apply_is_reported_and_a_second_apply_completes() {
    let fx = fixture().await;
    let file = fx.write("tenant.toml", &tenant_file(&fx.sandbox, TARGET, "Welcome"));
    // Listener creation answers 503 on every attempt the client makes (4), on this run only.
    fx.sandbox.faults().add(
        FaultRule::new(
            "/v1.0/identity/authenticationEventListeners",
            Fault::ServiceUnavailable {
                retry_after: Some(RetryAfter::Seconds(0)),
            },
            Some(4),
        )
        .for_method(Method::POST),
    );
    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("done      create custom_extension Claims from our API"),
        "{out}"
    );
    assert!(out.contains("FAILED    create listener"), "{out}");
    assert!(out.contains("not done"), "{out}");

    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("create listener"), "{out}");
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_happen_only_with_the_flag_and_only_for_managed_kinds() {
    let fx = fixture().await;
    let file = fx.write("tenant.toml", &tenant_file(&fx.sandbox, TARGET, "Welcome"));
    assert_eq!(fx.apply(&file, &[]).await.0, 0);

    // The same file without the second extension and without the localization.
    let smaller = tenant_file(&fx.sandbox, TARGET, "Welcome")
        .replace(
            "[[custom_extension]]\nname = \"Sign-up checks\"\nevent = \"attribute_collection_submit\"\ntarget_url = \"https://hooks.example.com/extensions/attribute-collection-submit\"\nresource_id = \"api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13\"\n",
            "",
        )
        .replace(
            "[[branding.localization]]\nlocale = \"fr-FR\"\nsign_in_page_text = \"Bienvenue chez Contoso\"\n",
            "",
        );
    let smaller = fx.write("smaller.toml", &smaller);
    let (code, out) = fx.plan(&smaller).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Not in the file"), "{out}");
    assert!(out.contains("custom_extension Sign-up checks"), "{out}");
    // No localization section: localizations are not managed, so fr-FR is not even listed.
    assert!(!out.contains("fr-FR"), "{out}");

    let (code, out) = fx.apply(&smaller, &["--delete"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("delete custom_extension Sign-up checks"),
        "{out}"
    );
    assert_eq!(fx.sandbox.custom_authentication_extensions().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_errors_name_the_line_and_column_and_the_wrong_tenant_is_refused() {
    let fx = fixture().await;
    let broken = fx.write(
        "broken.toml",
        "[[listener]]\nevent = \"token_issuance_start\"\nextension = \"nowhere\"\n",
    );
    let (code, out) = fx.plan(&broken).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken.toml:3:13"), "{out}");
    assert!(out.contains("not a custom_extension of this file"), "{out}");

    let other = fx.write(
        "other.toml",
        "[tenant]\nid = \"00000000-0000-4000-8000-000000000000\"\n",
    );
    let (code, out) = fx.plan(&other).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Graph answers for tenant"), "{out}");
}

/// The appId printed on the "management application" line.
fn printed_app_id(out: &str) -> String {
    let line = out
        .lines()
        .find(|line| line.starts_with("management application"))
        .unwrap_or_else(|| panic!("{out}"));
    let start = line.find("appId ").unwrap() + "appId ".len();
    line[start..start + 36].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_creates_the_registrations_once_and_never_prints_the_secret() {
    let fx = fixture().await;
    let secret_file = fx.dir.path().join("graph-secret");
    let secret_arg = secret_file.display().to_string();
    let args = [
        "bootstrap",
        "--github-repo",
        "contoso/tenant",
        "--extension-host",
        "hooks.contoso.example",
        "--secret-out",
        secret_arg.as_str(),
    ];
    let output = fx.run(&args).await;
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("management application \"entra-hooks management\": created"),
        "{out}"
    );
    assert!(
        out.contains("Microsoft Graph EventListener.ReadWrite.All: granted"),
        "{out}"
    );
    assert!(
        out.contains(
            "federated credential github-pull-requests (repo:contoso/tenant:pull_request): created"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "federated credential github-main (repo:contoso/tenant:ref:refs/heads/main): created"
        ),
        "{out}"
    );
    assert!(
        out.contains("resource_id = \"api://hooks.contoso.example/"),
        "{out}"
    );

    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert!(secret.len() >= 16, "a real secret was written");
    assert!(!out.contains(&secret), "the secret is never printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let app_id = printed_app_id(&out);
    assert!(fx.sandbox.application_by_app_id(&app_id).is_some());

    // Again, without a secret: everything is already there, nothing is duplicated.
    let assignments = fx.sandbox.app_role_assignments().len();
    let output = fx
        .run(&["bootstrap", "--github-repo", "contoso/tenant"])
        .await;
    let again = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{again}");
    assert!(again.contains(": already there (appId"), "{again}");
    assert!(
        again.contains("EventListener.ReadWrite.All: already granted"),
        "{again}"
    );
    assert!(
        again.contains("github-main (repo:contoso/tenant:ref:refs/heads/main): already there"),
        "{again}"
    );
    assert_eq!(printed_app_id(&again), app_id);
    assert_eq!(fx.sandbox.app_role_assignments().len(), assignments);

    // An existing secret file is refused before anything is asked of Graph.
    let output = fx.run(&args).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exists; name a new file"));
}

fn flow_file(label: &str, extra_input: &str) -> String {
    format!(
        r#"[[custom_attribute]]
name = "LoyaltyNumber"
data_type = "string"
description = "Loyalty programme number"

[[identity_provider]]
type = "google"
client_id = "google-client-id"
client_secret = "env:SANDBOX_GRAPH_SECRET"

[[user_flow]]
name = "Sign up and sign in"
identity_providers = ["EmailPassword-OAUTH", "Google-OAUTH"]
applications = ["a1b2c3d4-0000-4000-8000-000000000001"]

[[user_flow.input]]
attribute = "email"
label = "Email address"
required = true

[[user_flow.input]]
attribute = "LoyaltyNumber"
label = "{label}"
validation_regex = "^[0-9]{{8}}$"
{extra_input}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_flow_with_a_custom_attribute_and_google_applies_and_edits_show_exactly_the_edit() {
    let fx = fixture().await;
    let file = fx.write("flow.toml", &flow_file("Loyalty number", ""));
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Plan: 3 to create"), "{out}");

    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");
    let flows = fx.sandbox.user_flows();
    assert_eq!(flows.len(), 1, "{flows:?}");
    // The page names the custom attribute by its id, extension_<app>_LoyaltyNumber.
    let page = flows[0].to_string();
    assert!(page.contains("_LoyaltyNumber"), "{page}");
    // Google's secret was read from its reference (env:SANDBOX_GRAPH_SECRET) and sent once.
    assert_eq!(
        fx.sandbox.identity_provider_secret("Google-OAUTH"),
        Some(fx.sandbox.config().graph_client_secret.clone())
    );
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 0, "{out}");

    // A new label and a third input: one update of the flow's inputs, nothing else.
    let edited = fx.write(
        "flow-edited.toml",
        &flow_file(
            "Loyalty card number",
            "\n[[user_flow.input]]\nattribute = \"city\"\nlabel = \"City\"\n",
        ),
    );
    let (code, out) = fx.plan(&edited).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Plan: 0 to create, 1 to update, 0 to delete"),
        "{out}"
    );
    assert!(
        out.contains("| ~ update | user_flow | Sign up and sign in | inputs:"),
        "{out}"
    );
    let (code, out) = fx.apply(&edited, &[]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = fx.plan(&edited).await;
    assert_eq!(code, 0, "{out}");

    // export -> plan: nothing (the secret reference is not exported; Graph never returns it).
    let output = fx.run(&["export"]).await;
    let exported = String::from_utf8(output.stdout).unwrap();
    assert!(
        exported.contains("attribute = \"LoyaltyNumber\""),
        "{exported}"
    );
    assert!(!exported.contains("client_secret"), "{exported}");
    let exported_file = fx.write("exported-flow.toml", &exported);
    let (code, out) = fx.plan(&exported_file).await;
    assert_eq!(code, 0, "{out}\n{exported}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_attribute_s_type_cannot_change_and_the_apply_says_why() {
    let fx = fixture().await;
    let file = fx.write("flow.toml", &flow_file("Loyalty number", ""));
    assert_eq!(fx.apply(&file, &[]).await.0, 0);
    let retyped = fx.write(
        "retyped.toml",
        &flow_file("Loyalty number", "").replace("data_type = \"string\"", "data_type = \"int64\""),
    );
    let (code, out) = fx.apply(&retyped, &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("data_type cannot change once created"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_can_run_with_a_person_s_token_handed_over() {
    let fx = fixture().await;
    let token = fx.sandbox.issue_access_token();
    let output = fx
        .run_with(
            &["bootstrap", "--access-token-env", "ADMIN_GRAPH_TOKEN"],
            &[("ADMIN_GRAPH_TOKEN", token.clone())],
        )
        .await;
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains(": created (appId"), "{out}");
    assert!(!out.contains(&token), "the token is never printed");

    let output = fx
        .run_with(
            &["bootstrap", "--access-token-env", "ADMIN_GRAPH_TOKEN"],
            &[("ADMIN_GRAPH_TOKEN", String::new())],
        )
        .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the variable is not set or empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branding_images_and_css_are_uploaded_and_compared_by_content() {
    let fx = fixture().await;
    std::fs::create_dir_all(fx.dir.path().join("branding")).unwrap();
    let logo = [0x89, b'P', b'N', b'G', 13, 10, 26, 10, 1, 2, 3];
    std::fs::write(fx.dir.path().join("branding/banner.png"), logo).unwrap();
    std::fs::write(
        fx.dir.path().join("branding/contoso.css"),
        "body { color: #0F6CBD; }",
    )
    .unwrap();
    let text = "[branding]\nsign_in_page_text = \"Welcome\"\n\n[branding.images]\nbanner_logo = \"branding/banner.png\"\ncustom_css = \"branding/contoso.css\"\n\n[[branding.localization]]\nlocale = \"fr-FR\"\nsign_in_page_text = \"Bienvenue\"\n";
    let file = fx.write("tenant.toml", text);

    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");
    let banner = fx
        .sandbox
        .branding_stream("0", "bannerLogo")
        .expect("uploaded");
    assert_eq!(banner.content_type, "image/png");
    assert_eq!(banner.bytes.as_ref(), logo);
    let css = fx
        .sandbox
        .branding_stream("0", "customCSS")
        .expect("uploaded");
    assert_eq!(css.content_type, "text/css");
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 0, "{out}");

    // A changed style sheet: exactly that field, and apply uploads it.
    std::fs::write(
        fx.dir.path().join("branding/contoso.css"),
        "body { color: red; }",
    )
    .unwrap();
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Plan: 0 to create, 1 to update, 0 to delete"),
        "{out}"
    );
    assert!(out.contains("custom_css: sha256:"), "{out}");
    assert!(!out.contains("banner_logo"), "{out}");
    assert_eq!(fx.apply(&file, &[]).await.0, 0);
    let css = fx.sandbox.branding_stream("0", "customCSS").unwrap();
    assert_eq!(css.bytes.as_ref(), b"body { color: red; }");

    // A missing file is an error naming it, before anything is sent.
    std::fs::remove_file(fx.dir.path().join("branding/banner.png")).unwrap();
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("banner.png"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_uploaded_by_bootstrap_and_signs_the_connection_in() {
    let fx = fixture().await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["entra-hooks-management".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = fx.dir.path().join("management.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let cert_arg = cert_path.display().to_string();

    let output = fx
        .run(&["bootstrap", "--certificate", cert_arg.as_str()])
        .await;
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("management.pem: uploaded"), "{out}");
    let app_id = printed_app_id(&out);
    let keys = fx.sandbox.application_by_app_id(&app_id).unwrap()["keyCredentials"].clone();
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    let again = fx
        .run(&["bootstrap", "--certificate", cert_arg.as_str()])
        .await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("management.pem: already there"));

    // The connection signs in with the certificate (the sandbox trusts it for the configured
    // client, as Entra does once it is uploaded there).
    fx.sandbox
        .register_client_certificate(&fx.sandbox.config().graph_client_id, &cert.pem())
        .unwrap();
    let key_path = fx.dir.path().join("management.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let config = std::fs::read_to_string(&fx.config).unwrap().replace(
        "secret = \"env:SANDBOX_GRAPH_SECRET\"",
        &format!(
            "certificate = \"{}\"\nprivate_key = \"file:{}\"",
            cert_path.display(),
            key_path.display()
        ),
    );
    std::fs::write(&fx.config, config).unwrap();
    let file = fx.write("tenant.toml", &tenant_file(&fx.sandbox, TARGET, "Welcome"));
    let (code, out) = fx.apply(&file, &[]).await;
    assert_eq!(code, 0, "{out}");

    // Half a certificate credential is a configuration error naming the key.
    let half = std::fs::read_to_string(&fx.config)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("private_key"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&fx.config, half).unwrap();
    let (code, out) = fx.plan(&file).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("graph.certificate"), "{out}");
}
