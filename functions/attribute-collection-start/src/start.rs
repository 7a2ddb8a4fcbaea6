//! Building the function from the platform configuration, once per execution environment: the
//! same steps in Lambda (`main.rs`) and in `entra-hooks serve`.

use entra_extensions::CalloutGuard;
use entra_extensions::rules_file::RulesFile;
use entra_extensions::runtime::StartError;
use entra_platform::CommonConfig;

use crate::{AttributeCollectionStart, AttributeCollectionStartRules, SECTION};

impl AttributeCollectionStart {
    /// The function for `config` and the `[attribute_collection_start]` section of `rules`.
    /// No network I/O: signing keys are fetched on the first callout.
    pub fn from_config(
        config: &CommonConfig,
        rules: &RulesFile,
        http: reqwest::Client,
    ) -> Result<Self, StartError> {
        let rules: AttributeCollectionStartRules = rules.section(SECTION)?;
        let guard = CalloutGuard::from_config(config, http)?;
        Ok(Self::new(guard, &rules))
    }
}
