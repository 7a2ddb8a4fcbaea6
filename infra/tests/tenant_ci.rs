//! The CI scenario end to end against the simulated tenant: the example workflow's steps
//! (`scripts/tenant-ci plan` on a pull request, `scripts/tenant-ci apply` on main) with the example
//! tenant file, signed in by a GitHub Actions OIDC token exchanged through a federated credential,
//! with no secret anywhere.

use std::path::{Path, PathBuf};
use std::process::Output;

use entra_sandbox::{Sandbox, SandboxConfig};

const REPO: &str = "repo:contoso/tenant";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("infra/ sits in the workspace")
        .to_path_buf()
}

struct Ci {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    connection: PathBuf,
    summary: PathBuf,
}

impl Ci {
    async fn start() -> Self {
        let sandbox = Sandbox::start(SandboxConfig {
            seed_demo_data: false,
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let connection = dir.path().join("entra-hooks.toml");
        // The shape of infra/examples/github-actions/entra-hooks.toml: no secret.
        std::fs::write(
            &connection,
            format!(
                "[tenant]\nid = \"{}\"\nname = \"{}\"\n\n[graph]\nclient_id = \"{}\"\nauthority_host = \"{}\"\nbase_url = \"{}\"\n",
                sandbox.tenant_id(),
                sandbox.config().tenant_name,
                sandbox.config().graph_client_id,
                sandbox.url(),
                sandbox.graph_url(),
            ),
        )
        .unwrap();
        let summary = dir.path().join("step-summary.md");
        Ci {
            sandbox,
            dir,
            connection,
            summary,
        }
    }

    /// Trusts tokens of jobs with `subject` for the management app, as bootstrap's federated
    /// credential does.
    fn trust(&self, subject: &str) {
        self.sandbox.register_federated_credential(
            &self.sandbox.config().graph_client_id,
            &self.sandbox.ci_oidc_issuer(),
            subject,
        );
    }

    /// Runs `scripts/tenant-ci {mode}` as a GitHub job whose token carries `subject`.
    async fn job(&self, mode: &str, subject: &str) -> Output {
        let (request_url, request_token) = self.sandbox.ci_job(subject);
        let mut command = std::process::Command::new("bash");
        command
            .arg(repo_root().join("scripts/tenant-ci"))
            .arg(mode)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "TENANT_FILE",
                repo_root().join("infra/examples/tenant.toml"),
            )
            .env("TENANT_CONNECTION", &self.connection)
            .env("TENANT_CI_BIN", env!("CARGO_BIN_EXE_entra-hooks"))
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str())
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token)
            .env(
                "GOOGLE_CLIENT_SECRET",
                "google-secret-from-the-repository-secrets",
            );
        let _ = &self.dir;
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_plans_into_the_summary_and_main_applies_with_no_secret() {
    let ci = Ci::start().await;
    let pull_request = format!("{REPO}:pull_request");
    let main = format!("{REPO}:ref:refs/heads/main");
    ci.trust(&pull_request);
    ci.trust(&main);

    let plan = ci.job("plan", &pull_request).await;
    assert!(plan.status.success(), "{}", text(&plan));
    let summary = std::fs::read_to_string(&ci.summary).unwrap();
    assert!(summary.starts_with("## Tenant plan for "), "{summary}");
    assert!(
        summary.contains("Plan: 10 to create, 0 to update, 0 to delete"),
        "{summary}"
    );
    assert!(
        summary.contains("| + create | listener | token_issuance_start → Contoso loyalty claims |"),
        "{summary}"
    );
    assert!(ci.sandbox.custom_authentication_extensions().is_empty());

    let apply = ci.job("apply", &main).await;
    assert!(apply.status.success(), "{}", text(&apply));
    assert_eq!(ci.sandbox.custom_authentication_extensions().len(), 2);
    assert_eq!(ci.sandbox.authentication_event_listeners().len(), 2);

    std::fs::remove_file(&ci.summary).unwrap();
    let again = ci.job("plan", &pull_request).await;
    assert!(again.status.success(), "{}", text(&again));
    let summary = std::fs::read_to_string(&ci.summary).unwrap();
    assert!(summary.contains("No changes"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_a_matching_federated_credential_fails_the_plan() {
    let ci = Ci::start().await;
    ci.trust(&format!("{REPO}:ref:refs/heads/main"));
    // A fork's pull request: its subject is not trusted.
    let plan = ci.job("plan", "repo:someone/fork:pull_request").await;
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(text(&plan).contains("error:"), "{}", text(&plan));
}

#[test]
fn the_example_workflow_runs_these_steps_with_an_oidc_token_and_no_secret() {
    let workflow =
        std::fs::read_to_string(repo_root().join("infra/examples/github-actions/tenant.yml"))
            .unwrap();
    assert!(workflow.contains("id-token: write"), "{workflow}");
    assert!(
        workflow.contains("run: scripts/tenant-ci plan"),
        "{workflow}"
    );
    assert!(
        workflow.contains("run: scripts/tenant-ci apply"),
        "{workflow}"
    );
    // The only stored secret is Google's OAuth client secret for the Google provider; nothing
    // signs in to Entra with a secret.
    let secrets: Vec<&str> = workflow
        .match_indices("secrets.")
        .map(|(at, _)| &workflow[at..at + 28])
        .collect();
    assert_eq!(secrets, ["secrets.GOOGLE_CLIENT_SECRET"], "{workflow}");
    let connection =
        std::fs::read_to_string(repo_root().join("infra/examples/github-actions/entra-hooks.toml"))
            .unwrap();
    assert!(!connection.contains("\nsecret"), "{connection}");
}
