//! Building [`PasswordMigration`] from the rules section at start: resolve the private key(s)
//! through the platform's secret sources, load the legacy user table. Every failure says which
//! key of `[password_submit]` to fix and how.

use std::path::Path;
use std::sync::Arc;

use entra_platform::{SecretError, SecretRef, SecretResolver};
use serde_spanned::Spanned;

use crate::legacy_store::{LegacyUserTable, UserTableError};
use crate::migration::PasswordMigration;
use crate::password_context::{PasswordContextDecryptor, PrivateKeyError};
use crate::rules::PasswordSubmitRules;

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "password_submit.private_key is not set; add private_key = \"aws-sm:<secret-id>#<json-key>\" (the PEM private key of the extension app's encryption certificate) to [password_submit]"
    )]
    MissingPrivateKey,
    #[error(
        "password_submit.store is not set; add store = \"legacy-users.toml\" (the legacy user table) to [password_submit]"
    )]
    MissingStore,
    #[error("password_submit.{key} ({reference}): {source}")]
    Secret {
        key: &'static str,
        reference: String,
        source: SecretError,
    },
    #[error("password_submit.{key} ({reference}): {source}")]
    PrivateKey {
        key: &'static str,
        reference: String,
        source: PrivateKeyError,
    },
    #[error(transparent)]
    Store(#[from] UserTableError),
}

impl PasswordSubmitRules {
    /// Whether a key lives in AWS Secrets Manager (so the resolver needs that adapter).
    pub fn uses_aws_secrets_manager(&self) -> bool {
        self.secret_references()
            .any(|reference| reference.scheme() == "aws-sm")
    }

    /// The secret references these rules name (the current and the previous private key).
    pub fn secret_references(&self) -> impl Iterator<Item = &entra_platform::SecretRef> {
        [&self.private_key, &self.previous_private_key]
            .into_iter()
            .flatten()
            .map(|reference| reference.get_ref())
    }
}

impl PasswordMigration {
    /// The migration `rules` describe, with the shipped [`LegacyUserTable`] as its store.
    /// `rules_dir` is the rules file's directory (relative `store` paths start there).
    pub async fn from_rules(
        rules: PasswordSubmitRules,
        secrets: &SecretResolver,
        rules_dir: Option<&Path>,
    ) -> Result<Self, SetupError> {
        let decryptor = decryptor_from_rules(&rules, secrets).await?;
        let path = rules
            .store_path(rules_dir)
            .ok_or(SetupError::MissingStore)?;
        let table = LegacyUserTable::load(&path)?;
        tracing::info!(
            users = table.len(),
            store = %path.display(),
            "loaded the legacy user table"
        );
        Ok(Self::new(rules, decryptor, Arc::new(table)))
    }
}

/// The decryptor for `private_key` (and `previous_private_key` when set).
pub async fn decryptor_from_rules(
    rules: &PasswordSubmitRules,
    secrets: &SecretResolver,
) -> Result<PasswordContextDecryptor, SetupError> {
    let current = rules
        .private_key
        .as_ref()
        .ok_or(SetupError::MissingPrivateKey)?;
    let mut decryptor: Option<PasswordContextDecryptor> = None;
    for (key, reference) in [
        ("private_key", Some(current)),
        ("previous_private_key", rules.previous_private_key.as_ref()),
    ] {
        let Some(reference) = reference else { continue };
        let pem = resolve(secrets, key, reference).await?;
        let invalid = |source| SetupError::PrivateKey {
            key,
            reference: reference.get_ref().to_string(),
            source,
        };
        decryptor = Some(match decryptor {
            None => PasswordContextDecryptor::from_pem(&pem).map_err(invalid)?,
            Some(decryptor) => decryptor.with_additional_key(&pem).map_err(invalid)?,
        });
    }
    decryptor.ok_or(SetupError::MissingPrivateKey)
}

async fn resolve(
    secrets: &SecretResolver,
    key: &'static str,
    reference: &Spanned<SecretRef>,
) -> Result<entra_platform::SecretValue, SetupError> {
    secrets
        .resolve(reference.get_ref())
        .await
        .map_err(|source| SetupError::Secret {
            key,
            reference: reference.get_ref().to_string(),
            source,
        })
}
