//! `entra-hooks replay`: runs a captured callout payload through the configured rules and prints
//! the answer the function would send, without a token and without deploying anything. It is how a
//! team previews a rule change: the same `decide` code the deployed function runs, the same rules
//! file, Graph from the simulated tenant (default) or from a real tenant.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::{
    AttributeCollectionStartRequest, AttributeCollectionSubmitRequest, CallBudget, CalloutGuard,
    EmailOtpSendRequest, PasswordSubmitRequest, RulesError, RulesFile, TokenIssuanceStartRequest,
};
use entra_graph::{ClientCredential, GraphClient, GraphConfig};
use entra_platform::mailer::{FolderMailer, LogMailer, Mailer};
use entra_platform::store::MemoryStore;
use entra_platform::{CommonConfig, SecretValue};
use entra_sandbox::Sandbox;
use serde_json::Value;

/// The function whose decision is replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    TokenIssuanceStart,
    AttributeCollectionStart,
    AttributeCollectionSubmit,
    EmailOtpSend,
    PasswordSubmit,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::TokenIssuanceStart => "token-issuance-start",
            Function::AttributeCollectionStart => "attribute-collection-start",
            Function::AttributeCollectionSubmit => "attribute-collection-submit",
            Function::EmailOtpSend => "email-otp-send",
            Function::PasswordSubmit => "password-submit",
        }
    }
}

/// Where Graph reads go during a replay.
#[derive(Debug, Clone)]
pub enum GraphSource {
    /// An embedded simulated tenant with its demo data (no network beyond loopback).
    Sandbox,
    /// The tenant described by a platform configuration file (its `[graph]` section and secret).
    Tenant(PathBuf),
}

/// Everything a replay needs.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub function: Function,
    /// The captured request body.
    pub payload: Vec<u8>,
    /// Name of the payload for messages (its path, or "stdin").
    pub payload_origin: String,
    /// The rules file (`None`: the function's defaults).
    pub rules: Option<PathBuf>,
    pub graph: GraphSource,
    /// password-submit: PEM private key that decrypts the captured `encryptedPasswordContext`.
    pub private_key: Option<PathBuf>,
    /// password-submit without the key: the sign-in to decide on instead.
    pub username: Option<String>,
    pub password: Option<String>,
    /// email-otp-send: write the email here instead of only logging it.
    pub mail_dir: Option<PathBuf>,
}

/// What the function would answer.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// 200 with `response`, or 500 (Entra's failure path) with no body.
    pub status: u16,
    pub response: Option<Value>,
    /// The action (or failure) chosen.
    pub action: String,
    /// Whether a configured fallback produced the answer.
    pub fallback: bool,
    pub elapsed: Duration,
}

/// Why a replay could not run. Every message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{origin} is not a {function} callout Entra would send: {reason}")]
    InvalidPayload {
        origin: String,
        function: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("{0}")]
    Setup(String),
}

fn setup(error: impl std::fmt::Display) -> ReplayError {
    ReplayError::Setup(error.to_string())
}

/// Runs the replay and records its rule trace ([`entra_extensions::trace`]): every rule
/// evaluated, what it read (Graph requests with their URL and time), what it gave, which fallback.
pub async fn replay_traced(
    options: &ReplayOptions,
) -> Result<(ReplayOutcome, entra_extensions::trace::Trace), ReplayError> {
    let (outcome, trace) = entra_extensions::trace::capture(replay(options)).await;
    Ok((outcome?, trace))
}

/// Runs the replay. Keeps an embedded sandbox alive for its duration when Graph comes from it.
pub async fn replay(options: &ReplayOptions) -> Result<ReplayOutcome, ReplayError> {
    let rules = match &options.rules {
        Some(path) => RulesFile::load(path)?,
        None => RulesFile::empty(),
    };
    let rules_dir = options
        .rules
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let invalid = |reason: String| ReplayError::InvalidPayload {
        origin: options.payload_origin.clone(),
        function: options.function.name(),
        reason,
    };
    let started = Instant::now();
    let outcome = match options.function {
        Function::TokenIssuanceStart => {
            let request = TokenIssuanceStartRequest::parse(&options.payload)
                .map_err(|e| invalid(e.to_string()))?;
            let section: token_issuance_start::TokenIssuanceStartRules =
                rules.section(token_issuance_start::SECTION)?;
            let (graph, _sandbox) = graph_for(&options.graph, section.needs_graph()).await?;
            let provider =
                token_issuance_start::ClaimsProvider::new(&section, graph).map_err(setup)?;
            match provider.decide(&request, provider.start_budget()).await {
                Ok(decision) => answered(decision.response, decision.action, decision.fallback),
                Err(error) => failed(error),
            }
        }
        Function::AttributeCollectionStart => {
            let request = AttributeCollectionStartRequest::parse(&options.payload)
                .map_err(|e| invalid(e.to_string()))?;
            let section: attribute_collection_start::AttributeCollectionStartRules =
                rules.section(attribute_collection_start::SECTION)?;
            let app =
                attribute_collection_start::AttributeCollectionStart::new(unused_guard(), &section);
            match app.decide(&request, app.start_budget()).await {
                Ok(decision) => answered(
                    decision.response.clone(),
                    decision.action_name(),
                    decision.fallback,
                ),
                Err(error) => failed(error),
            }
        }
        Function::AttributeCollectionSubmit => {
            let request = AttributeCollectionSubmitRequest::parse(&options.payload)
                .map_err(|e| invalid(e.to_string()))?;
            let section: attribute_collection_submit::AttributeCollectionSubmitRules =
                rules.section(attribute_collection_submit::SECTION)?;
            let (graph, _sandbox) = graph_for(&options.graph, section.needs_graph()).await?;
            let app = attribute_collection_submit::AttributeCollectionSubmit::new(
                unused_guard(),
                &section,
                graph,
            )
            .map_err(setup)?;
            match app.decide(&request, app.start_budget()).await {
                Ok(decision) => answered(
                    decision.response.clone(),
                    decision.action_name(),
                    decision.fallback,
                ),
                Err(error) => failed(error),
            }
        }
        Function::EmailOtpSend => {
            let request =
                EmailOtpSendRequest::parse(&options.payload).map_err(|e| invalid(e.to_string()))?;
            let section: email_otp_send::EmailOtpSendRules =
                rules.section(email_otp_send::SECTION)?;
            let mailer: Arc<dyn Mailer> = match &options.mail_dir {
                Some(dir) => Arc::new(FolderMailer::new(dir).map_err(|e| {
                    setup(format!(
                        "cannot create the mail folder {}: {e}",
                        dir.display()
                    ))
                })?),
                None => Arc::new(LogMailer::new()),
            };
            let app = email_otp_send::EmailOtpSend::new(
                unused_guard(),
                &section,
                mailer,
                Arc::new(MemoryStore::new()),
            );
            let decision = app.decide(&request, app.start_budget()).await;
            let fallback = decision.fallback.is_some();
            match decision.response() {
                Some(response) => answered(response, "continueWithDefaultBehavior", fallback),
                None => ReplayOutcome {
                    status: 500,
                    response: None,
                    action: format!("{:?}", decision.delivery),
                    fallback,
                    elapsed: Duration::ZERO,
                },
            }
        }
        Function::PasswordSubmit => {
            let request = PasswordSubmitRequest::parse(&options.payload)
                .map_err(|e| invalid(e.to_string()))?;
            let section: password_submit::PasswordSubmitRules =
                rules.section(password_submit::SECTION)?;
            password_decision(options, section, rules_dir.as_deref(), &request, &invalid).await?
        }
    };
    Ok(ReplayOutcome {
        elapsed: started.elapsed(),
        ..outcome
    })
}

async fn password_decision(
    options: &ReplayOptions,
    section: password_submit::PasswordSubmitRules,
    rules_dir: Option<&Path>,
    request: &PasswordSubmitRequest,
    invalid: &dyn Fn(String) -> ReplayError,
) -> Result<ReplayOutcome, ReplayError> {
    let store = match section.store_path(rules_dir) {
        Some(path) => password_submit::LegacyUserTable::load(&path).map_err(setup)?,
        None => password_submit::LegacyUserTable::from_credentials(Vec::new()),
    };
    let key_pem = match &options.private_key {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            setup(format!(
                "cannot read the private key {}: {e}",
                path.display()
            ))
        })?,
        None => String::new(),
    };
    let decryptor = if key_pem.is_empty() {
        // Without the key the captured context cannot be opened; a throwaway key stands in and
        // the sign-in comes from --username/--password instead.
        let throwaway =
            entra_sandbox::password_context::PasswordContextKey::generate().map_err(setup)?;
        password_submit::PasswordContextDecryptor::from_pem(&SecretValue::new(
            throwaway.private_key_pem(),
        ))
    } else {
        password_submit::PasswordContextDecryptor::from_pem(&SecretValue::new(key_pem.clone()))
    }
    .map_err(setup)?;
    let budget = CallBudget::start(section.timeout(), DEFAULT_SAFETY_MARGIN);
    let migration = password_submit::PasswordMigration::new(section, decryptor, Arc::new(store));
    let decided = if !key_pem.is_empty() {
        migration.decide(request, budget).await
    } else {
        let (Some(username), Some(password)) = (&options.username, &options.password) else {
            return Err(setup(
                "password-submit replay needs --private-key (to decrypt the captured context) or \
                 --username and --password (to decide on a sign-in you state)",
            ));
        };
        let context = password_submit::PasswordContext::new(
            username.clone(),
            SecretValue::new(password.clone()),
            uuid::Uuid::new_v4().to_string(),
        )
        .map_err(|e| invalid(e.to_string()))?;
        migration
            .decide_for(request, &context, budget)
            .await
            .map_err(password_submit::DecideError::from)
    };
    match decided {
        Ok(decision) => Ok(answered(
            decision.response.clone(),
            decision.action_name(),
            decision.fallback,
        )),
        Err(password_submit::DecideError::Context(error)) => Err(invalid(error.to_string())),
        Err(error) => Ok(failed(error)),
    }
}

fn answered(response: Value, action: &str, fallback: bool) -> ReplayOutcome {
    ReplayOutcome {
        status: 200,
        response: Some(response),
        action: action.to_owned(),
        fallback,
        elapsed: Duration::ZERO,
    }
}

fn failed(error: impl std::fmt::Display) -> ReplayOutcome {
    ReplayOutcome {
        status: 500,
        response: None,
        action: format!("HTTP 500: {error}"),
        fallback: false,
        elapsed: Duration::ZERO,
    }
}

/// Replays never authenticate (the payload is a capture): the constructors' guard admits no one.
fn unused_guard() -> CalloutGuard {
    CalloutGuard::refusing_every_caller()
}

/// The Graph client for `source` (and the sandbox serving it, kept alive by the caller).
async fn graph_for(
    source: &GraphSource,
    needed: bool,
) -> Result<(Option<GraphClient>, Option<Sandbox>), ReplayError> {
    if !needed {
        return Ok((None, None));
    }
    match source {
        GraphSource::Sandbox => {
            let sandbox = Sandbox::start_default().await.map_err(setup)?;
            let config = sandbox.config();
            let graph = GraphClient::new(
                GraphConfig::new(
                    &config.tenant_id,
                    config.graph_client_id.clone(),
                    ClientCredential::secret(config.graph_client_secret.clone()),
                )
                .with_authority_host(sandbox.url())
                .with_graph_base_url(sandbox.graph_url()),
            )
            .map_err(setup)?;
            Ok((Some(graph), Some(sandbox)))
        }
        GraphSource::Tenant(path) => {
            let config: CommonConfig = entra_platform::load_config(Some(path)).map_err(setup)?;
            let graph = config.graph.as_ref().ok_or_else(|| {
                setup(format!(
                    "{} has no [graph] section: add client_id and secret to read a real tenant",
                    path.display()
                ))
            })?;
            let secrets = entra_extensions::runtime::secret_resolver([&graph.secret]).await;
            let client = entra_extensions::runtime::graph_client(&config, &secrets)
                .await
                .map_err(setup)?;
            Ok((client, None))
        }
    }
}
