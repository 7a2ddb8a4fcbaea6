//! Rich-notification decryption (docs/protocols/change-notifications.md B.4;
//! <https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data>).
//!
//! Graph encrypts each item's resource with a fresh 32-byte key: `data` is AES-256-CBC (IV = the
//! key's first 16 bytes, PKCS#7 padding), `dataSignature` is HMAC-SHA256 keyed with that key over
//! the decoded `data`, and `dataKey` is the key RSA-OAEP-encrypted (SHA-1, MGF1-SHA-1, empty label)
//! to the certificate named by `encryptionCertificateId`.
//!
//! Why it is built this way:
//! - Several keys are live at once, because rotating the certificate on a subscription does not
//!   stop notifications already encrypted to the old one: the id Graph echoes picks the key.
//! - When we also hold the certificate, its thumbprint is compared with the one Graph sends, so a
//!   notification encrypted to another certificate is reported as exactly that, not as an opaque
//!   RSA failure.
//! - The signature is checked in constant time before anything is decrypted, so tampered data
//!   never reaches the cipher (no padding oracle), and each failed check has its own
//!   [`DecryptError`] variant, which the receiver logs and `entra-hooks decrypt` prints.
//! - The symmetric key and the plaintext live in zeroizing buffers; keys never appear in `Debug`.
//! - PKCS#12 files are read with `p12-keystore` (pure Rust), which also reads the legacy
//!   RC2/3DES-with-SHA-1 encryptions Windows and .NET still export; certificate validity dates are
//!   not checked (Graph does not check them either, and Microsoft's own test certificate expired in
//!   2023).

use std::collections::HashMap;

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use entra_platform::rsa_key::{PrivateKeyError, oaep_private_key};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::wire::EncryptedContent;

/// How the key tried for any certificate id is named in errors.
const ANY_CERTIFICATE_ID: &str = "*";

/// Why an item could not be decrypted, or a key not loaded; each names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error(
        "no private key for encryptionCertificateId {0:?}; add the key of that certificate (notifications.decryption_keys), and keep a retired key until no notification names it"
    )]
    UnknownCertificate(String),
    #[error(
        "encryptionCertificateThumbprint {notification} is not our certificate for id {id:?} (thumbprint {ours}): Graph encrypted to another certificate; load that certificate's key, or PATCH the subscription with this one"
    )]
    ThumbprintMismatch {
        id: String,
        notification: String,
        ours: String,
    },
    #[error("{0} is not base64")]
    NotBase64(&'static str),
    #[error(
        "the data key does not decrypt with the key for this certificate id (RSA-OAEP-SHA1 failed: wrong key?)"
    )]
    KeyUnwrap,
    #[error("the unwrapped data key has {0} bytes, not 32")]
    KeyLength(usize),
    #[error(
        "dataSignature does not match the data (HMAC-SHA256 check failed: tampered or corrupted; nothing was decrypted)"
    )]
    SignatureMismatch,
    #[error("the data does not decrypt to whole AES blocks with valid PKCS#7 padding")]
    Padding,
    #[error("the decrypted resource is not UTF-8")]
    NotUtf8,
    #[error("the decrypted resource is not JSON: {0}")]
    NotJson(String),
    #[error("private key for certificate id {id:?}: {source}")]
    Key { id: String, source: PrivateKeyError },
    #[error("the PKCS#12 file cannot be read ({0}); check the file and its password")]
    Pkcs12(String),
    #[error("certificate for id {id:?}: {reason}")]
    Certificate { id: String, reason: String },
}

/// Our private keys, by the certificate id Graph echoes, plus optionally one key tried for any id
/// (what `entra-hooks decrypt --key` without `--key-id` needs).
#[derive(Default)]
pub struct DecryptionKeys {
    by_id: HashMap<String, KeyEntry>,
    any_id: Option<KeyEntry>,
}

/// One private key and, when we know it, the thumbprint of its certificate.
struct KeyEntry {
    key: OaepPrivateDecryptingKey,
    /// Uppercase hex SHA-1 of the DER certificate, as Graph writes it.
    thumbprint: Option<String>,
}

impl std::fmt::Debug for DecryptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.by_id.keys().collect();
        ids.sort();
        f.debug_struct("DecryptionKeys")
            .field("certificate_ids", &ids)
            .field("any_certificate_id", &self.any_id.is_some())
            .finish()
    }
}

impl DecryptionKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the key (PKCS#8 or PKCS#1 PEM) for certificate id `id`, replacing an earlier key for
    /// that id. If the text also holds the certificate (`-----BEGIN CERTIFICATE-----`, as Key
    /// Vault's PEM export does), its thumbprint is checked against each notification's; a
    /// certificate that does not belong to the key is an error.
    pub fn insert_pem(&mut self, id: &str, pem: &str) -> Result<(), DecryptError> {
        let entry = pem_entry(id, pem)?;
        self.by_id.insert(id.to_owned(), entry);
        Ok(())
    }

    /// Adds a PEM key (as [`insert_pem`](Self::insert_pem)) tried for every certificate id no
    /// other key claims: for inspecting a capture when the id is not known.
    pub fn insert_pem_for_any_id(&mut self, pem: &str) -> Result<(), DecryptError> {
        self.any_id = Some(pem_entry(ANY_CERTIFICATE_ID, pem)?);
        Ok(())
    }

    /// Adds the private key of a PKCS#12 (PFX) file, for certificate id `id`, or, with `None`, for
    /// every id no other key claims. Reads the legacy RC2/3DES encryptions Windows and .NET export
    /// as well as PBES2/AES; the file must hold exactly one private key, and its certificate (when
    /// present) is kept for the thumbprint check. Expired certificates are accepted.
    pub fn insert_pkcs12(
        &mut self,
        id: Option<&str>,
        der: &[u8],
        password: &str,
    ) -> Result<(), DecryptError> {
        let entry = pkcs12_entry(id.unwrap_or(ANY_CERTIFICATE_ID), der, password)?;
        match id {
            Some(id) => {
                self.by_id.insert(id.to_owned(), entry);
            }
            None => self.any_id = Some(entry),
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty() && self.any_id.is_none()
    }

    /// The decrypted resource bytes of `content`, after every check of the module docs.
    pub fn decrypt(&self, content: &EncryptedContent) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let id = &content.encryption_certificate_id;
        let entry = self
            .by_id
            .get(id)
            .or(self.any_id.as_ref())
            .ok_or_else(|| DecryptError::UnknownCertificate(id.clone()))?;
        entry.check_thumbprint(id, content.encryption_certificate_thumbprint.as_deref())?;
        open(&entry.key, content)
    }

    /// The decrypted resource as JSON (what the receiver queues).
    pub fn decrypt_json(&self, content: &EncryptedContent) -> Result<Value, DecryptError> {
        let plaintext = self.decrypt(content)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| DecryptError::NotUtf8)?;
        serde_json::from_str(text).map_err(|e| DecryptError::NotJson(e.to_string()))
    }
}

impl KeyEntry {
    /// Graph's thumbprint must be our certificate's, when both are known.
    fn check_thumbprint(&self, id: &str, notification: Option<&str>) -> Result<(), DecryptError> {
        match (&self.thumbprint, notification) {
            (Some(ours), Some(theirs)) if !ours.eq_ignore_ascii_case(theirs.trim()) => {
                Err(DecryptError::ThumbprintMismatch {
                    id: id.to_owned(),
                    notification: theirs.to_owned(),
                    ours: ours.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Unwraps the symmetric key, checks the signature, then decrypts.
fn open(
    key: &OaepPrivateDecryptingKey,
    content: &EncryptedContent,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let data = decode(&content.data, "data")?;
    let signature = decode(&content.data_signature, "dataSignature")?;
    let symmetric = unwrap_key(key, content)?;

    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, &symmetric[..]);
    hmac::verify(&mac_key, &data, &signature).map_err(|_| DecryptError::SignatureMismatch)?;

    let iv =
        FixedLength::<16>::try_from(&symmetric[..16]).map_err(|_| DecryptError::KeyLength(32))?;
    let cipher_key =
        UnboundCipherKey::new(&AES_256, &symmetric[..]).map_err(|_| DecryptError::KeyLength(32))?;
    let cipher =
        PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key).map_err(|_| DecryptError::Padding)?;
    let mut buffer = Zeroizing::new(data);
    let length = cipher
        .decrypt(&mut buffer, DecryptionContext::Iv128(iv))
        .map_err(|_| DecryptError::Padding)?
        .len();
    buffer.truncate(length);
    Ok(buffer)
}

/// The 32-byte symmetric key of `content` (RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label).
fn unwrap_key(
    key: &OaepPrivateDecryptingKey,
    content: &EncryptedContent,
) -> Result<Zeroizing<[u8; 32]>, DecryptError> {
    let wrapped = decode(&content.data_key, "dataKey")?;
    let mut unwrapped = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let plaintext = key
        .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut unwrapped, None)
        .map_err(|_| DecryptError::KeyUnwrap)?;
    let mut symmetric = Zeroizing::new([0u8; 32]);
    if plaintext.len() != symmetric.len() {
        return Err(DecryptError::KeyLength(plaintext.len()));
    }
    symmetric.copy_from_slice(plaintext);
    Ok(symmetric)
}

fn decode(text: &str, field: &'static str) -> Result<Vec<u8>, DecryptError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| DecryptError::NotBase64(field))
}

/// A PEM key, with the thumbprint of a certificate in the same text that belongs to it.
fn pem_entry(id: &str, text: &str) -> Result<KeyEntry, DecryptError> {
    let key = oaep_private_key(text).map_err(|source| DecryptError::Key {
        id: id.to_owned(),
        source,
    })?;
    let unescaped;
    let text = if !text.contains('\n') && text.contains("\\n") {
        unescaped = Zeroizing::new(text.replace("\\n", "\n"));
        unescaped.as_str()
    } else {
        text
    };
    let certificates: Vec<Vec<u8>> = pem::parse_many(text)
        .unwrap_or_default()
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    let thumbprint = certificate_of(id, &key, certificates.iter().map(Vec::as_slice))?;
    Ok(KeyEntry { key, thumbprint })
}

/// The single RSA private key of a PKCS#12 file, with the thumbprint of its certificate.
fn pkcs12_entry(id: &str, der: &[u8], password: &str) -> Result<KeyEntry, DecryptError> {
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, password)
        .map_err(|e| DecryptError::Pkcs12(e.to_string()))?;
    let bag = match archive.keys.as_slice() {
        [bag] => bag,
        [] => return Err(DecryptError::Pkcs12("it holds no private key".into())),
        more => {
            return Err(DecryptError::Pkcs12(format!(
                "it holds {} private keys, export the encryption certificate's alone",
                more.len()
            )));
        }
    };
    let not_rsa = || DecryptError::Pkcs12("its private key is not an RSA key".into());
    let key = PrivateDecryptingKey::from_pkcs8(bag.key.as_der()).map_err(|_| not_rsa())?;
    let key = OaepPrivateDecryptingKey::new(key).map_err(|_| not_rsa())?;
    // The bag linked to the key by localKeyId first, then the rest (chains, unlinked files).
    let linked = |cert: &&p12_keystore::CertificateBag| {
        bag.local_key_id.as_ref().map(|id| id.0.as_slice()) == cert.local_key_id.as_deref()
    };
    let certificates = archive
        .certs
        .iter()
        .filter(linked)
        .chain(archive.certs.iter().filter(|cert| !linked(cert)))
        .map(|cert| cert.cert.as_der());
    let thumbprint = certificate_of(id, &key, certificates)?;
    Ok(KeyEntry { key, thumbprint })
}

/// The thumbprint of the first certificate whose public key belongs to `key`; none without
/// certificates, an error when there are certificates but none belongs to it.
fn certificate_of<'a>(
    id: &str,
    key: &OaepPrivateDecryptingKey,
    certificates: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<String>, DecryptError> {
    let mut seen = 0;
    for der in certificates {
        seen += 1;
        let (_, certificate) =
            x509_parser::parse_x509_certificate(der).map_err(|e| DecryptError::Certificate {
                id: id.to_owned(),
                reason: format!("not an X.509 certificate ({e})"),
            })?;
        if belongs_to(key, certificate.public_key().raw) {
            return Ok(Some(thumbprint(der)));
        }
    }
    if seen == 0 {
        return Ok(None);
    }
    Err(DecryptError::Certificate {
        id: id.to_owned(),
        reason: format!(
            "none of the {seen} certificate(s) next to the private key belongs to it; store the key with its own certificate"
        ),
    })
}

/// Whether a random value encrypted to `public_key_info` decrypts with `key`: the pair is proven by
/// use, whatever the encodings of the two keys.
fn belongs_to(key: &OaepPrivateDecryptingKey, public_key_info: &[u8]) -> bool {
    let Ok(public) = PublicEncryptingKey::from_der(public_key_info) else {
        return false;
    };
    let Ok(public) = OaepPublicEncryptingKey::new(public) else {
        return false;
    };
    let mut probe = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut probe).is_err() {
        return false;
    }
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let Ok(wrapped) = public.encrypt(&OAEP_SHA1_MGF1SHA1, &probe, &mut wrapped, None) else {
        return false;
    };
    let mut unwrapped = vec![0u8; key.min_output_size()];
    key.decrypt(&OAEP_SHA1_MGF1SHA1, wrapped, &mut unwrapped, None)
        .is_ok_and(|plaintext| plaintext == probe)
}

/// Uppercase hex SHA-1 of a DER certificate: the `encryptionCertificateThumbprint` format (B.4).
fn thumbprint(der: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    //! The internals the public API does not show: the unwrapped key of each vector, and the
    //! thumbprint format. Everything else is in `tests/decrypt.rs`.

    use super::*;

    fn vectors() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/change-notifications")
    }

    fn read_vector(name: &str) -> (EncryptedContent, Value) {
        let vector: Value =
            serde_json::from_slice(&std::fs::read(vectors().join(name)).unwrap()).unwrap();
        let content = serde_json::from_value(vector["encryptedContent"].clone()).unwrap();
        (content, vector)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn the_generated_vector_unwraps_to_its_symmetric_key() {
        let (content, vector) = read_vector("generated-vector.json");
        let pem = std::fs::read_to_string(vectors().join("generated-vector.key.pem")).unwrap();
        let entry = pem_entry("test-vector-cert", &pem).unwrap();
        assert_eq!(entry.thumbprint, None);
        let symmetric = unwrap_key(&entry.key, &content).unwrap();
        assert_eq!(hex(&symmetric[..]), vector["expectedSymmetricKeyHex"]);
    }

    #[test]
    fn microsofts_vector_unwraps_to_its_symmetric_key_and_the_thumbprint_is_sha1_of_the_der() {
        let (content, vector) = read_vector("microsoft-dotnet-core.vector.json");
        let b64 = std::fs::read_to_string(vectors().join("microsoft-dotnet-core.pfx.b64")).unwrap();
        let der = STANDARD.decode(b64.trim()).unwrap();
        let entry = pkcs12_entry("custom-id-for-testing", &der, "rich").unwrap();
        assert_eq!(
            entry.thumbprint.as_deref(),
            content.encryption_certificate_thumbprint.as_deref()
        );
        let symmetric = unwrap_key(&entry.key, &content).unwrap();
        assert_eq!(hex(&symmetric[..]), vector["expectedSymmetricKeyHex"]);
    }
}
