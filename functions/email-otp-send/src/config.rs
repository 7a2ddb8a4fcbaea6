//! The deployed function's configuration and set-up: the common sections every function has,
//! plus where emails go (`[mailer]`) and where sent-code markers live (`[store]`), loaded with
//! `entra_platform::load_config` (file and `ENTRA_HOOKS_*` overrides, validated at start).
//!
//! In Lambda (template.yaml `Environment.Variables`):
//!
//! | Variable | Meaning |
//! |---|---|
//! | `ENTRA_HOOKS_TENANT__ID`, `ENTRA_HOOKS_TENANT__NAME`, `ENTRA_HOOKS_EXTENSION__APP_ID` | as for every function |
//! | `ENTRA_HOOKS_MAILER__KIND` | `ses` (Lambda), `log` or `folder` |
//! | `ENTRA_HOOKS_MAILER__FROM` | verified SES sender, e.g. `Contoso <no-reply@contoso.com>` |
//! | `ENTRA_HOOKS_MAILER__CONFIGURATION_SET` | optional SES configuration set |
//! | `ENTRA_HOOKS_STORE__TABLE` | DynamoDB table for markers (`pk` String, TTL on `expires_at`); without it markers stay in one instance's memory |
//! | `ENTRA_HOOKS_IDEMPOTENCY__KEY_SECRET` | optional secret reference (`aws-sm:...`) keying marker hashes |
//! | `ENTRA_HOOKS_RULES` | path of the rules file with the `[email_otp_send]` section |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use entra_extensions::CalloutGuard;
use entra_extensions::rules_file::{RulesError, RulesFile};
use entra_platform::config::{
    AuthConfig, ExtensionConfig, GraphConfig, LimitsConfig, LogConfig, MetricsConfig, TenantConfig,
    ValidationReport,
};
use entra_platform::mailer::MailerSetupError;
use entra_platform::secrets::AwsSecretsManager;
use entra_platform::store::StoreSetupError;
use entra_platform::{
    CommonConfig, MailerConfig, SecretError, SecretRef, SecretResolver, StoreConfig, Validate,
};
use serde::Deserialize;

use crate::EmailOtpSend;
use crate::rules::{EmailOtpSendRules, SECTION};

/// Connect timeout of the AWS clients: SES and DynamoDB answer within milliseconds, and the
/// call budget is at most two seconds.
const AWS_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Upper bound of one AWS operation including SDK retries (the call budget cuts it shorter).
const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

/// `[idempotency]`: how sent-code markers are keyed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// A secret keying the marker hash (HMAC-SHA256), so the table does not reveal codes to
    /// someone who can read it and try all 10^8 codes. Optional; any value of 32+ random bytes.
    #[serde(default)]
    pub key_secret: Option<SecretRef>,
}

/// The email-otp-send function's configuration (the common sections plus its own).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailOtpSendConfig {
    pub tenant: TenantConfig,
    pub extension: ExtensionConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Accepted (deployments may set it for every function) but not used: no Graph calls here.
    #[serde(default)]
    pub graph: Option<GraphConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// `[metrics]`: when the per-callout EMF metrics are written.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[mailer]`, required: where the code goes.
    pub mailer: MailerConfig,
    /// `[store]`: where markers live (memory when absent).
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    /// The rules file (`ENTRA_HOOKS_RULES`); every default when absent.
    #[serde(default)]
    pub rules: Option<PathBuf>,
}

impl Validate for EmailOtpSendConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.common().validate(report);
        self.mailer.validate(report);
        self.store.validate(report);
    }
}

/// Why the function could not be set up. Shown once at start, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Mailer(#[from] MailerSetupError),
    #[error(transparent)]
    Store(#[from] StoreSetupError),
    #[error("the token discovery URL is not a URL ({0}); fix auth.discovery_url or tenant.name")]
    DiscoveryUrl(#[from] url::ParseError),
    #[error("resolving idempotency.key_secret: {0}")]
    Secret(#[from] SecretError),
}

impl EmailOtpSendConfig {
    /// The sections every function shares (for the callout guard).
    pub fn common(&self) -> CommonConfig {
        CommonConfig {
            tenant: self.tenant.clone(),
            extension: self.extension.clone(),
            auth: self.auth.clone(),
            graph: self.graph.clone(),
            limits: self.limits.clone(),
            log: self.log.clone(),
            metrics: self.metrics,
            rules: self.rules.clone(),
        }
    }

    /// The configuration of a host that reads the common sections with others of its own
    /// (`entra-hooks serve`): the inverse of [`EmailOtpSendConfig::common`].
    pub fn from_common(
        common: CommonConfig,
        mailer: MailerConfig,
        store: StoreConfig,
        idempotency: IdempotencyConfig,
    ) -> Self {
        let CommonConfig {
            tenant,
            extension,
            auth,
            graph,
            limits,
            log,
            rules,
            metrics,
        } = common;
        Self {
            tenant,
            extension,
            auth,
            graph,
            limits,
            log,
            mailer,
            store,
            idempotency,
            rules,
            metrics,
        }
    }

    /// Whether any configured adapter talks to AWS.
    pub fn needs_aws(&self) -> bool {
        self.mailer.needs_aws()
            || self.store.needs_aws()
            || matches!(
                self.idempotency.key_secret,
                Some(SecretRef::AwsSecretsManager { .. })
            )
    }

    /// The rules file named by `rules`, or none (every default).
    pub fn rules_file(&self) -> Result<RulesFile, RulesError> {
        match &self.rules {
            Some(path) => RulesFile::load(path),
            None => Ok(RulesFile::empty()),
        }
    }

    /// Builds the function state: rules, AWS clients (no network until first use), mailer,
    /// store, callout guard. Resolves `idempotency.key_secret` when set (one Secrets Manager
    /// call at init, so the first callout does not pay it inside Entra's timeout).
    pub async fn build(&self, http: reqwest::Client) -> Result<EmailOtpSend, SetupError> {
        let rules: EmailOtpSendRules = self.rules_file()?.section(SECTION)?;
        let aws = if self.needs_aws() {
            Some(
                aws_config::defaults(BehaviorVersion::latest())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(AWS_CONNECT_TIMEOUT)
                            .operation_timeout(AWS_OPERATION_TIMEOUT)
                            .build(),
                    )
                    .load()
                    .await,
            )
        } else {
            None
        };
        let mailer = self.mailer.build(aws.as_ref())?;
        let store = self.store.build(aws.as_ref())?;
        if self.store.table.is_none() && std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            tracing::warn!(
                "no store.table: sent-code markers stay in this instance's memory, so an Entra retry on another instance sends a second email; set ENTRA_HOOKS_STORE__TABLE"
            );
        }
        let guard = CalloutGuard::from_config(&self.common(), http)?;
        let mut app = EmailOtpSend::new(guard, &rules, mailer, store);
        if let Some(reference) = &self.idempotency.key_secret {
            let mut resolver = SecretResolver::new();
            if let Some(aws) = &aws {
                resolver = resolver
                    .with_aws_secrets_manager(Arc::new(AwsSecretsManager::from_sdk_config(aws)));
            }
            app = app.with_marker_secret(resolver.resolve(reference).await?);
        }
        Ok(app)
    }
}
