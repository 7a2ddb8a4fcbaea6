//! Entra's side of the passwordSubmit (just-in-time password migration) event: the
//! `encryptedPasswordContext` it sends (docs/protocols/extension-callbacks.md a.9).
//!
//! Entra encrypts the password the user typed to the public key of the extension app's
//! `"Encrypt"` key credential (an `AsymmetricX509Cert`, selected by `tokenEncryptionKeyId`) and
//! sends it as a compact JWE (RFC 7516 section 7.1) whose plaintext is an unsigned JWT
//! (`alg: none`) carrying the claims `user-password`, `username` and `nonce`. Which JWE `alg` and
//! `enc` Entra uses is not documented (a.9, UNCERTAIN), so this module mints every combination a
//! receiver should accept: RSA-OAEP-256 and RSA-OAEP key management with A128GCM, A256GCM,
//! A128CBC-HS256 and A256CBC-HS512 content encryption (RFC 7518 sections 4.3, 5.2, 5.3), plus
//! RSA1_5, which a receiver must refuse (Bleichenbacher / Marvin padding oracles).
//!
//! [`PasswordContextKey`] plays the app registration's encryption certificate: tests give its
//! private key to the function and its certificate (or public key) to [`encrypt_password_context`].
//! Everything is done with aws-lc-rs, the workspace's one crypto backend.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::SandboxError;

/// JWE key management (`alg`): how the content encryption key is wrapped to the RSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyManagement {
    /// `RSA-OAEP-256`: OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
    /// `RSA-OAEP`: OAEP with SHA-1 and MGF1-SHA-1 (still sound for OAEP).
    RsaOaep,
    /// `RSA1_5`: PKCS#1 v1.5 encryption. Only here so tests can prove a receiver refuses it.
    Rsa1_5,
}

impl KeyManagement {
    /// Every key management algorithm a receiver should accept.
    pub const ACCEPTED: [KeyManagement; 2] = [KeyManagement::RsaOaep256, KeyManagement::RsaOaep];

    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            KeyManagement::RsaOaep256 => "RSA-OAEP-256",
            KeyManagement::RsaOaep => "RSA-OAEP",
            KeyManagement::Rsa1_5 => "RSA1_5",
        }
    }
}

/// JWE content encryption (`enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncryption {
    /// `A128GCM`: AES-128-GCM, 96-bit IV, 128-bit tag.
    A128Gcm,
    /// `A256GCM`: AES-256-GCM, 96-bit IV, 128-bit tag.
    A256Gcm,
    /// `A128CBC-HS256`: AES-128-CBC then HMAC-SHA-256 truncated to 128 bits (RFC 7518 5.2.3).
    A128CbcHs256,
    /// `A256CBC-HS512`: AES-256-CBC then HMAC-SHA-512 truncated to 256 bits (RFC 7518 5.2.5).
    A256CbcHs512,
}

impl ContentEncryption {
    /// Every content encryption a receiver should accept.
    pub const ALL: [ContentEncryption; 4] = [
        ContentEncryption::A128Gcm,
        ContentEncryption::A256Gcm,
        ContentEncryption::A128CbcHs256,
        ContentEncryption::A256CbcHs512,
    ];

    /// The `enc` header value.
    pub fn name(self) -> &'static str {
        match self {
            ContentEncryption::A128Gcm => "A128GCM",
            ContentEncryption::A256Gcm => "A256GCM",
            ContentEncryption::A128CbcHs256 => "A128CBC-HS256",
            ContentEncryption::A256CbcHs512 => "A256CBC-HS512",
        }
    }

    /// Length of the content encryption key in bytes (for CBC-HS: MAC key then AES key).
    fn key_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm => 16,
            ContentEncryption::A256Gcm | ContentEncryption::A128CbcHs256 => 32,
            ContentEncryption::A256CbcHs512 => 64,
        }
    }
}

/// The extension app's encryption key credential: an RSA key pair and the self-signed
/// certificate uploaded to the app registration (`keyCredentials[].usage = "Encrypt"`).
pub struct PasswordContextKey {
    private_pkcs8_der: Vec<u8>,
    public_key_pem: String,
    certificate_pem: String,
    key_id: String,
}

impl std::fmt::Debug for PasswordContextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordContextKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl PasswordContextKey {
    /// A fresh RSA-2048 key and certificate (about 100 ms).
    pub fn generate() -> Result<Self, SandboxError> {
        Self::generate_with_size(KeySize::Rsa2048)
    }

    /// A fresh key of `size` (2048 to 8192 bits) and its certificate.
    pub fn generate_with_size(size: KeySize) -> Result<Self, SandboxError> {
        let crypto = |what: &str| SandboxError::Crypto(format!("password context key: {what}"));
        let private = PrivateDecryptingKey::generate(size).map_err(|_| crypto("generation"))?;
        let private_pkcs8_der = private
            .as_der()
            .map_err(|_| crypto("PKCS#8 export"))?
            .as_ref()
            .to_vec();
        let spki = private
            .public_key()
            .as_der()
            .map_err(|_| crypto("public key export"))?;
        let certificate_der = self_signed_certificate(&private_pkcs8_der)?;
        let thumbprint = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &certificate_der);
        Ok(Self {
            public_key_pem: to_pem("PUBLIC KEY", spki.as_ref()),
            certificate_pem: to_pem("CERTIFICATE", &certificate_der),
            key_id: URL_SAFE_NO_PAD.encode(thumbprint.as_ref()),
            private_pkcs8_der,
        })
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), what `openssl req -newkey` writes.
    pub fn private_key_pem(&self) -> String {
        to_pem("PRIVATE KEY", &self.private_pkcs8_der)
    }

    /// The private key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), the older OpenSSL form.
    pub fn private_key_pkcs1_pem(&self) -> Result<String, SandboxError> {
        let pkcs1 = pkcs1_from_pkcs8(&self.private_pkcs8_der).ok_or_else(|| {
            SandboxError::Crypto("password context key: PKCS#8 without an RSA key".into())
        })?;
        Ok(to_pem("RSA PRIVATE KEY", pkcs1))
    }

    /// The public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The self-signed certificate (`BEGIN CERTIFICATE`) as uploaded to the app registration.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Base64url SHA-1 thumbprint of the certificate (`x5t`), usable as a JWE `kid`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// Mints an `encryptedPasswordContext` exactly as Entra sends it: the unsigned JWT
/// `{"user-password", "username", "nonce"}` encrypted to `recipient_pem` (a `CERTIFICATE` or a
/// `PUBLIC KEY` PEM) with protected header `{"alg", "enc"}`.
pub fn encrypt_password_context(
    recipient_pem: &str,
    alg: KeyManagement,
    enc: ContentEncryption,
    username: &str,
    password: &str,
    nonce: &str,
) -> Result<String, SandboxError> {
    let claims = json!({
        "user-password": password,
        "username": username,
        "nonce": nonce,
    });
    encrypt_jwe(
        recipient_pem,
        alg,
        enc,
        &Map::new(),
        unsigned_jwt(&claims).as_bytes(),
    )
}

/// An unsigned JWT (`{"alg":"none","typ":"JWT"}`, empty signature): `header.payload.`.
pub fn unsigned_jwt(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT"});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A compact JWE of `plaintext` for `recipient_pem`. The protected header is `{"alg", "enc"}`
/// followed by `extra_header` members (e.g. `kid`, or `zip` to test a receiver's refusal); a
/// member named `alg` or `enc` in `extra_header` replaces the real one in the header only, which
/// mints a JWE whose header lies about its algorithms.
pub fn encrypt_jwe(
    recipient_pem: &str,
    alg: KeyManagement,
    enc: ContentEncryption,
    extra_header: &Map<String, Value>,
    plaintext: &[u8],
) -> Result<String, SandboxError> {
    let crypto = |what: &str| SandboxError::Crypto(format!("JWE: {what}"));
    let public = recipient_key(recipient_pem)?;

    let mut header = Map::new();
    header.insert("alg".into(), alg.name().into());
    header.insert("enc".into(), enc.name().into());
    for (name, value) in extra_header {
        header.insert(name.clone(), value.clone());
    }
    let protected = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());

    let mut cek = vec![0u8; enc.key_len()];
    aws_lc_rs::rand::fill(&mut cek).map_err(|_| crypto("random key"))?;
    let encrypted_key = wrap_key(&public, alg, &cek)?;
    let sealed = encrypt_content(enc, &cek, protected.as_bytes(), plaintext)?;

    Ok([
        protected,
        URL_SAFE_NO_PAD.encode(encrypted_key),
        URL_SAFE_NO_PAD.encode(sealed.iv),
        URL_SAFE_NO_PAD.encode(sealed.ciphertext),
        URL_SAFE_NO_PAD.encode(sealed.tag),
    ]
    .join("."))
}

/// The RSA public key in a `CERTIFICATE` or `PUBLIC KEY` PEM.
fn recipient_key(pem: &str) -> Result<PublicEncryptingKey, SandboxError> {
    let invalid = |what: String| SandboxError::Invalid(format!("JWE recipient: {what}"));
    for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| invalid(format!("not PEM: {e}")))?;
        let spki = match block.label.as_str() {
            "CERTIFICATE" => block
                .parse_x509()
                .map_err(|e| invalid(format!("certificate: {e}")))?
                .public_key()
                .raw
                .to_vec(),
            "PUBLIC KEY" => block.contents.clone(),
            _ => continue,
        };
        return PublicEncryptingKey::from_der(&spki)
            .map_err(|e| invalid(format!("not an RSA public key of 2048-8192 bits: {e}")));
    }
    Err(invalid("no CERTIFICATE or PUBLIC KEY block".into()))
}

fn wrap_key(
    public: &PublicEncryptingKey,
    alg: KeyManagement,
    cek: &[u8],
) -> Result<Vec<u8>, SandboxError> {
    let crypto = |what: &str| SandboxError::Crypto(format!("JWE key wrap: {what}"));
    let mut out = vec![0u8; public.key_size_bytes()];
    let written = match alg {
        KeyManagement::RsaOaep256 | KeyManagement::RsaOaep => {
            let oaep = if alg == KeyManagement::RsaOaep256 {
                &OAEP_SHA256_MGF1SHA256
            } else {
                &OAEP_SHA1_MGF1SHA1
            };
            OaepPublicEncryptingKey::new(public.clone())
                .map_err(|_| crypto("OAEP key"))?
                .encrypt(oaep, cek, &mut out, None)
                .map_err(|_| crypto("OAEP encryption"))?
                .len()
        }
        KeyManagement::Rsa1_5 => Pkcs1PublicEncryptingKey::new(public.clone())
            .map_err(|_| crypto("PKCS#1 key"))?
            .encrypt(cek, &mut out)
            .map_err(|_| crypto("PKCS#1 v1.5 encryption"))?
            .len(),
    };
    out.truncate(written);
    Ok(out)
}

/// The three content parts of a JWE.
struct SealedContent {
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

/// `plaintext` sealed under `cek`, authenticating `aad` (RFC 7516 5.1 step 14: the ASCII of the
/// encoded protected header).
fn encrypt_content(
    enc: ContentEncryption,
    cek: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<SealedContent, SandboxError> {
    let crypto = |what: &str| SandboxError::Crypto(format!("JWE content encryption: {what}"));
    match enc {
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => {
            let algorithm = if enc == ContentEncryption::A128Gcm {
                &AES_128_GCM
            } else {
                &AES_256_GCM
            };
            let key = LessSafeKey::new(UnboundKey::new(algorithm, cek).map_err(|_| crypto("key"))?);
            let mut iv = [0u8; 12];
            aws_lc_rs::rand::fill(&mut iv).map_err(|_| crypto("random IV"))?;
            let mut in_out = plaintext.to_vec();
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(iv),
                    Aad::from(aad),
                    &mut in_out,
                )
                .map_err(|_| crypto("seal"))?;
            Ok(SealedContent {
                iv: iv.to_vec(),
                ciphertext: in_out,
                tag: tag.as_ref().to_vec(),
            })
        }
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            let (aes, mac) = if enc == ContentEncryption::A128CbcHs256 {
                (&AES_128, hmac::HMAC_SHA256)
            } else {
                (&AES_256, hmac::HMAC_SHA512)
            };
            let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
            let mut iv = [0u8; 16];
            aws_lc_rs::rand::fill(&mut iv).map_err(|_| crypto("random IV"))?;
            let key = PaddedBlockEncryptingKey::cbc_pkcs7(
                UnboundCipherKey::new(aes, enc_key).map_err(|_| crypto("key"))?,
            )
            .map_err(|_| crypto("CBC key"))?;
            let mut ciphertext = plaintext.to_vec();
            key.less_safe_encrypt(
                &mut ciphertext,
                EncryptionContext::Iv128(FixedLength::from(iv)),
            )
            .map_err(|_| crypto("CBC encryption"))?;
            let aad_bits = u64::try_from(aad.len())
                .ok()
                .and_then(|len| len.checked_mul(8))
                .ok_or_else(|| crypto("header too long"))?;
            let mut context = hmac::Context::with_key(&hmac::Key::new(mac, mac_key));
            context.update(aad);
            context.update(&iv);
            context.update(&ciphertext);
            context.update(&aad_bits.to_be_bytes());
            let full = context.sign();
            let tag = full.as_ref()[..mac_key.len()].to_vec();
            Ok(SealedContent {
                iv: iv.to_vec(),
                ciphertext,
                tag,
            })
        }
    }
}

/// A self-signed certificate for the key, as an app registration's encryption credential.
fn self_signed_certificate(pkcs8: &[u8]) -> Result<Vec<u8>, SandboxError> {
    let crypto = |e: rcgen::Error| SandboxError::Crypto(format!("certificate: {e}"));
    let key = rcgen::KeyPair::try_from(pkcs8).map_err(crypto)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "entra-hooks password migration (sandbox)",
    );
    let cert = params.self_signed(&key).map_err(crypto)?;
    Ok(cert.der().to_vec())
}

/// The `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`:
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, ... }`.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (version, _, rest) = der_element(body)?;
    let (algorithm, _, rest) = der_element(rest)?;
    let (octets, private_key, _) = der_element(rest)?;
    (version == 0x02 && algorithm == 0x30 && octets == 0x04).then_some(private_key)
}

/// One DER element: `(tag, contents, rest)`. Definite lengths up to four bytes.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// RFC 7468 text encoding (64-column lines).
fn to_pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{KeyPair, OaepPrivateDecryptingKey};

    use super::*;

    fn segments(jwe: &str) -> Vec<Vec<u8>> {
        jwe.split('.')
            .map(|part| URL_SAFE_NO_PAD.decode(part).unwrap())
            .collect()
    }

    #[test]
    fn password_context_is_a_five_part_jwe_with_the_documented_header() {
        let key = PasswordContextKey::generate().unwrap();
        let jwe = encrypt_password_context(
            key.certificate_pem(),
            KeyManagement::RsaOaep256,
            ContentEncryption::A256Gcm,
            "casey@contoso.com",
            "hunter2",
            "nonce-1",
        )
        .unwrap();
        let parts = segments(&jwe);
        assert_eq!(parts.len(), 5);
        let header: Value = serde_json::from_slice(&parts[0]).unwrap();
        assert_eq!(header, json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"}));
        assert_eq!(parts[1].len(), 256, "RSA-2048 wrapped key");
        assert_eq!(parts[2].len(), 12);
        assert_eq!(parts[4].len(), 16);
        assert!(!jwe.contains("hunter2"));
    }

    #[test]
    fn the_wrapped_key_opens_with_the_private_key() {
        let key = PasswordContextKey::generate().unwrap();
        let private = PrivateDecryptingKey::from_pkcs8(&key.private_pkcs8_der)
            .map(OaepPrivateDecryptingKey::new);
        let private = private.unwrap().unwrap();
        for (alg, oaep) in [
            (KeyManagement::RsaOaep256, &OAEP_SHA256_MGF1SHA256),
            (KeyManagement::RsaOaep, &OAEP_SHA1_MGF1SHA1),
        ] {
            let jwe = encrypt_jwe(
                key.public_key_pem(),
                alg,
                ContentEncryption::A256CbcHs512,
                &Map::new(),
                b"x",
            )
            .unwrap();
            let parts = segments(&jwe);
            let mut out = vec![0u8; private.min_output_size()];
            let cek = private.decrypt(oaep, &parts[1], &mut out, None).unwrap();
            assert_eq!(cek.len(), 64);
            assert_eq!(parts[4].len(), 32, "HS512 tag is truncated to half");
        }
    }

    #[test]
    fn extra_header_members_follow_alg_and_enc() {
        let key = PasswordContextKey::generate().unwrap();
        let mut extra = Map::new();
        extra.insert("kid".into(), key.key_id().into());
        let jwe = encrypt_jwe(
            key.certificate_pem(),
            KeyManagement::RsaOaep,
            ContentEncryption::A128CbcHs256,
            &extra,
            b"{}",
        )
        .unwrap();
        let header = String::from_utf8(segments(&jwe)[0].clone()).unwrap();
        assert_eq!(
            header,
            format!(
                r#"{{"alg":"RSA-OAEP","enc":"A128CBC-HS256","kid":"{}"}}"#,
                key.key_id()
            )
        );
    }

    #[test]
    fn pkcs1_export_is_the_same_key() {
        let key = PasswordContextKey::generate().unwrap();
        let pem = key.private_key_pkcs1_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let der = pkcs1_from_pkcs8(&key.private_pkcs8_der).unwrap();
        let pair = KeyPair::from_der(der).unwrap();
        let reexported = pair.as_der().unwrap();
        assert_eq!(reexported.as_ref(), key.private_pkcs8_der.as_slice());
    }

    #[test]
    fn unsigned_jwt_has_an_empty_signature() {
        let jwt = unsigned_jwt(&json!({"nonce": "n"}));
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "none");
    }

    #[test]
    fn recipients_must_be_rsa_public_keys_or_certificates() {
        let key = PasswordContextKey::generate().unwrap();
        let err = encrypt_password_context(
            &key.private_key_pem(),
            KeyManagement::RsaOaep256,
            ContentEncryption::A128Gcm,
            "u",
            "p",
            "n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("no CERTIFICATE or PUBLIC KEY"),
            "{err}"
        );
    }
}
