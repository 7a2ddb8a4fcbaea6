//! `entra-hooks decrypt`: decrypts every item of a captured rich change notification and prints
//! each resource's JSON, or says exactly which check failed for which item (unknown certificate
//! id, thumbprint mismatch, wrong key, signature mismatch, padding, not JSON).
//!
//! It exists so that "why does the receiver drop these notifications?" is answered on a laptop
//! with the capture and the key, by the receiver's own code: the body is read with
//! [`NotificationBatch::parse`] and each item decrypted with [`DecryptionKeys::decrypt_json`]
//! (docs/protocols/change-notifications.md B.4;
//! <https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data>).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use entra_notifications::decrypt::DecryptionKeys;
use entra_notifications::wire::{BatchError, Item, NotificationBatch};

/// Where the private key comes from. Without an id, the key is tried for any certificate id.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A PEM private key (PKCS#8 or PKCS#1), optionally followed by its certificate.
    Pem { path: PathBuf, id: Option<String> },
    /// A PKCS#12 file (DER, or its base64 text as Key Vault holds it) and its password (read from
    /// an environment variable, never an argument).
    Pfx {
        path: PathBuf,
        password: String,
        id: Option<String>,
    },
}

/// What a run produced: the resources (stdout), the per-item report (stderr), and whether every
/// encrypted item decrypted.
#[derive(Debug, Default)]
pub struct Decrypted {
    pub resources: Vec<String>,
    pub report: Vec<String>,
    pub ok: bool,
}

/// The keyring for `source`, built as the receiver builds its own.
pub fn load_keys(source: &KeySource) -> anyhow::Result<DecryptionKeys> {
    let mut keys = DecryptionKeys::new();
    match source {
        KeySource::Pem { path, id } => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            match id {
                Some(id) => keys.insert_pem(id, &pem),
                None => keys.insert_pem_for_any_id(&pem),
            }
            .with_context(|| format!("{}: not a usable private key", path.display()))?;
        }
        KeySource::Pfx { path, password, id } => {
            let der = pkcs12_bytes(path)?;
            keys.insert_pkcs12(id.as_deref(), &der, password)
                .with_context(|| path.display().to_string())?;
        }
    }
    Ok(keys)
}

/// Decrypts every item of `payload` (a `changeNotificationCollection`, or one notification).
/// An error means there was nothing to decrypt; per-item failures are in the report.
pub fn decrypt(payload: &[u8], keys: &DecryptionKeys) -> anyhow::Result<Decrypted> {
    let batch = match NotificationBatch::parse(payload) {
        Ok(batch) => batch,
        Err(BatchError::NoValue) => {
            let single: serde_json::Value =
                serde_json::from_slice(payload).context("the payload is not JSON")?;
            let wrapped = serde_json::json!({ "value": [single] }).to_string();
            NotificationBatch::parse(wrapped.as_bytes())?
        }
        Err(error) => return Err(error).context("the payload is not a notification collection"),
    };

    let mut out = Decrypted {
        ok: true,
        ..Decrypted::default()
    };
    let mut encrypted = 0;
    for (index, item) in batch.items.iter().enumerate() {
        let change = match item {
            Item::Change(change) => change,
            Item::Lifecycle(lifecycle) => {
                out.report.push(format!(
                    "item {index} (subscription {}): a lifecycle notification; skipped",
                    lifecycle.subscription_id
                ));
                continue;
            }
            Item::Malformed(reason) => {
                out.ok = false;
                out.report.push(format!(
                    "item {index}: not a notification we can read: {reason}"
                ));
                continue;
            }
        };
        let Some(content) = &change.encrypted_content else {
            out.report.push(format!(
                "item {index} (subscription {}): no encryptedContent (a basic notification); skipped",
                change.subscription_id
            ));
            continue;
        };
        encrypted += 1;
        match keys.decrypt_json(content) {
            Ok(resource) => {
                out.resources.push(format!("{resource:#}"));
                out.report.push(format!(
                    "item {index} (subscription {}, certificate {}): decrypted",
                    change.subscription_id, content.encryption_certificate_id
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
        let mut message =
            "no item of the payload has encryptedContent: nothing to decrypt".to_owned();
        for line in &out.report {
            message.push_str("\n  ");
            message.push_str(line);
        }
        bail!(message);
    }
    Ok(out)
}

/// The DER of a PKCS#12 file that may also be stored as base64 text.
fn pkcs12_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // DER starts with a SEQUENCE tag; anything else may be the base64 text of one.
    if bytes.first() == Some(&0x30) {
        return Ok(bytes);
    }
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    Ok(base64::engine::general_purpose::STANDARD
        .decode(&text)
        .unwrap_or(bytes))
}
