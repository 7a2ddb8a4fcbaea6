//! Opening `encryptedPasswordContext`: the compact JWE (RFC 7516 section 7.1) Entra encrypts to
//! the extension app's encryption certificate, whose plaintext is an unsigned JWT carrying
//! `user-password`, `username` and `nonce` (docs/protocols/extension-callbacks.md a.9).
//!
//! Entra does not document its `alg`/`enc` (a.9, open question h.9), so we accept the RSA-OAEP
//! family with every AES content encryption RFC 7518 defines for JWE, and nothing else:
//!
//! | `alg` | key management |
//! |---|---|
//! | `RSA-OAEP-256` | RSAES-OAEP, SHA-256, MGF1-SHA-256 |
//! | `RSA-OAEP` | RSAES-OAEP, SHA-1, MGF1-SHA-1 |
//!
//! | `enc` | content encryption |
//! |---|---|
//! | `A128GCM`, `A256GCM` | AES-GCM, AAD = ASCII of the encoded protected header |
//! | `A128CBC-HS256`, `A256CBC-HS512` | AES-CBC + HMAC over AAD, IV, ciphertext and AAD bit length |
//!
//! `RSA1_5` is refused before any private-key operation: PKCS#1 v1.5 decryption is the
//! Bleichenbacher / Marvin padding oracle. So are `dir`, key wrapping and ECDH modes (our key is
//! RSA), `zip` (compression before encryption leaks length) and any `crit` extension.
//!
//! Every failure after the header is read ends in the same [`PasswordContextError::Undecryptable`]:
//! when RSA-OAEP fails we carry on with a random content key (RFC 7516 section 11.5), so a wrong
//! key, a tampered wrapped key, IV, ciphertext or tag are indistinguishable to the caller.
//! All crypto is aws-lc-rs.

use std::fmt;

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_platform::{SecretValue, secure_eq};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The decrypted password context. The password is a [`SecretValue`] (wiped on drop, never
/// printed); `Debug` shows the username and nonce only.
#[derive(Clone)]
pub struct PasswordContext {
    username: String,
    password: SecretValue,
    nonce: String,
}

impl fmt::Debug for PasswordContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordContext")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl PasswordContext {
    /// A context from its parts, for callers that obtained it another way (the replay CLI, a
    /// custom front end). `nonce` must not be blank.
    pub fn new(
        username: impl Into<String>,
        password: SecretValue,
        nonce: impl Into<String>,
    ) -> Result<Self, PasswordContextError> {
        let username = username.into();
        let nonce = nonce.into();
        if username.trim().is_empty() {
            return Err(PasswordContextError::InvalidClaim {
                claim: "username",
                problem: "is empty",
            });
        }
        if nonce.trim().is_empty() {
            return Err(PasswordContextError::InvalidClaim {
                claim: "nonce",
                problem: "is empty",
            });
        }
        Ok(Self {
            username,
            password,
            nonce,
        })
    }

    /// The sign-in identifier the user typed (`username` claim), as sent.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password the user typed (`user-password` claim).
    pub fn password(&self) -> &SecretValue {
        &self.password
    }

    /// The per-request nonce the response must echo in `data.nonce`.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

/// Why `encryptedPasswordContext` could not be used. The messages are safe to return to the
/// caller and to log: they never contain key material or plaintext, and every cryptographic
/// failure is the same [`PasswordContextError::Undecryptable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordContextError {
    #[error(
        "encryptedPasswordContext is not a compact JWE (expected 5 dot-separated parts, found {parts})"
    )]
    NotCompactJwe { parts: usize },
    #[error("encryptedPasswordContext has an invalid {part}")]
    MalformedJwe { part: &'static str },
    #[error(
        "encryptedPasswordContext uses key management {alg:?}, which is refused; only RSA-OAEP-256 and RSA-OAEP are accepted"
    )]
    UnsupportedKeyManagement { alg: String },
    #[error(
        "encryptedPasswordContext uses content encryption {enc:?}, which is not supported; use A256GCM, A128GCM, A128CBC-HS256 or A256CBC-HS512"
    )]
    UnsupportedContentEncryption { enc: String },
    #[error("encryptedPasswordContext has the header parameter {name:?}, which is not supported")]
    UnsupportedHeader { name: &'static str },
    #[error(
        "encryptedPasswordContext could not be decrypted with the configured key (wrong key, or the JWE was altered)"
    )]
    Undecryptable,
    #[error("the decrypted password context is {problem}")]
    InvalidPlaintext { problem: &'static str },
    #[error("the decrypted password context has no {claim} claim")]
    MissingClaim { claim: &'static str },
    #[error("the decrypted password context's {claim} claim {problem}")]
    InvalidClaim {
        claim: &'static str,
        problem: &'static str,
    },
}

impl PasswordContextError {
    /// The stable `error.code` of the 400 answer: `undecryptable_password_context` when the JWE
    /// cannot be opened (a key or configuration problem: Entra encrypts to a key we do not hold),
    /// `invalid_password_context` when it opened but does not carry what the protocol promises.
    pub fn code(&self) -> &'static str {
        match self {
            PasswordContextError::NotCompactJwe { .. }
            | PasswordContextError::MalformedJwe { .. }
            | PasswordContextError::UnsupportedKeyManagement { .. }
            | PasswordContextError::UnsupportedContentEncryption { .. }
            | PasswordContextError::UnsupportedHeader { .. }
            | PasswordContextError::Undecryptable => "undecryptable_password_context",
            PasswordContextError::InvalidPlaintext { .. }
            | PasswordContextError::MissingClaim { .. }
            | PasswordContextError::InvalidClaim { .. } => "invalid_password_context",
        }
    }
}

pub use entra_platform::rsa_key::PrivateKeyError;
use entra_platform::rsa_key::oaep_private_key as parse_private_key;

/// JWE key management algorithms we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyManagement {
    RsaOaep256,
    RsaOaep,
}

impl KeyManagement {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "RSA-OAEP-256" => Some(KeyManagement::RsaOaep256),
            "RSA-OAEP" => Some(KeyManagement::RsaOaep),
            _ => None,
        }
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            KeyManagement::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
            KeyManagement::RsaOaep => &OAEP_SHA1_MGF1SHA1,
        }
    }
}

/// JWE content encryption algorithms we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentEncryption {
    A128Gcm,
    A256Gcm,
    A128CbcHs256,
    A256CbcHs512,
}

impl ContentEncryption {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "A128GCM" => Some(ContentEncryption::A128Gcm),
            "A256GCM" => Some(ContentEncryption::A256Gcm),
            "A128CBC-HS256" => Some(ContentEncryption::A128CbcHs256),
            "A256CBC-HS512" => Some(ContentEncryption::A256CbcHs512),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm => 16,
            ContentEncryption::A256Gcm | ContentEncryption::A128CbcHs256 => 32,
            ContentEncryption::A256CbcHs512 => 64,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => 12,
            ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => 16,
        }
    }

    fn tag_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm
            | ContentEncryption::A256Gcm
            | ContentEncryption::A128CbcHs256 => 16,
            ContentEncryption::A256CbcHs512 => 32,
        }
    }
}

/// Opens `encryptedPasswordContext` with the extension app's private key(s). Built once at
/// start; holding several keys lets the encryption certificate be rotated without downtime
/// (the current key first, then the previous one).
pub struct PasswordContextDecryptor {
    keys: Vec<OaepPrivateDecryptingKey>,
}

impl fmt::Debug for PasswordContextDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordContextDecryptor")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl PasswordContextDecryptor {
    /// A decryptor for the RSA private key in `pem` (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`; other blocks such as the certificate may be in the same text). A value
    /// pasted into an environment variable with literal `\n` sequences is accepted too.
    pub fn from_pem(pem: &SecretValue) -> Result<Self, PrivateKeyError> {
        Ok(Self {
            keys: vec![parse_private_key(pem.expose())?],
        })
    }

    /// Also accepts JWEs for `pem`, tried after the keys already held (certificate rotation).
    pub fn with_additional_key(mut self, pem: &SecretValue) -> Result<Self, PrivateKeyError> {
        self.keys.push(parse_private_key(pem.expose())?);
        Ok(self)
    }

    /// Decrypts and parses `jwe`. CPU cost: one RSA private-key operation per held key at most
    /// (about a millisecond for RSA-2048), so it runs inline.
    pub fn decrypt(&self, jwe: &str) -> Result<PasswordContext, PasswordContextError> {
        let parts: Vec<&str> = jwe.trim().split('.').collect();
        let [header_b64, key_b64, iv_b64, ciphertext_b64, tag_b64] = parts[..] else {
            return Err(PasswordContextError::NotCompactJwe { parts: parts.len() });
        };
        let (key_management, encryption) = read_header(header_b64)?;
        let decode = |text: &str, part: &'static str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| PasswordContextError::MalformedJwe { part })
        };
        let encrypted_key = decode(key_b64, "encrypted key")?;
        let iv = decode(iv_b64, "initialization vector")?;
        let ciphertext = decode(ciphertext_b64, "ciphertext")?;
        let tag = decode(tag_b64, "authentication tag")?;
        if iv.len() != encryption.iv_len() {
            return Err(PasswordContextError::MalformedJwe {
                part: "initialization vector",
            });
        }
        if tag.len() != encryption.tag_len() {
            return Err(PasswordContextError::MalformedJwe {
                part: "authentication tag",
            });
        }
        let cek = self.unwrap_content_key(key_management, encryption, &encrypted_key)?;
        let plaintext = open_content(
            encryption,
            &cek,
            header_b64.as_bytes(),
            &iv,
            &ciphertext,
            &tag,
        )
        .ok_or(PasswordContextError::Undecryptable)?;
        parse_plaintext(&plaintext)
    }

    /// The content key from the first held key that opens `encrypted_key` to a key of the right
    /// length, else a random one so the failure surfaces at the tag check like any other.
    fn unwrap_content_key(
        &self,
        key_management: KeyManagement,
        encryption: ContentEncryption,
        encrypted_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PasswordContextError> {
        for key in &self.keys {
            if encrypted_key.len() != key.key_size_bytes() {
                continue;
            }
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            if let Ok(cek) = key.decrypt(key_management.oaep(), encrypted_key, &mut out, None)
                && cek.len() == encryption.key_len()
            {
                return Ok(Zeroizing::new(cek.to_vec()));
            }
        }
        let mut random = Zeroizing::new(vec![0u8; encryption.key_len()]);
        aws_lc_rs::rand::fill(&mut random).map_err(|_| PasswordContextError::Undecryptable)?;
        Ok(random)
    }
}

/// Reads and checks the protected header: `alg` and `enc` we accept, nothing we would ignore
/// at our peril.
fn read_header(
    header_b64: &str,
) -> Result<(KeyManagement, ContentEncryption), PasswordContextError> {
    let malformed = PasswordContextError::MalformedJwe {
        part: "protected header",
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| malformed.clone())?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed.clone())?;
    let text = |name: &str| header.get(name).and_then(Value::as_str);
    let alg = text("alg").ok_or_else(|| malformed.clone())?;
    let enc = text("enc").ok_or(malformed)?;
    let key_management = KeyManagement::from_name(alg)
        .ok_or_else(|| PasswordContextError::UnsupportedKeyManagement { alg: shorten(alg) })?;
    let encryption = ContentEncryption::from_name(enc)
        .ok_or_else(|| PasswordContextError::UnsupportedContentEncryption { enc: shorten(enc) })?;
    for name in ["zip", "crit"] {
        if header.contains_key(name) {
            return Err(PasswordContextError::UnsupportedHeader { name });
        }
    }
    Ok((key_management, encryption))
}

/// An attacker-chosen header value, cut to a length fit for an error message.
fn shorten(value: &str) -> String {
    value.chars().take(32).collect()
}

/// RFC 7516 5.2 steps 14-16 for our content encryption algorithms; `None` on any failure.
fn open_content(
    encryption: ContentEncryption,
    cek: &[u8],
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    match encryption {
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => {
            let algorithm = if encryption == ContentEncryption::A128Gcm {
                &AES_128_GCM
            } else {
                &AES_256_GCM
            };
            let key = LessSafeKey::new(UnboundKey::new(algorithm, cek).ok()?);
            let nonce = Nonce::try_assume_unique_for_key(iv).ok()?;
            let mut in_out = Zeroizing::new(ciphertext.to_vec());
            let plaintext_len = key
                .open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut in_out)
                .ok()?
                .len();
            in_out.truncate(plaintext_len);
            Some(in_out)
        }
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            let (aes, mac) = if encryption == ContentEncryption::A128CbcHs256 {
                (&AES_128, hmac::HMAC_SHA256)
            } else {
                (&AES_256, hmac::HMAC_SHA512)
            };
            // RFC 7518 5.2.2.2: MAC_KEY is the first half of the CEK, ENC_KEY the second; the
            // tag is the first half of HMAC(MAC_KEY, A || IV || E || AL), AL = bit length of A.
            let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
            let aad_bits = u64::try_from(aad.len()).ok()?.checked_mul(8)?;
            let mut context = hmac::Context::with_key(&hmac::Key::new(mac, mac_key));
            context.update(aad);
            context.update(iv);
            context.update(ciphertext);
            context.update(&aad_bits.to_be_bytes());
            let expected = context.sign();
            let expected = expected.as_ref().get(..tag.len())?;
            if !secure_eq(expected, tag) {
                return None;
            }
            let iv: [u8; 16] = iv.try_into().ok()?;
            let key =
                PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(aes, enc_key).ok()?)
                    .ok()?;
            let mut in_out = Zeroizing::new(ciphertext.to_vec());
            let plaintext_len = key
                .decrypt(&mut in_out, DecryptionContext::Iv128(FixedLength::from(iv)))
                .ok()?
                .len();
            in_out.truncate(plaintext_len);
            Some(in_out)
        }
    }
}

/// The claims of the plaintext: an unsigned JWT as Entra's sample decodes it (`header.payload.`
/// or a JWS whose signature we do not need: the JWE is authenticated encryption to our own key
/// and the call is authenticated by Entra's bearer token), or a bare JSON object.
fn parse_plaintext(plaintext: &[u8]) -> Result<PasswordContext, PasswordContextError> {
    let invalid = |problem| PasswordContextError::InvalidPlaintext { problem };
    let text = std::str::from_utf8(plaintext).map_err(|_| invalid("not UTF-8 text"))?;
    let text = text.trim();
    let claims_json: Zeroizing<Vec<u8>> = if text.starts_with('{') {
        Zeroizing::new(text.as_bytes().to_vec())
    } else {
        let mut parts = text.split('.');
        let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
            return Err(invalid("neither a JWT nor a JSON object"));
        };
        if parts.count() > 1 {
            return Err(invalid("neither a JWT nor a JSON object"));
        }
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| invalid("a JWT with an invalid header"))?;
        serde_json::from_slice::<Map<String, Value>>(&header)
            .map_err(|_| invalid("a JWT with an invalid header"))?;
        Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| invalid("a JWT with an invalid payload"))?,
        )
    };
    let mut claims: Map<String, Value> =
        serde_json::from_slice(&claims_json).map_err(|_| invalid("not a JSON object of claims"))?;
    let password = take_string(&mut claims, "user-password")?;
    let username = take_string(&mut claims, "username")?;
    let nonce = take_string(&mut claims, "nonce")?;
    PasswordContext::new(username, SecretValue::new(password), nonce)
}

/// Removes claim `name` (exact spelling first, then any casing) and returns its string.
fn take_string(
    claims: &mut Map<String, Value>,
    name: &'static str,
) -> Result<String, PasswordContextError> {
    let key = if claims.contains_key(name) {
        Some(name.to_owned())
    } else {
        claims
            .keys()
            .find(|key| key.eq_ignore_ascii_case(name))
            .cloned()
    };
    match key.and_then(|key| claims.remove(&key)) {
        Some(Value::String(value)) => Ok(value),
        None | Some(Value::Null) => Err(PasswordContextError::MissingClaim { claim: name }),
        Some(_) => Err(PasswordContextError::InvalidClaim {
            claim: name,
            problem: "is not a string",
        }),
    }
}

#[cfg(test)]
mod tests {
    use entra_sandbox::password_context::{
        ContentEncryption as Enc, KeyManagement as Alg, PasswordContextKey, encrypt_jwe,
        encrypt_password_context, unsigned_jwt,
    };
    use serde_json::json;

    use super::*;

    fn key() -> (PasswordContextKey, PasswordContextDecryptor) {
        let key = PasswordContextKey::generate().unwrap();
        let decryptor =
            PasswordContextDecryptor::from_pem(&SecretValue::new(key.private_key_pem())).unwrap();
        (key, decryptor)
    }

    fn mint(key: &PasswordContextKey, alg: Alg, enc: Enc) -> String {
        encrypt_password_context(
            key.certificate_pem(),
            alg,
            enc,
            "Casey@Contoso.com",
            "Pa$$w0rd, with ünïcode",
            "b3c1e3a2-5f0e-4a7b-9a61-1d2f3e4a5b6c",
        )
        .unwrap()
    }

    #[test]
    fn every_accepted_combination_decrypts() {
        let (key, decryptor) = key();
        for alg in Alg::ACCEPTED {
            for enc in Enc::ALL {
                let context = decryptor.decrypt(&mint(&key, alg, enc)).unwrap();
                assert_eq!(context.username(), "Casey@Contoso.com", "{alg:?} {enc:?}");
                assert_eq!(context.password().expose(), "Pa$$w0rd, with ünïcode");
                assert_eq!(context.nonce(), "b3c1e3a2-5f0e-4a7b-9a61-1d2f3e4a5b6c");
            }
        }
    }

    #[test]
    fn pkcs1_keys_and_escaped_newlines_are_accepted() {
        let key = PasswordContextKey::generate().unwrap();
        let pkcs1 = key.private_key_pkcs1_pem().unwrap();
        let escaped = key.private_key_pem().replace('\n', "\\n");
        let with_cert = format!("{}{}", key.certificate_pem(), key.private_key_pem());
        for pem in [pkcs1, escaped, with_cert] {
            let decryptor = PasswordContextDecryptor::from_pem(&SecretValue::new(pem)).unwrap();
            let context = decryptor
                .decrypt(&mint(&key, Alg::RsaOaep256, Enc::A256Gcm))
                .unwrap();
            assert_eq!(context.nonce(), "b3c1e3a2-5f0e-4a7b-9a61-1d2f3e4a5b6c");
        }
    }

    #[test]
    fn unusable_private_keys_say_what_to_store() {
        let key = PasswordContextKey::generate().unwrap();
        let cases = [
            ("not a pem", PrivateKeyError::NotPem),
            (
                key.certificate_pem(),
                PrivateKeyError::NoPrivateKey {
                    found: "CERTIFICATE".into(),
                },
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                PrivateKeyError::Encrypted,
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                PrivateKeyError::NotRsa,
            ),
        ];
        for (pem, expected) in cases {
            let err = PasswordContextDecryptor::from_pem(&SecretValue::new(pem)).unwrap_err();
            assert_eq!(err, expected);
        }
    }

    #[test]
    fn a_previous_key_still_opens_contexts_during_rotation() {
        let (old, _) = key();
        let (new, _) = key();
        let decryptor =
            PasswordContextDecryptor::from_pem(&SecretValue::new(new.private_key_pem()))
                .unwrap()
                .with_additional_key(&SecretValue::new(old.private_key_pem()))
                .unwrap();
        for key in [&old, &new] {
            assert!(
                decryptor
                    .decrypt(&mint(key, Alg::RsaOaep, Enc::A128Gcm))
                    .is_ok()
            );
        }
    }

    #[test]
    fn a_context_for_another_key_is_undecryptable() {
        let (_, decryptor) = key();
        let (other, _) = key();
        for enc in Enc::ALL {
            let err = decryptor
                .decrypt(&mint(&other, Alg::RsaOaep256, enc))
                .unwrap_err();
            assert_eq!(err, PasswordContextError::Undecryptable);
            assert_eq!(err.code(), "undecryptable_password_context");
        }
    }

    /// Flipping one bit anywhere in the wrapped key, IV, ciphertext or tag, or changing the
    /// header, gives the one undistinguished error.
    #[test]
    fn tampering_with_any_part_is_detected() {
        let (key, decryptor) = key();
        for enc in Enc::ALL {
            let jwe = mint(&key, Alg::RsaOaep256, enc);
            let parts: Vec<&str> = jwe.split('.').collect();
            for index in 1..5 {
                let mut bytes = URL_SAFE_NO_PAD.decode(parts[index]).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
                let mut tampered: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                tampered[index] = URL_SAFE_NO_PAD.encode(&bytes);
                let err = decryptor.decrypt(&tampered.join(".")).unwrap_err();
                assert_eq!(
                    err,
                    PasswordContextError::Undecryptable,
                    "{enc:?} part {index}"
                );
            }
            // Same algorithms, different header bytes: the AAD no longer matches.
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
            let respaced = format!(r#"{{"alg": {}, "enc": {}}}"#, header["alg"], header["enc"]);
            let mut tampered: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            tampered[0] = URL_SAFE_NO_PAD.encode(respaced);
            let err = decryptor.decrypt(&tampered.join(".")).unwrap_err();
            assert_eq!(err, PasswordContextError::Undecryptable, "{enc:?} header");
        }
    }

    #[test]
    fn refused_algorithms_and_headers_never_reach_the_private_key() {
        let (key, decryptor) = key();
        let rsa1_5 = encrypt_password_context(
            key.certificate_pem(),
            Alg::Rsa1_5,
            Enc::A128CbcHs256,
            "u",
            "p",
            "n",
        )
        .unwrap();
        assert_eq!(
            decryptor.decrypt(&rsa1_5).unwrap_err(),
            PasswordContextError::UnsupportedKeyManagement {
                alg: "RSA1_5".into()
            }
        );
        let relabel = |name: &str, value: &str| {
            let mut extra = Map::new();
            extra.insert(name.into(), value.into());
            encrypt_jwe(
                key.public_key_pem(),
                Alg::RsaOaep256,
                Enc::A256Gcm,
                &extra,
                b"{}",
            )
            .unwrap()
        };
        let cases = [
            (
                relabel("alg", "dir"),
                PasswordContextError::UnsupportedKeyManagement { alg: "dir".into() },
            ),
            (
                relabel("alg", "RSA-OAEP-384"),
                PasswordContextError::UnsupportedKeyManagement {
                    alg: "RSA-OAEP-384".into(),
                },
            ),
            (
                relabel("enc", "A192GCM"),
                PasswordContextError::UnsupportedContentEncryption {
                    enc: "A192GCM".into(),
                },
            ),
            (
                relabel("zip", "DEF"),
                PasswordContextError::UnsupportedHeader { name: "zip" },
            ),
            (
                relabel("crit", "exp"),
                PasswordContextError::UnsupportedHeader { name: "crit" },
            ),
        ];
        for (jwe, expected) in cases {
            let err = decryptor.decrypt(&jwe).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.code(), "undecryptable_password_context");
        }
    }

    #[test]
    fn malformed_compact_serializations_are_refused() {
        let (key, decryptor) = key();
        let good = mint(&key, Alg::RsaOaep256, Enc::A256Gcm);
        let parts: Vec<&str> = good.split('.').collect();
        let with = |index: usize, value: &str| {
            let mut parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            parts[index] = value.to_owned();
            parts.join(".")
        };
        let cases = [
            (
                "{5-part-JWE}".to_owned(),
                PasswordContextError::NotCompactJwe { parts: 1 },
            ),
            (
                parts[..3].join("."),
                PasswordContextError::NotCompactJwe { parts: 3 },
            ),
            (
                with(0, "!!"),
                PasswordContextError::MalformedJwe {
                    part: "protected header",
                },
            ),
            (
                with(0, &URL_SAFE_NO_PAD.encode(r#"{"enc":"A256GCM"}"#)),
                PasswordContextError::MalformedJwe {
                    part: "protected header",
                },
            ),
            (
                with(2, "AAAA"),
                PasswordContextError::MalformedJwe {
                    part: "initialization vector",
                },
            ),
            (
                with(4, "AAAA"),
                PasswordContextError::MalformedJwe {
                    part: "authentication tag",
                },
            ),
            (
                with(3, "a+b/"),
                PasswordContextError::MalformedJwe { part: "ciphertext" },
            ),
        ];
        for (jwe, expected) in cases {
            assert_eq!(decryptor.decrypt(&jwe).unwrap_err(), expected);
        }
    }

    #[test]
    fn plaintext_may_be_a_json_object_and_must_carry_the_claims() {
        let (key, decryptor) = key();
        let seal = |plaintext: &[u8]| {
            encrypt_jwe(
                key.public_key_pem(),
                Alg::RsaOaep256,
                Enc::A128CbcHs256,
                &Map::new(),
                plaintext,
            )
            .unwrap()
        };
        let json_plaintext =
            json!({"user-password": "p", "username": "u@x.org", "nonce": "n-1"}).to_string();
        let context = decryptor.decrypt(&seal(json_plaintext.as_bytes())).unwrap();
        assert_eq!(context.username(), "u@x.org");

        let odd_case = json!({"User-Password": "p", "UserName": "u", "Nonce": "n"});
        let context = decryptor
            .decrypt(&seal(unsigned_jwt(&odd_case).as_bytes()))
            .unwrap();
        assert_eq!(context.password().expose(), "p");

        let cases: [(Vec<u8>, PasswordContextError); 7] = [
            (
                unsigned_jwt(&json!({"user-password": "p", "username": "u"})).into_bytes(),
                PasswordContextError::MissingClaim { claim: "nonce" },
            ),
            (
                unsigned_jwt(&json!({"user-password": "p", "username": "u", "nonce": "  "}))
                    .into_bytes(),
                PasswordContextError::InvalidClaim {
                    claim: "nonce",
                    problem: "is empty",
                },
            ),
            (
                unsigned_jwt(&json!({"user-password": 5, "username": "u", "nonce": "n"}))
                    .into_bytes(),
                PasswordContextError::InvalidClaim {
                    claim: "user-password",
                    problem: "is not a string",
                },
            ),
            (
                unsigned_jwt(&json!({"user-password": "p", "nonce": "n"})).into_bytes(),
                PasswordContextError::MissingClaim { claim: "username" },
            ),
            (
                b"hello".to_vec(),
                PasswordContextError::InvalidPlaintext {
                    problem: "neither a JWT nor a JSON object",
                },
            ),
            (
                vec![0xff, 0xfe],
                PasswordContextError::InvalidPlaintext {
                    problem: "not UTF-8 text",
                },
            ),
            (
                b"[1, 2]".to_vec(),
                PasswordContextError::InvalidPlaintext {
                    problem: "neither a JWT nor a JSON object",
                },
            ),
        ];
        for (plaintext, expected) in cases {
            let err = decryptor.decrypt(&seal(&plaintext)).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.code(), "invalid_password_context");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let (key, decryptor) = key();
        let context = decryptor
            .decrypt(&mint(&key, Alg::RsaOaep256, Enc::A256Gcm))
            .unwrap();
        let debug = format!("{context:?}");
        assert!(!debug.contains("Pa$$w0rd"), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert_eq!(
            format!("{decryptor:?}"),
            "PasswordContextDecryptor { keys: 1 }"
        );
    }
}
