//! Rich-notification decryption (docs/protocols/change-notifications.md B.4;
//! <https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data>).
//!
//! Graph encrypts each item's resource with a fresh 32-byte key: `data` is AES-256-CBC (IV = the
//! key's first 16 bytes, PKCS#7 padding), `dataSignature` is HMAC-SHA256 keyed with that key over
//! the decoded `data`, and `dataKey` is the key RSA-OAEP-encrypted (SHA-1, MGF1-SHA-1) to the
//! certificate named by `encryptionCertificateId`. The signature is checked, in constant time,
//! before anything is decrypted, so tampered data never reaches the cipher. Several keys can be
//! live at once (certificate rotation): the id picks one.

use std::collections::HashMap;

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use entra_platform::rsa_key::{PrivateKeyError, oaep_private_key};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::wire::EncryptedContent;

/// Why an item could not be decrypted; each names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error(
        "no private key for encryptionCertificateId {0:?}; add it to notifications.decryption_keys"
    )]
    UnknownCertificate(String),
    #[error("{0} is not base64")]
    NotBase64(&'static str),
    #[error("the data key does not decrypt with the key for this certificate id (wrong key?)")]
    KeyUnwrap,
    #[error("the unwrapped data key has {0} bytes, not 32")]
    KeyLength(usize),
    #[error("dataSignature does not match the data (tampered or corrupted)")]
    SignatureMismatch,
    #[error("the data does not decrypt to whole blocks with valid padding")]
    Padding,
    #[error("the decrypted resource is not UTF-8 JSON: {0}")]
    NotJson(String),
    #[error("private key for certificate id {id:?}: {source}")]
    Key { id: String, source: PrivateKeyError },
    #[error("the PKCS#12 file cannot be read ({0}); check the file and its password")]
    Pkcs12(String),
}

/// Our private keys, by the certificate id Graph echoes.
#[derive(Default)]
pub struct DecryptionKeys {
    keys: HashMap<String, OaepPrivateDecryptingKey>,
}

impl std::fmt::Debug for DecryptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("DecryptionKeys")
            .field("certificate_ids", &ids)
            .finish()
    }
}

impl DecryptionKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the key (PKCS#8 or PKCS#1 PEM) for certificate id `id`.
    pub fn insert_pem(&mut self, id: &str, pem: &str) -> Result<(), DecryptError> {
        let key = oaep_private_key(pem).map_err(|source| DecryptError::Key {
            id: id.to_owned(),
            source,
        })?;
        self.keys.insert(id.to_owned(), key);
        Ok(())
    }

    /// Adds the private key of a PKCS#12 (PFX) file, as Windows and .NET export certificates,
    /// including the legacy 3DES/RC2 encryptions; an expired certificate is accepted (Graph does
    /// not check it either).
    pub fn insert_pkcs12(
        &mut self,
        id: &str,
        der: &[u8],
        password: &str,
    ) -> Result<(), DecryptError> {
        let key = pkcs12_key(der, password)?;
        self.keys.insert(id.to_owned(), key);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The decrypted resource bytes of `content`.
    pub fn decrypt(&self, content: &EncryptedContent) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let key = self
            .keys
            .get(&content.encryption_certificate_id)
            .ok_or_else(|| {
                DecryptError::UnknownCertificate(content.encryption_certificate_id.clone())
            })?;
        decrypt_with(key, content)
    }

    /// The decrypted resource as JSON.
    pub fn decrypt_json(&self, content: &EncryptedContent) -> Result<Value, DecryptError> {
        let plaintext = self.decrypt(content)?;
        serde_json::from_slice(&plaintext).map_err(|e| DecryptError::NotJson(e.to_string()))
    }
}

/// Decrypts `content` with `key`, whatever certificate id it names (the CLI's `--key`).
pub fn decrypt_with(
    key: &OaepPrivateDecryptingKey,
    content: &EncryptedContent,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let wrapped = decode(&content.data_key, "dataKey")?;
    let data = decode(&content.data, "data")?;
    let signature = decode(&content.data_signature, "dataSignature")?;

    let mut unwrapped = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let symmetric_len = key
        .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut unwrapped, None)
        .map_err(|_| DecryptError::KeyUnwrap)?
        .len();
    if symmetric_len != 32 {
        return Err(DecryptError::KeyLength(symmetric_len));
    }
    let symmetric = Zeroizing::new(unwrapped[..32].to_vec());

    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, &symmetric);
    hmac::verify(&mac_key, &data, &signature).map_err(|_| DecryptError::SignatureMismatch)?;

    let mut iv = [0u8; 16];
    iv.copy_from_slice(&symmetric[..16]);
    let cipher = PaddedBlockDecryptingKey::cbc_pkcs7(
        UnboundCipherKey::new(&AES_256, &symmetric).map_err(|_| DecryptError::KeyLength(32))?,
    )
    .map_err(|_| DecryptError::Padding)?;
    let mut buffer = Zeroizing::new(data);
    let plaintext = cipher
        .decrypt(&mut buffer, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| DecryptError::Padding)?;
    Ok(Zeroizing::new(plaintext.to_vec()))
}

/// The RSA private key in a PKCS#12 file.
pub fn pkcs12_key(der: &[u8], password: &str) -> Result<OaepPrivateDecryptingKey, DecryptError> {
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| DecryptError::Pkcs12(e.to_string()))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| DecryptError::Pkcs12("it holds no private key".into()))?;
    let pkcs8 = Zeroizing::new(chain.key().as_der().to_vec());
    let not_rsa = || DecryptError::Pkcs12("its private key is not an RSA key".into());
    let key = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|_| not_rsa())?;
    OaepPrivateDecryptingKey::new(key).map_err(|_| not_rsa())
}

fn decode(text: &str, field: &'static str) -> Result<Vec<u8>, DecryptError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| DecryptError::NotBase64(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> (EncryptedContent, String, Value) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/change-notifications");
        let vector: Value =
            serde_json::from_slice(&std::fs::read(dir.join("generated-vector.json")).unwrap())
                .unwrap();
        let content: EncryptedContent =
            serde_json::from_value(vector["encryptedContent"].clone()).unwrap();
        let key = std::fs::read_to_string(dir.join("generated-vector.key.pem")).unwrap();
        (content, key, vector)
    }

    #[test]
    fn the_generated_vector_decrypts_to_its_plaintext() {
        let (content, pem, vector) = vector();
        let mut keys = DecryptionKeys::new();
        keys.insert_pem("test-vector-cert", &pem).unwrap();
        let plaintext = keys.decrypt(&content).unwrap();
        assert_eq!(
            std::str::from_utf8(&plaintext).unwrap(),
            vector["expectedPlaintext"].as_str().unwrap()
        );
        assert_eq!(
            keys.decrypt_json(&content).unwrap()["displayName"],
            "Test Vector"
        );
        assert_eq!(
            format!("{keys:?}"),
            "DecryptionKeys { certificate_ids: [\"test-vector-cert\"] }"
        );
    }

    #[test]
    fn pkcs12_files_legacy_and_current_load_and_decrypt() {
        let (content, _, vector) = vector();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/change-notifications");
        for file in ["generated-vector.legacy.pfx", "generated-vector.aes.pfx"] {
            let der = std::fs::read(dir.join(file)).unwrap();
            let mut keys = DecryptionKeys::new();
            keys.insert_pkcs12("test-vector-cert", &der, "vector-password")
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                std::str::from_utf8(&keys.decrypt(&content).unwrap()).unwrap(),
                vector["expectedPlaintext"].as_str().unwrap(),
                "{file}"
            );
            let wrong = DecryptionKeys::new().insert_pkcs12("x", &der, "not the password");
            assert!(matches!(wrong, Err(DecryptError::Pkcs12(_))), "{file}");
        }
    }

    #[test]
    fn every_failed_check_is_named() {
        let (content, pem, _) = vector();
        let mut keys = DecryptionKeys::new();
        keys.insert_pem("test-vector-cert", &pem).unwrap();

        let mut unknown = content.clone();
        unknown.encryption_certificate_id = "retired-cert".into();
        assert_eq!(
            keys.decrypt(&unknown).unwrap_err(),
            DecryptError::UnknownCertificate("retired-cert".into())
        );

        let mut tampered = content.clone();
        let mut data = STANDARD.decode(&tampered.data).unwrap();
        data[0] ^= 1;
        tampered.data = STANDARD.encode(&data);
        assert_eq!(
            keys.decrypt(&tampered).unwrap_err(),
            DecryptError::SignatureMismatch
        );

        let mut signature = content.clone();
        signature.data_signature = STANDARD.encode([0u8; 32]);
        assert_eq!(
            keys.decrypt(&signature).unwrap_err(),
            DecryptError::SignatureMismatch
        );

        let mut garbage = content.clone();
        garbage.data_key = "not base64!".into();
        assert_eq!(
            keys.decrypt(&garbage).unwrap_err(),
            DecryptError::NotBase64("dataKey")
        );

        let mut wrong_key = content.clone();
        wrong_key.data_key = STANDARD.encode([7u8; 256]);
        assert_eq!(
            keys.decrypt(&wrong_key).unwrap_err(),
            DecryptError::KeyUnwrap
        );

        assert!(matches!(
            DecryptionKeys::new().insert_pem("x", "not a key"),
            Err(DecryptError::Key { .. })
        ));
    }
}
