//! RSA private keys from PEM for RSA-OAEP decryption, shared by the two places Entra and Graph
//! encrypt to a certificate of ours: the password-submit context (JWE) and rich change
//! notifications. Accepts PKCS#8 (`PRIVATE KEY`) and PKCS#1 (`RSA PRIVATE KEY`) blocks, and PEM
//! whose line breaks arrived escaped (`\\n`, as some secret stores return them). Errors never
//! contain key material.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use zeroize::Zeroizing;

/// Why a configured private key cannot be used. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    #[error(
        "the private key is not PEM; store the PEM text (-----BEGIN PRIVATE KEY----- ...) of the encryption certificate's key"
    )]
    NotPem,
    #[error(
        "the private key PEM is encrypted; store it unencrypted in the secret store (e.g. `openssl pkcs8 -topk8 -nocrypt`)"
    )]
    Encrypted,
    #[error(
        "the PEM holds no private key (found: {found}); store a PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1) block"
    )]
    NoPrivateKey { found: String },
    #[error(
        "the private key is not an RSA key of 2048 to 8192 bits; generate the encryption certificate with an RSA key"
    )]
    NotRsa,
}

/// The first private key in `text`, ready for RSA-OAEP decryption.
pub fn oaep_private_key(text: &str) -> Result<OaepPrivateDecryptingKey, PrivateKeyError> {
    let unescaped;
    let text = if !text.contains('\n') && text.contains("\\n") {
        unescaped = Zeroizing::new(text.replace("\\n", "\n"));
        unescaped.as_str()
    } else {
        text
    };
    let blocks = pem::parse_many(text).map_err(|_| PrivateKeyError::NotPem)?;
    if blocks.is_empty() {
        return Err(PrivateKeyError::NotPem);
    }
    let mut found = Vec::new();
    for block in blocks {
        let tag = block.tag().to_owned();
        let der = Zeroizing::new(block.into_contents());
        let key = match tag.as_str() {
            "PRIVATE KEY" => PrivateDecryptingKey::from_pkcs8(&der),
            "RSA PRIVATE KEY" => {
                let pkcs8 = KeyPair::from_der(&der)
                    .map_err(|_| PrivateKeyError::NotRsa)?
                    .as_der()
                    .map_err(|_| PrivateKeyError::NotRsa)?;
                PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            }
            "ENCRYPTED PRIVATE KEY" => return Err(PrivateKeyError::Encrypted),
            _ => {
                found.push(tag);
                continue;
            }
        };
        let key = key.map_err(|_| PrivateKeyError::NotRsa)?;
        return OaepPrivateDecryptingKey::new(key).map_err(|_| PrivateKeyError::NotRsa);
    }
    Err(PrivateKeyError::NoPrivateKey {
        found: found.join(", "),
    })
}
