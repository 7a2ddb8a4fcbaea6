//! Building the function from the platform configuration, once per execution environment: the
//! same steps in Lambda (`main.rs`) and in `entra-hooks serve`.

use entra_extensions::CalloutGuard;
use entra_extensions::rules_file::RulesFile;
use entra_extensions::runtime::{StartError, rules_dir, secret_resolver};
use entra_platform::CommonConfig;

use crate::{PasswordMigration, PasswordSubmit, PasswordSubmitRules, SECTION};

impl PasswordSubmit {
    /// The function for `config` and the `[password_submit]` section of `rules`: the private key
    /// and the legacy store's secrets are resolved now, so a bad reference fails the start.
    pub async fn from_config(
        config: &CommonConfig,
        rules: &RulesFile,
        http: reqwest::Client,
    ) -> Result<Self, StartError> {
        let guard = CalloutGuard::from_config(config, http)?;
        let rules: PasswordSubmitRules = rules.section(SECTION)?;
        let secrets = secret_resolver(rules.secret_references()).await;
        let migration =
            PasswordMigration::from_rules(rules, &secrets, rules_dir(config).as_deref()).await?;
        Ok(Self::new(guard, migration))
    }
}
