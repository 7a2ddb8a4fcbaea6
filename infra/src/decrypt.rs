//! `entra-hooks decrypt`: decrypts every item of a captured rich notification, with the receiver's
//! own code path (`NotificationBatch::parse`, `DecryptionKeys`), and prints each resource's JSON,
//! or says exactly which check failed for which item (unknown certificate id, signature mismatch,
//! wrong key, bad padding).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use entra_notifications::decrypt::{DecryptionKeys, decrypt_with, pkcs12_key};
use entra_notifications::wire::{BatchError, Item, NotificationBatch};
use entra_platform::rsa_key::oaep_private_key;

/// Where the private key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A PEM private key; with an id, only items naming that certificate id are decrypted with it.
    Pem { path: PathBuf, id: Option<String> },
    /// A PKCS#12 file and its password (read from an environment variable, never an argument).
    Pfx { path: PathBuf, password: String },
}

/// What a run produced: the resources (stdout), the per-item report (stderr), and whether every
/// encrypted item decrypted.
#[derive(Debug, Default)]
pub struct Decrypted {
    pub resources: Vec<String>,
    pub report: Vec<String>,
    pub ok: bool,
}

/// Decrypts every item of `payload` (a notification collection, or one notification).
pub fn decrypt(payload: &[u8], key: &KeySource) -> anyhow::Result<Decrypted> {
    let batch = match NotificationBatch::parse(payload) {
        Ok(batch) => batch,
        Err(BatchError::NoValue) => {
            let single: serde_json::Value =
                serde_json::from_slice(payload).context("the payload is not JSON")?;
            NotificationBatch::parse(
                serde_json::json!({ "value": [single] })
                    .to_string()
                    .as_bytes(),
            )?
        }
        Err(error) => return Err(error).context("the payload is not a notification collection"),
    };
    let keys = match key {
        KeySource::Pem { path, id: Some(id) } => {
            let mut ring = DecryptionKeys::new();
            ring.insert_pem(id, &read_text(path)?)
                .with_context(|| format!("{}: not a usable private key", path.display()))?;
            Keys::Ring(ring)
        }
        KeySource::Pem { path, id: None } => Keys::Any(
            oaep_private_key(&read_text(path)?)
                .with_context(|| format!("{}: not a usable private key", path.display()))?,
        ),
        KeySource::Pfx { path, password } => {
            let der =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Keys::Any(pkcs12_key(&der, password).with_context(|| path.display().to_string())?)
        }
    };

    let mut out = Decrypted {
        ok: true,
        ..Decrypted::default()
    };
    let mut encrypted = 0;
    for (index, item) in batch.items.iter().enumerate() {
        let Item::Change(change) = item else {
            out.report
                .push(format!("item {index}: not a change notification; skipped"));
            continue;
        };
        let Some(content) = &change.encrypted_content else {
            out.report.push(format!(
                "item {index} (subscription {}): no encryptedContent (a basic notification); skipped",
                change.subscription_id
            ));
            continue;
        };
        encrypted += 1;
        let result = match &keys {
            Keys::Ring(ring) => ring.decrypt(content),
            Keys::Any(key) => decrypt_with(key, content),
        };
        match result.map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes)) {
            Ok(Ok(resource)) => {
                out.resources
                    .push(serde_json::to_string_pretty(&resource).unwrap_or_default());
                out.report.push(format!(
                    "item {index} (subscription {}, certificate {}): decrypted",
                    change.subscription_id, content.encryption_certificate_id
                ));
            }
            Ok(Err(error)) => {
                out.ok = false;
                out.report.push(format!(
                    "item {index} (subscription {}): decrypted, but the resource is not JSON: {error}",
                    change.subscription_id
                ));
            }
            Err(error) => {
                out.ok = false;
                out.report.push(format!(
                    "item {index} (subscription {}): {error}",
                    change.subscription_id
                ));
            }
        }
    }
    if encrypted == 0 {
        bail!("no item of the payload has encryptedContent: nothing to decrypt");
    }
    Ok(out)
}

/// A keyring by certificate id, or one key tried for any id.
enum Keys {
    Ring(DecryptionKeys),
    Any(aws_lc_rs::rsa::OaepPrivateDecryptingKey),
}

fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
