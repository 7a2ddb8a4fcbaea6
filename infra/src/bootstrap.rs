//! `entra-hooks bootstrap`: the app registrations everything else needs, created or completed
//! idempotently (docs/protocols/tenant-lifecycle.md, bootstrap; docs/tenant-config.md):
//!
//! 1. the **management application** `plan`/`apply`/`export` sign in as, its service principal, and
//!    Microsoft Graph application permissions granted to it (app role assignments on Graph's
//!    service principal, which is admin consent);
//! 2. with `--github-repo`, **federated credentials** for that repository's pull requests and main
//!    branch (and an environment), so CI signs in with its OIDC token and stores no secret;
//! 3. with `--secret-out`, a **client secret**, written to a new file readable only by its owner
//!    (never printed), to be stored in the secret source the functions read; with `--certificate`,
//!    a certificate's public part uploaded instead (its private key stays with the administrator);
//! 4. with `--extension-host`, the **extension API's registration**: identifier URI
//!    `api://{host}/{appId}` (the `resource_id` of every custom extension) and the
//!    `CustomAuthenticationExtension.Receive.Payload` role consented.
//!
//! The caller must be allowed to create applications and grant app roles: the connection's app
//! (`Application.ReadWrite.All` and `AppRoleAssignment.ReadWrite.All`), or an administrator's own
//! Graph token handed over with `--access-token-env`. Bootstrap is run once by an administrator,
//! not by the pipeline.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use entra_graph::{
    AppRoleGrant, Application, FederatedIdentityCredential, GraphClient, GraphError,
    github_branch_subject, github_environment_subject, github_pull_request_subject,
};

/// The Graph application permissions the management application gets: what `plan`, `apply` and
/// `export` read and write.
pub const MANAGEMENT_PERMISSIONS: &[&str] = &[
    "EventListener.ReadWrite.All",
    "IdentityUserFlow.ReadWrite.All",
    "CustomAuthenticationExtension.ReadWrite.All",
    "OrganizationalBranding.ReadWrite.All",
    "Organization.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
];

/// What to set up.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// Display name of the management application (found, else created).
    pub management_app: String,
    /// `ORG/REPO`: add GitHub Actions federated credentials.
    pub github_repo: Option<String>,
    /// Also trust jobs of this GitHub environment.
    pub github_environment: Option<String>,
    /// Add a client secret and write it to this new file.
    pub secret_out: Option<PathBuf>,
    /// Upload this certificate (PEM, public part only) as a credential of the management app.
    pub certificate: Option<PathBuf>,
    /// Register the extension API for this host (`hooks.contoso.example`).
    pub extension_host: Option<String>,
    /// Display name of the extension API's application.
    pub extension_app: String,
}

/// Why bootstrap stopped.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{0}")]
    Input(String),
    #[error("cannot write the client secret to {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the steps and returns the report to print (what was created, what already existed, what to
/// store where).
pub async fn bootstrap(
    graph: &GraphClient,
    options: &BootstrapOptions,
) -> Result<String, BootstrapError> {
    if let Some(repo) = &options.github_repo
        && (repo.split('/').count() != 2 || repo.contains(char::is_whitespace))
    {
        return Err(BootstrapError::Input(format!(
            "--github-repo {repo:?} must be ORG/REPO"
        )));
    }
    if let Some(path) = &options.secret_out
        && path.exists()
    {
        return Err(BootstrapError::Input(format!(
            "--secret-out {} exists; name a new file (a secret is never written over another)",
            path.display()
        )));
    }
    let mut out = String::new();
    let applications = graph.applications();

    // 1. The management application and its permissions.
    let existing = applications
        .find_by_display_name(&options.management_app)
        .await?
        .into_iter()
        .next();
    let (app, created) = match existing {
        Some(app) => (app, false),
        None => (
            applications
                .create(&Application::new(options.management_app.clone()))
                .await?,
            true,
        ),
    };
    let (Some(object_id), Some(app_id)) = (app.id.clone(), app.app_id.clone()) else {
        return Err(GraphError::InvalidResponse(
            "the management application came back without id or appId".into(),
        )
        .into());
    };
    let _ = writeln!(
        out,
        "management application {:?}: {} (appId {app_id}, object {object_id})",
        options.management_app,
        if created { "created" } else { "already there" },
    );
    let principal = graph.service_principals().ensure(&app_id).await?;
    let grants = graph
        .service_principals()
        .grant_graph_permissions(&principal.id, MANAGEMENT_PERMISSIONS)
        .await?;
    for (permission, grant) in grants {
        let state = match grant {
            AppRoleGrant::Created(_) => "granted",
            AppRoleGrant::AlreadyGranted(_) => "already granted",
        };
        let _ = writeln!(out, "  Microsoft Graph {permission}: {state}");
    }

    // 2. Federated credentials for CI.
    if let Some(repo) = &options.github_repo {
        let mut wanted = vec![
            (
                "github-pull-requests".to_owned(),
                github_pull_request_subject(repo),
            ),
            (
                "github-main".to_owned(),
                github_branch_subject(repo, "main"),
            ),
        ];
        if let Some(environment) = &options.github_environment {
            wanted.push((
                format!("github-env-{environment}"),
                github_environment_subject(repo, environment),
            ));
        }
        for (name, subject) in wanted {
            let state = match applications
                .find_federated_credential(&object_id, &name)
                .await?
            {
                Some(existing) if existing.subject == subject => "already there",
                Some(_) => {
                    applications
                        .delete_federated_credential(&object_id, &name)
                        .await?;
                    applications
                        .create_federated_credential(
                            &object_id,
                            &FederatedIdentityCredential::github_actions(&name, &subject),
                        )
                        .await?;
                    "replaced (its subject differed)"
                }
                None => {
                    applications
                        .create_federated_credential(
                            &object_id,
                            &FederatedIdentityCredential::github_actions(&name, &subject),
                        )
                        .await?;
                    "created"
                }
            };
            let _ = writeln!(out, "  federated credential {name} ({subject}): {state}");
        }
    }

    // 3. A client secret, into a file only its owner can read.
    if let Some(path) = &options.secret_out {
        let added = applications
            .add_password(&object_id, "entra-hooks bootstrap", None)
            .await?;
        write_secret(path, added.secret_text.expose_secret())?;
        let _ = writeln!(
            out,
            "  client secret (keyId {}) written to {}: store it where [graph] secret points \
             (e.g. aws secretsmanager create-secret --name entra-hooks/graph --secret-string \
             file://{}), then delete the file",
            added.key_id,
            path.display(),
            path.display(),
        );
    }

    // 3b. A certificate: only its public part is uploaded; the private key never leaves the
    // administrator's machine (it goes where [graph] private_key points).
    if let Some(path) = &options.certificate {
        let pem = std::fs::read_to_string(path).map_err(|source| BootstrapError::SecretFile {
            path: path.clone(),
            source,
        })?;
        let key =
            entra_graph::KeyCredential::verify_certificate_pem(&pem, "entra-hooks bootstrap")?;
        let current = applications
            .get(&object_id, &["keyCredentials"])
            .await?
            .key_credentials
            .unwrap_or_default();
        let state = if current.iter().any(|existing| existing.key == key.key) {
            "already there"
        } else {
            let mut keys = current;
            keys.push(key);
            applications.set_key_credentials(&object_id, keys).await?;
            "uploaded"
        };
        let _ = writeln!(
            out,
            "  certificate {}: {state} (keep its private key where [graph] private_key points)",
            path.display()
        );
    }

    // 4. The extension API.
    if let Some(host) = &options.extension_host {
        let registration = applications
            .register_extension_api(&options.extension_app, host)
            .await?;
        let consent = match registration.consent {
            AppRoleGrant::Created(_) => "consented",
            AppRoleGrant::AlreadyGranted(_) => "already consented",
        };
        let _ = writeln!(
            out,
            "extension API {:?}: appId {} ({consent} CustomAuthenticationExtension.Receive.Payload)\n  \
             resource_id = \"{}\" in every [[custom_extension]]; [extension] app_id = \"{}\" for the functions",
            options.extension_app,
            registration.app_id,
            registration.identifier_uri,
            registration.app_id,
        );
    }

    let _ = writeln!(
        out,
        "\nNext: put client_id = \"{app_id}\" in the connection's [graph]; in GitHub set the \
         repository variable TENANT_CLIENT_ID to it."
    );
    Ok(out)
}

/// Writes `secret` to a new file (never over an existing one), readable only by its owner.
fn write_secret(path: &PathBuf, secret: &str) -> Result<(), BootstrapError> {
    let error = |source| BootstrapError::SecretFile {
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(error)?;
    file.write_all(secret.as_bytes()).map_err(error)?;
    Ok(())
}
