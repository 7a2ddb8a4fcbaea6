//! Lambda entry point: configuration, logging, the private key and the legacy user table are set
//! up once per execution environment, then every invocation runs [`password_submit::router`].

use std::path::PathBuf;
use std::sync::Arc;

use entra_extensions::CalloutGuard;
use entra_extensions::runtime::{RULES_PATH_ENV, rules_from_env};
use entra_platform::secrets::AwsSecretsManager;
use entra_platform::{CommonConfig, SecretResolver, init_tracing, load_config};
use password_submit::{PasswordMigration, PasswordSubmit, PasswordSubmitRules, SECTION, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config: CommonConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let http = reqwest::Client::builder().build()?;
    let guard = CalloutGuard::from_config(&config, http)?;

    let rules: PasswordSubmitRules = rules_from_env()?.section(SECTION)?;
    let mut secrets = SecretResolver::new();
    if rules.uses_aws_secrets_manager() {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        secrets =
            secrets.with_aws_secrets_manager(Arc::new(AwsSecretsManager::from_sdk_config(&aws)));
    }
    let rules_path = std::env::var_os(RULES_PATH_ENV).map(PathBuf::from);
    let rules_dir = rules_path.as_deref().and_then(std::path::Path::parent);
    let migration = PasswordMigration::from_rules(rules, &secrets, rules_dir).await?;

    let app = Arc::new(PasswordSubmit::new(guard, migration));
    lambda_http::run(router(app, config.limits.max_body_bytes)).await
}
