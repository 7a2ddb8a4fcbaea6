//! RSA signing keys of the simulated tenant and their JWKS form.
//!
//! Entra signs access tokens with RSA-2048 keys published in the tenant's JWKS as `kty` `RSA`,
//! `use` `sig`, with a `kid` equal to `x5t` (the base64url SHA-1 thumbprint of the self-signed
//! certificate in `x5c`). The sandbox reproduces that shape so a validator sees what it would see
//! against `login.microsoftonline.com` or `{tenant}.ciamlogin.com`.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

use crate::SandboxError;

/// One RSA-2048 signing key with everything needed to sign with it and to publish it.
pub(crate) struct SigningKey {
    /// Key id: the certificate thumbprint, as Entra sets it (`kid` == `x5t`).
    pub(crate) kid: String,
    /// Base64url SHA-1 thumbprint of the certificate.
    x5t: String,
    /// Base64url modulus, no leading zero.
    n: String,
    /// Base64url public exponent.
    e: String,
    /// Standard-base64 DER of the self-signed certificate (`x5c[0]`).
    x5c: String,
    /// Private key for RS256/PS256 signing through jsonwebtoken.
    pub(crate) encoding: EncodingKey,
    /// SubjectPublicKeyInfo PEM of the public key: the HMAC secret of the algorithm-confusion attack.
    pub(crate) public_key_pem: String,
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key and its self-signed certificate (about 100 ms).
    pub(crate) fn generate() -> Result<Self, SandboxError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| SandboxError::Crypto(format!("RSA key generation: {e}")))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|e| SandboxError::Crypto(format!("PKCS#8 export: {e}")))?;
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let spki = public
            .as_der()
            .map_err(|e| SandboxError::Crypto(format!("public key export: {e}")))?;
        let public_key_pem = to_pem("PUBLIC KEY", spki.as_ref());

        let encoding = EncodingKey::from_rsa_pem(to_pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .map_err(|e| SandboxError::Crypto(format!("signing key import: {e}")))?;

        let cert_der = self_signed_certificate(pkcs8.as_ref())?;
        let thumbprint = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        let x5t = URL_SAFE_NO_PAD.encode(thumbprint.as_ref());

        Ok(Self {
            kid: x5t.clone(),
            x5t,
            n,
            e,
            x5c: STANDARD.encode(&cert_der),
            encoding,
            public_key_pem,
        })
    }

    /// The JWK as Entra publishes it; `issuer` is present on the v2.0 keys endpoints only.
    pub(crate) fn to_jwk(&self, issuer: Option<&str>) -> Value {
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.x5t,
            "n": self.n,
            "e": self.e,
            "x5c": [self.x5c],
        });
        if let (Some(issuer), Some(map)) = (issuer, jwk.as_object_mut()) {
            map.insert("issuer".into(), Value::String(issuer.to_owned()));
        }
        jwk
    }
}

/// A certificate for `x5c`, subject `CN=accounts.accesscontrol.windows.net` like Entra's signing certs.
fn self_signed_certificate(pkcs8: &[u8]) -> Result<Vec<u8>, SandboxError> {
    let crypto = |e: rcgen::Error| SandboxError::Crypto(format!("certificate: {e}"));
    let key = rcgen::KeyPair::try_from(pkcs8).map_err(crypto)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "accounts.accesscontrol.windows.net",
    );
    let cert = params.self_signed(&key).map_err(crypto)?;
    Ok(cert.der().to_vec())
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
    use super::*;

    #[test]
    fn generated_key_publishes_entra_shaped_jwk() {
        let key = SigningKey::generate().unwrap();
        let jwk = key.to_jwk(Some("https://issuer.example/v2.0"));
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], jwk["x5t"]);
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["issuer"], "https://issuer.example/v2.0");
        // 2048-bit modulus: 256 bytes -> 342 base64url characters.
        assert_eq!(jwk["n"].as_str().unwrap().len(), 342);
        assert!(
            key.public_key_pem
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        assert!(key.to_jwk(None).get("issuer").is_none());
    }
}
