//! Lambda entry point: configuration, logging, the private key and the legacy user table are set
//! up once per execution environment, then every invocation runs [`password_submit::router`].

use std::sync::Arc;

use entra_extensions::CalloutGuard;
use entra_extensions::runtime::{rules_dir, rules_file, secret_resolver};
use entra_platform::{CommonConfig, init_tracing, load_config};
use password_submit::{PasswordMigration, PasswordSubmit, PasswordSubmitRules, SECTION, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config: CommonConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let http = reqwest::Client::builder().build()?;
    let guard = CalloutGuard::from_config(&config, http)?;

    let rules: PasswordSubmitRules = rules_file(&config)?.section(SECTION)?;
    let secrets = secret_resolver(rules.secret_references()).await;
    let migration =
        PasswordMigration::from_rules(rules, &secrets, rules_dir(&config).as_deref()).await?;

    let app = Arc::new(PasswordSubmit::new(guard, migration));
    lambda_http::run(router(app, config.limits.max_body_bytes)).await
}
