//! The local host: every function's router on one port, in front of an embedded simulated tenant,
//! so a laptop runs the whole service offline with the same handler code Lambda runs.
//!
//! The functions are configured as in production except for where the tenant and the AWS services
//! live: tokens are validated against the sandbox's discovery and JWKS over real HTTP, Graph is the
//! sandbox's Graph, one-time-code emails land as `.eml` files in a folder, idempotency markers stay
//! in memory, and the password-submit key pair is generated at start. Routes under `/local/` exist
//! only here: one mints an Entra-shaped extension token, the others serve sample callout bodies, so
//! the commands printed at start work without any Azure or AWS account.

pub mod playground;
pub mod reactions;
pub mod samples;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use entra_extensions::{CalloutGuard, RulesFile};
use entra_graph::GraphClient;
use entra_platform::SecretValue;
use entra_platform::mailer::FolderMailer;
use entra_platform::store::MemoryStore;
use entra_sandbox::password_context::{
    ContentEncryption, KeyManagement, PasswordContextKey, encrypt_password_context,
};
use entra_sandbox::{Sandbox, SandboxConfig};
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use serde_json::json;
use tokio::sync::oneshot;

pub use samples::DEMO_CLIENT_APP_ID;

/// Body limit of the local host, the platform default.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Audit records per stream the simulated tenant starts with.
pub const DEFAULT_AUDIT_RECORDS: u64 = 20_000;
/// How long before start the synthetic audit history stops.
const SYNTHETIC_HISTORY_GAP: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// How far back the synthetic audit records go.
const AUDIT_SPAN: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

/// What the local host needs to start.
#[derive(Debug, Clone)]
pub struct LocalHostOptions {
    /// Where the functions are served (loopback by default).
    pub bind: SocketAddr,
    /// Where the simulated tenant listens; port 0 picks a free one.
    pub sandbox_bind: SocketAddr,
    /// One rules file for every function; `None` uses each function's shipped example
    /// (`functions/<name>/rules.example.toml`), which fits the sandbox's demo data.
    pub rules: Option<PathBuf>,
    /// Where one-time-code emails are written.
    pub mail_dir: PathBuf,
    /// Synthetic audit records per stream (directory audits, sign-ins) in the simulated tenant,
    /// spread over the two days before start.
    pub audit_records: u64,
    /// Where the local host writes what a user needs to try the other tools against it (the
    /// `audit-export.toml` the banner's `entra-hooks audit-export` command uses).
    pub state_dir: PathBuf,
    /// Run the worker and the poller on the embedded queue (off: messages stay queued, e.g. to
    /// measure the receiver alone).
    pub reactions: bool,
    /// Where the playground's "save as test case" writes cases (`entra-hooks test <dir>`).
    pub cases_dir: PathBuf,
}

impl Default for LocalHostOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 7071)),
            sandbox_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rules: None,
            mail_dir: PathBuf::from(".local/mail"),
            audit_records: DEFAULT_AUDIT_RECORDS,
            state_dir: PathBuf::from(".local"),
            reactions: true,
            cases_dir: PathBuf::from("rules"),
        }
    }
}

/// One route the host serves, for the start-up banner.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
}

/// Every route served, in banner order.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/",
        what: "the rules playground: send callouts, see the token, answer and rule trace (local only)",
    },
    Route {
        method: "GET",
        path: "/health",
        what: "liveness",
    },
    Route {
        method: "POST",
        path: token_issuance_start::PATH,
        what: "OnTokenIssuanceStart: claims from rules, Graph and context",
    },
    Route {
        method: "POST",
        path: attribute_collection_start::PATH,
        what: "OnAttributeCollectionStart: prefill or block",
    },
    Route {
        method: "POST",
        path: attribute_collection_submit::PATH,
        what: "OnAttributeCollectionSubmit: validate, normalise, uniqueness",
    },
    Route {
        method: "POST",
        path: email_otp_send::PATH,
        what: "OnOtpSend: one-time code by email (written to the mail folder)",
    },
    Route {
        method: "POST",
        path: password_submit::PATH,
        what: "OnPasswordSubmit: just-in-time password migration",
    },
    Route {
        method: "GET",
        path: "/local/token",
        what: "mints an extension-callback token from the simulated tenant (local only)",
    },
    Route {
        method: "POST",
        path: notification_receiver::NOTIFICATION_PATH,
        what: "Graph change notifications (?subscription=users; handshake, clientState, queue)",
    },
    Route {
        method: "POST",
        path: notification_receiver::LIFECYCLE_PATH,
        what: "Graph lifecycle notifications",
    },
    Route {
        method: "GET",
        path: "/local/queue",
        what: "messages waiting and in flight on the embedded queue (local only)",
    },
    Route {
        method: "POST",
        path: "/local/users",
        what: "creates a user in the simulated tenant; the directory reactions follow (local only)",
    },
    Route {
        method: "GET",
        path: "/local/samples/{function}",
        what: "a sample callout body for that function, e.g. token-issuance-start (local only)",
    },
];

/// A running local host. Dropping it stops the functions and the sandbox.
pub struct LocalHost {
    sandbox: Arc<Sandbox>,
    addr: SocketAddr,
    mail_dir: PathBuf,
    rules_origin: String,
    /// The audit-export configuration written for this host's tenant.
    audit_config: PathBuf,
    /// The directory change pipeline (queue, worker, poller).
    reactions: reactions::LocalReactions,
    shutdown: Option<oneshot::Sender<()>>,
}

impl LocalHost {
    /// Starts the sandbox and serves every function router.
    pub async fn start(options: LocalHostOptions) -> anyhow::Result<Self> {
        let sandbox = Arc::new(
            Sandbox::start(SandboxConfig {
                bind: options.sandbox_bind,
                ..SandboxConfig::default()
            })
            .await
            .context("starting the simulated tenant")?,
        );
        let rules = RulesSource::new(options.rules.as_deref())?;
        let audit_config = seed_audit_logs(&sandbox, options.audit_records, &options.state_dir)?;
        let reactions = reactions::LocalReactions::start(
            sandbox_graph(&sandbox)?,
            sandbox.tenant_id(),
            &rules,
            options.reactions,
        )?;
        let rules_origin = rules.describe();
        let app = app_with_playground(&sandbox, rules, &options.mail_dir, &options.cases_dir)?
            .merge(reactions::receiver_router(
                &sandbox,
                reactions.queue.clone(),
            ))
            .merge(reactions::queue_router(reactions.queue.clone()))
            // Last, so it covers every route above: /local/* and the page are for this machine.
            .layer(axum::middleware::from_fn_with_state(
                options.bind.ip(),
                playground::refuse_unless_loopback,
            ));
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .with_context(|| {
                format!(
                    "could not listen on {}: is another local host running? Pick another port with --port",
                    options.bind
                )
            })?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "local host stopped");
            }
        });
        if options.reactions {
            // The webhook path too: a Graph subscription to this host's receiver, as the
            // subscription keeper creates it in AWS (the tenant validates the URL first).
            let receiver = format!("http://127.0.0.1:{}", addr.port());
            reactions::subscribe(sandbox_graph(&sandbox)?, &receiver)?;
        }
        Ok(Self {
            sandbox,
            addr,
            mail_dir: options.mail_dir,
            rules_origin,
            audit_config,
            reactions,
            shutdown: Some(tx),
        })
    }

    /// The directory change pipeline: its queue and the events its `publish` reactions sent.
    pub fn reactions(&self) -> &reactions::LocalReactions {
        &self.reactions
    }

    /// The `audit-export.toml` written for this host (destination: a folder next to it).
    pub fn audit_config(&self) -> &Path {
        &self.audit_config
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn mail_dir(&self) -> &Path {
        &self.mail_dir
    }

    /// The start-up banner: what is served and a command to try it.
    pub fn banner(&self) -> String {
        let base = self.base_url();
        let mut text = String::from("entra-hooks local host\n\n");
        text.push_str(&format!(
            "  simulated tenant  {} (tenant {}, discovery {})\n",
            self.sandbox.url(),
            self.sandbox.tenant_id(),
            self.sandbox.discovery_url()
        ));
        text.push_str(&format!("  rules             {}\n", self.rules_origin));
        text.push_str(&format!(
            "  mail folder       {}\n",
            self.mail_dir.display()
        ));
        text.push_str(&format!(
            "  playground        {base}/  (open it in a browser)\n"
        ));
        text.push_str(&format!("  functions         {base}\n"));
        for route in ROUTES {
            text.push_str(&format!(
                "    {:<5} {:<42} {}\n",
                route.method, route.path, route.what
            ));
        }
        text.push_str(&format!(
            "\nTry it (a token signed by the simulated tenant, a sample callout body):\n\n  \
             curl -s {base}/local/samples/token-issuance-start | curl -s -X POST {base}{path} \\\n    \
             -H \"Authorization: Bearer $(curl -s {base}/local/token)\" \\\n    \
             -H 'Content-Type: application/json' --data-binary @-\n\n\
             Replace token-issuance-start with any function above. Without the token the same call answers 401.\n",
            path = token_issuance_start::PATH
        ));
        text.push_str(&format!(
            "\nDirectory reactions (functions/notification-worker/rules.example.toml; the poller reads the tenant every {}s):\n\n  \
             curl -s -X POST {base}/local/users -H 'Content-Type: application/json' -d '{{\"displayName\":\"Noor\"}}'\n\n\
             joins the newsletter group, gets a job title, and an EntraUserChanged event is logged.\n\
             The same reactions from a Graph change notification (answered 202, then queued):\n\n  \
             curl -s {base}/local/samples/notification | curl -s -o /dev/null -w '%{{http_code}}\\n' \\\n    \
             -X POST '{base}/notifications/graph?subscription=users' -H 'Content-Type: application/json' --data-binary @-\n",
            reactions::LOCAL_POLL_INTERVAL.as_secs()
        ));
        text.push_str(&format!(
            "\nExport the tenant's directory audits and sign-ins (gzip JSON Lines, one file per 15-minute window):\n\n  \
             cargo run -p entra-infra --bin entra-hooks -- audit-export --config {}\n",
            self.audit_config.display()
        ));
        text.push_str(&format!(
            "\nTenant configuration as code (infra/examples/tenant.toml: a sign-up flow with email + password and\n\
             Google, two custom attributes, custom extensions and listeners, branding in two languages; the\n\
             file above's [tenant] and [graph] are the connection):\n\n  \
             cargo run -p entra-infra --bin entra-hooks -- plan -f infra/examples/tenant.toml --config {config}\n  \
             GOOGLE_CLIENT_SECRET=any cargo run -p entra-infra --bin entra-hooks -- apply -f infra/examples/tenant.toml --config {config}\n\n\
             plan shows the table of changes (exit 2), apply makes them, and plan then shows none.\n",
            config = self.audit_config.display()
        ));
        text
    }
}

/// Fills the simulated tenant's audit logs with `records` synthetic records per stream over the two
/// days before now, and writes an `audit-export.toml` for it (Graph at the sandbox, its client
/// secret in a file beside it, destination `audit-exports/` beside it). Answers the config's path.
fn seed_audit_logs(sandbox: &Sandbox, records: u64, state_dir: &Path) -> anyhow::Result<PathBuf> {
    if records > 0 {
        let spacing = AUDIT_SPAN / u32::try_from(records).unwrap_or(u32::MAX).max(1);
        // The synthetic history ends a while before start, so the directory poller (which reads
        // from start on) reacts only to what happens in the tenant while the host runs.
        let first = std::time::SystemTime::now() - AUDIT_SPAN - SYNTHETIC_HISTORY_GAP;
        for stream in entra_sandbox::AuditStream::ALL {
            sandbox
                .audit_logs()
                .generate(
                    stream,
                    records,
                    first,
                    spacing.max(std::time::Duration::from_micros(1)),
                )
                .context("generating audit records")?;
        }
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let state_dir = state_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", state_dir.display()))?;
    let secret = state_dir.join("graph-client-secret");
    std::fs::write(&secret, &sandbox.config().graph_client_secret)
        .with_context(|| format!("writing {}", secret.display()))?;
    let path = state_dir.join("audit-export.toml");
    let config = format!(
        "# Written by the local host for its simulated tenant; rewritten at every start.\n\
         [tenant]\nid = \"{tenant}\"\nname = \"{name}\"\n\n\
         [graph]\nclient_id = \"{client}\"\nsecret = \"file:{secret}\"\n\
         authority_host = \"{authority}\"\nbase_url = \"{graph}\"\n\n\
         [audit_export]\ndestination = \"file://{exports}\"\nstart_days_ago = 2\n",
        tenant = sandbox.tenant_id(),
        name = sandbox.config().tenant_name,
        client = sandbox.config().graph_client_id,
        secret = secret.display(),
        authority = sandbox.url(),
        graph = sandbox.graph_url(),
        exports = state_dir.join("audit-exports").display(),
    );
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Where each function's rules section comes from.
pub enum RulesSource {
    /// One file for all functions.
    File(RulesFile, PathBuf),
    /// Each function's shipped example, under the workspace's `functions/` folder; a function
    /// whose example was edited in the playground uses the edited text.
    Examples(PathBuf, std::collections::BTreeMap<String, RulesFile>),
}

impl RulesSource {
    /// `file`, or the shipped examples of this source tree.
    pub fn new(file: Option<&Path>) -> anyhow::Result<Self> {
        match file {
            Some(path) => Ok(Self::File(RulesFile::load(path)?, path.to_path_buf())),
            None => Ok(Self::Examples(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
                std::collections::BTreeMap::new(),
            )),
        }
    }

    /// The rules file holding `function`'s section, and the directory its relative paths start in.
    pub fn for_function(&self, function: &str) -> anyhow::Result<(RulesFile, PathBuf)> {
        match self {
            Self::File(file, path) => Ok((
                file.clone(),
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            )),
            Self::Examples(functions, edited) => {
                let dir = functions.join(function);
                if let Some(file) = edited.get(function) {
                    return Ok((file.clone(), dir));
                }
                let path = dir.join("rules.example.toml");
                Ok((RulesFile::load(&path)?, dir))
            }
        }
    }

    /// The file `function`'s rules are read from (and the playground saves to).
    pub fn path_for(&self, function: &str) -> PathBuf {
        match self {
            Self::File(_, path) => path.clone(),
            Self::Examples(functions, _) => functions.join(function).join("rules.example.toml"),
        }
    }

    /// This source with `function`'s file replaced by `text` (checked as a rules file, not yet
    /// as the function's section: building the functions does that).
    pub fn with_text(
        &self,
        function: &str,
        text: &str,
    ) -> Result<Self, entra_extensions::RulesError> {
        let path = self.path_for(function);
        let file = RulesFile::parse(text, path.display().to_string())?;
        Ok(match self {
            Self::File(..) => Self::File(file, path),
            Self::Examples(functions, edited) => {
                let mut edited = edited.clone();
                edited.insert(function.to_owned(), file);
                Self::Examples(functions.clone(), edited)
            }
        })
    }

    fn describe(&self) -> String {
        match self {
            Self::File(_, path) => path.display().to_string(),
            Self::Examples(..) => "functions/*/rules.example.toml (the shipped examples)".into(),
        }
    }
}

/// The local-only routes' state.
struct LocalRoutes {
    sandbox: Arc<Sandbox>,
    password_key: Arc<PasswordContextKey>,
    graph: GraphClient,
}

/// Every function router merged, plus health and the local-only helpers.
pub fn app(sandbox: &Arc<Sandbox>, rules: &RulesSource, mail_dir: &Path) -> anyhow::Result<Router> {
    let password_key = Arc::new(PasswordContextKey::generate()?);
    let functions = functions_router(sandbox, rules, mail_dir, &password_key)?;
    local_routes(sandbox, password_key, functions)
}

/// [`app`] with the playground: the functions are rebuilt when the page saves the rules, and every
/// extension route answers with the current build.
fn app_with_playground(
    sandbox: &Arc<Sandbox>,
    rules: RulesSource,
    mail_dir: &Path,
    cases_dir: &Path,
) -> anyhow::Result<Router> {
    let password_key = Arc::new(PasswordContextKey::generate()?);
    let functions = functions_router(sandbox, &rules, mail_dir, &password_key)?;
    let playground = Arc::new(playground::Playground::new(
        sandbox.clone(),
        rules,
        functions,
        mail_dir.to_path_buf(),
        password_key.clone(),
        cases_dir.to_path_buf(),
    ));
    let dispatch = playground::dispatch_router(playground.clone());
    Ok(local_routes(sandbox, password_key, dispatch)?.merge(playground::router(playground)))
}

/// The five extension functions built from `rules` (the part the playground rebuilds).
pub(crate) fn functions_router(
    sandbox: &Arc<Sandbox>,
    rules: &RulesSource,
    mail_dir: &Path,
    password_key: &PasswordContextKey,
) -> anyhow::Result<Router> {
    let http = entra_platform::https::default_client().context("building the HTTP client")?;
    let config = sandbox.config();
    // One key cache for every function, as one Lambda per function would each have their own.
    let keys = KeySet::new(sandbox.discovery_url(), http);
    let guard = || {
        let policy = CallerPolicy::extension_callback(
            &config.tenant_id,
            vec![
                config.extension_app_id.clone(),
                config.extension_app_id_uri.clone(),
            ],
        );
        CalloutGuard::new(TokenValidator::new(policy, keys.clone()), Vec::new())
    };
    let graph = sandbox_graph(sandbox)?;

    let (file, _) = rules.for_function("token-issuance-start")?;
    let claims_rules: token_issuance_start::TokenIssuanceStartRules =
        file.section(token_issuance_start::SECTION)?;
    let provider = token_issuance_start::ClaimsProvider::new(&claims_rules, Some(graph.clone()))?;
    let token_issuance =
        Arc::new(token_issuance_start::TokenIssuanceStart::new(guard()).with_provider(provider));

    let (file, _) = rules.for_function("attribute-collection-start")?;
    let start_rules: attribute_collection_start::AttributeCollectionStartRules =
        file.section(attribute_collection_start::SECTION)?;
    let collection_start = Arc::new(attribute_collection_start::AttributeCollectionStart::new(
        guard(),
        &start_rules,
    ));

    let (file, _) = rules.for_function("attribute-collection-submit")?;
    let submit_rules: attribute_collection_submit::AttributeCollectionSubmitRules =
        file.section(attribute_collection_submit::SECTION)?;
    let collection_submit = Arc::new(attribute_collection_submit::AttributeCollectionSubmit::new(
        guard(),
        &submit_rules,
        Some(graph),
    )?);

    let (file, _) = rules.for_function("email-otp-send")?;
    let otp_rules: email_otp_send::EmailOtpSendRules = file.section(email_otp_send::SECTION)?;
    let mailer = FolderMailer::new(mail_dir)
        .with_context(|| format!("creating the mail folder {}", mail_dir.display()))?;
    let otp = Arc::new(email_otp_send::EmailOtpSend::new(
        guard(),
        &otp_rules,
        Arc::new(mailer),
        Arc::new(MemoryStore::new()),
    ));

    let (file, rules_dir) = rules.for_function("password-submit")?;
    let password_rules: password_submit::PasswordSubmitRules =
        file.section(password_submit::SECTION)?;
    let decryptor = password_submit::PasswordContextDecryptor::from_pem(&SecretValue::new(
        password_key.private_key_pem(),
    ))?;
    let store = match password_rules.store_path(Some(&rules_dir)) {
        Some(path) => password_submit::LegacyUserTable::load(&path)
            .with_context(|| format!("loading the legacy user table {}", path.display()))?,
        None => password_submit::LegacyUserTable::from_credentials(Vec::new()),
    };
    let migration =
        password_submit::PasswordMigration::new(password_rules, decryptor, Arc::new(store));
    let password = Arc::new(password_submit::PasswordSubmit::new(guard(), migration));

    Ok(Router::new()
        .merge(token_issuance_start::router(token_issuance, MAX_BODY_BYTES))
        .merge(attribute_collection_start::router(
            collection_start,
            MAX_BODY_BYTES,
        ))
        .merge(attribute_collection_submit::router(
            collection_submit,
            MAX_BODY_BYTES,
        ))
        .merge(email_otp_send::router(otp, MAX_BODY_BYTES))
        .merge(password_submit::router(password, MAX_BODY_BYTES)))
}

/// Health, the local-only helpers, and `functions` (the extension routes).
fn local_routes(
    sandbox: &Arc<Sandbox>,
    password_key: Arc<PasswordContextKey>,
    functions: Router,
) -> anyhow::Result<Router> {
    let local = Arc::new(LocalRoutes {
        sandbox: sandbox.clone(),
        password_key,
        graph: sandbox_graph(sandbox)?,
    });
    Ok(Router::new()
        .route("/health", get(health))
        .merge(functions)
        .merge(
            Router::new()
                .route("/local/token", get(mint_token))
                .route("/local/samples/{function}", get(sample))
                .route("/local/users", axum::routing::post(create_user))
                .with_state(local),
        ))
}

/// Our Graph client, pointed at the simulated tenant (default retries, as in production).
fn sandbox_graph(sandbox: &Sandbox) -> anyhow::Result<GraphClient> {
    Ok(GraphClient::new(entra_graph::testing::sandbox_config(
        sandbox,
    ))?)
}

/// `POST /local/users` with a user's JSON (`{"displayName": "…"}`): creates the user through the
/// simulated tenant's Graph, as an admin or a sign-up would, so the directory reactions run.
async fn create_user(State(local): State<Arc<LocalRoutes>>, body: axum::body::Bytes) -> Response {
    let user: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(user @ serde_json::Value::Object(_)) => user,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"error": "send a JSON object such as {\"displayName\": \"Noor\"}"}),
                ),
            )
                .into_response();
        }
    };
    let request =
        match entra_graph::GraphRequest::new(http::Method::POST, local.graph.url(&["users"]))
            .with_json(&user)
        {
            Ok(request) => request,
            Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
        };
    match local.graph.send(request).await {
        Ok(created) => (
            StatusCode::CREATED,
            [(http::header::CONTENT_TYPE, "application/json")],
            created.body,
        )
            .into_response(),
        Err(error) => (
            error.status().unwrap_or(StatusCode::BAD_GATEWAY),
            error.to_string(),
        )
            .into_response(),
    }
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn mint_token(State(local): State<Arc<LocalRoutes>>) -> impl IntoResponse {
    (StatusCode::OK, local.sandbox.extension_token().sign())
}

async fn sample(
    State(local): State<Arc<LocalRoutes>>,
    UrlPath(function): UrlPath<String>,
) -> Response {
    match sample_body(&local.sandbox, &local.password_key, &function) {
        Ok(body) => axum::Json(body).into_response(),
        Err(response) => *response,
    }
}

/// The sample callout of `function` (`notification` too), or the answer explaining why none.
pub(crate) fn sample_body(
    sandbox: &Sandbox,
    password_key: &PasswordContextKey,
    function: &str,
) -> Result<serde_json::Value, Box<Response>> {
    let config = sandbox.config();
    let body = match function {
        "token-issuance-start" => samples::token_issuance_start(config),
        "attribute-collection-start" => samples::attribute_collection_start(config),
        "attribute-collection-submit" => samples::attribute_collection_submit(config, "ln-200001"),
        "email-otp-send" => samples::email_otp_send(config, samples::SAMPLE_OTP_CODE),
        "notification" => reactions::sample_notification(config),
        "password-submit" => {
            let nonce = uuid::Uuid::new_v4().to_string();
            match encrypt_password_context(
                password_key.certificate_pem(),
                KeyManagement::RsaOaep256,
                ContentEncryption::A256Gcm,
                samples::LEGACY_USERNAME,
                samples::LEGACY_PASSWORD,
                &nonce,
            ) {
                Ok(context) => samples::password_submit(config, &context),
                Err(error) => {
                    return Err(Box::new(
                        (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
                    ));
                }
            }
        }
        _ => {
            return Err(Box::new(
                (
                StatusCode::NOT_FOUND,
                "no sample for that function; try token-issuance-start, attribute-collection-start, \
                 attribute-collection-submit, email-otp-send or password-submit",
            )
                .into_response(),
            ));
        }
    };
    Ok(body)
}
