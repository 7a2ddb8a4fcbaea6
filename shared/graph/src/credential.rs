//! App-only client credentials: a client secret (fixed, or read from a [`SecretProvider`] so a rotated
//! secret is picked up without a restart), or a certificate whose private key signs a client
//! assertion JWT (docs/protocols/graph-api.md b.2-b.3).
//!
//! The assertion carries `aud` = the token endpoint URL, `iss` = `sub` = the client id, a fresh `jti`
//! (UUID v4), `nbf` = now and `exp` = now + 10 minutes. The default algorithm is PS256 with the
//! `x5t#S256` header (the current documentation); RS256 with the SHA-1 `x5t` header is the legacy form
//! many tenants and libraries still use. Neither secrets nor keys ever appear in `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::GraphError;

/// Lifetime of a client assertion: "keep it short — 5-10 minutes" (graph-api.md b.3).
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A string that must not leak into logs: `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Box<str>);

impl SecretString {
    /// Wraps a secret so it cannot be printed by accident.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into().into_boxed_str())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Serialized as the plain string: only request bodies that must carry the secret (e.g. a new user's
/// password) serialize one.
impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// How a client assertion is signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256, header `x5t#S256` (SHA-256 thumbprint): what Microsoft documents now.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, header `x5t` (SHA-1 thumbprint): the legacy form.
    Rs256,
}

/// Where a client secret that can be rotated comes from (a secret store such as AWS Secrets Manager).
///
/// The token source asks for the secret before every token request, so an implementation should
/// cache it (token requests are rare: one per token lifetime, about an hour). When Entra refuses the
/// secret as wrong or expired (AADSTS7000215, AADSTS7000222) the token source calls
/// [`SecretProvider::invalidate`] and asks once more: a secret rotated in the store since it was
/// cached is then picked up without a restart.
#[async_trait::async_trait]
pub trait SecretProvider: Send + Sync {
    /// The current client secret, from the provider's cache or its store.
    async fn client_secret(&self) -> Result<SecretString, SecretProviderError>;

    /// Entra refused the secret last returned: drop any cached copy, so the next
    /// [`SecretProvider::client_secret`] reads the store again.
    fn invalidate(&self);
}

/// Why a [`SecretProvider`] could not return the secret. Its message names where the secret lives
/// and why it could not be read, never the secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the client secret could not be obtained: {source}")]
pub struct SecretProviderError {
    #[source]
    source: Arc<dyn std::error::Error + Send + Sync>,
    transient: bool,
}

impl SecretProviderError {
    /// A failure that will not go away by itself (no such secret, access denied, malformed value).
    pub fn permanent(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Arc::from(source.into()),
            transient: false,
        }
    }

    /// A failure that may go away by itself (the store is unreachable, throttled or failing).
    pub fn transient(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Arc::from(source.into()),
            transient: true,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// How the app proves its identity to the token endpoint.
#[derive(Clone)]
pub enum ClientCredential {
    /// A client secret from the app registration, fixed for the life of the client.
    Secret(SecretString),
    /// A client secret read from `provider` before each token request, refetched once when Entra
    /// refuses it (see [`SecretProvider`]): what a deployed function whose secret is rotated uses.
    SecretProvider(Arc<dyn SecretProvider>),
    /// A certificate uploaded to the app registration, and its RSA private key (PKCS#8 `PRIVATE KEY`
    /// or PKCS#1 `RSA PRIVATE KEY` PEM).
    Certificate {
        cert_pem: String,
        private_key_pem: SecretString,
        algorithm: AssertionAlgorithm,
    },
    /// A CI job's OIDC token as the client assertion (workload identity federation): no secret is
    /// stored anywhere (see [`crate::federated`]).
    Federated(crate::federated::FederatedTokenSource),
}

impl ClientCredential {
    /// A client-secret credential.
    pub fn secret(secret: impl Into<String>) -> Self {
        Self::Secret(SecretString::new(secret))
    }

    /// A client-secret credential whose secret comes from `provider` (see [`SecretProvider`]).
    pub fn secret_provider(provider: Arc<dyn SecretProvider>) -> Self {
        Self::SecretProvider(provider)
    }

    /// A certificate credential signing with the default algorithm (PS256).
    pub fn certificate(cert_pem: impl Into<String>, private_key_pem: impl Into<String>) -> Self {
        Self::Certificate {
            cert_pem: cert_pem.into(),
            private_key_pem: SecretString::new(private_key_pem),
            algorithm: AssertionAlgorithm::default(),
        }
    }
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("ClientCredential::Secret(<redacted>)"),
            Self::SecretProvider(_) => f.write_str("ClientCredential::SecretProvider(..)"),
            Self::Certificate { algorithm, .. } => f
                .debug_struct("ClientCredential::Certificate")
                .field("algorithm", algorithm)
                .finish_non_exhaustive(),
            Self::Federated(source) => f
                .debug_tuple("ClientCredential::Federated")
                .field(source)
                .finish(),
        }
    }
}

/// Why a credential cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the certificate is not a PEM `CERTIFICATE`: {0}; pass the PEM text of the certificate uploaded to the app registration"
    )]
    Certificate(String),
    #[error(
        "the private key is not a usable RSA key: {0}; pass the PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM of the certificate's key"
    )]
    PrivateKey(String),
    #[error(
        "the private key does not belong to the certificate; check that both come from the same key pair"
    )]
    KeyMismatch,
}

/// A ready-to-send credential: the secret, where to get it, or a signer for client assertions.
pub(crate) enum PreparedCredential {
    Secret(SecretString),
    Provider(Arc<dyn SecretProvider>),
    Assertion(Box<AssertionSigner>),
    Federated(crate::federated::FederatedTokenSource),
}

/// Signs client assertions for one client and one token endpoint.
pub(crate) struct AssertionSigner {
    header: Header,
    key: EncodingKey,
    client_id: String,
    audience: String,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

impl PreparedCredential {
    pub(crate) fn prepare(
        credential: &ClientCredential,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Self, CredentialError> {
        match credential {
            ClientCredential::Secret(secret) => Ok(Self::Secret(secret.clone())),
            ClientCredential::SecretProvider(provider) => Ok(Self::Provider(Arc::clone(provider))),
            ClientCredential::Federated(source) => Ok(Self::Federated(source.clone())),
            ClientCredential::Certificate {
                cert_pem,
                private_key_pem,
                algorithm,
            } => Ok(Self::Assertion(Box::new(AssertionSigner::new(
                cert_pem,
                private_key_pem.expose_secret(),
                *algorithm,
                client_id,
                token_endpoint,
            )?))),
        }
    }
}

impl AssertionSigner {
    fn new(
        cert_pem: &str,
        private_key_pem: &str,
        algorithm: AssertionAlgorithm,
        client_id: &str,
        audience: &str,
    ) -> Result<Self, CredentialError> {
        let cert = pem::parse(cert_pem).map_err(|e| CredentialError::Certificate(e.to_string()))?;
        if cert.tag() != "CERTIFICATE" {
            return Err(CredentialError::Certificate(format!(
                "found a `{}` block",
                cert.tag()
            )));
        }
        let key =
            pem::parse(private_key_pem).map_err(|e| CredentialError::PrivateKey(e.to_string()))?;
        let key_pair = match key.tag() {
            "PRIVATE KEY" => aws_lc_rs::rsa::KeyPair::from_pkcs8(key.contents()),
            "RSA PRIVATE KEY" => aws_lc_rs::rsa::KeyPair::from_der(key.contents()),
            other => {
                return Err(CredentialError::PrivateKey(format!(
                    "found a `{other}` block"
                )));
            }
        }
        .map_err(|e| CredentialError::PrivateKey(e.to_string()))?;
        // The SubjectPublicKeyInfo of an RSA certificate holds the PKCS#1 public key verbatim.
        let public_key = aws_lc_rs::signature::KeyPair::public_key(&key_pair).as_ref();
        if !cert
            .contents()
            .windows(public_key.len())
            .any(|window| window == public_key)
        {
            return Err(CredentialError::KeyMismatch);
        }
        let encoding_key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|e| CredentialError::PrivateKey(e.to_string()))?;
        let thumbprint = |algorithm| {
            URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(algorithm, cert.contents()))
        };
        let header = match algorithm {
            AssertionAlgorithm::Ps256 => {
                let mut header = Header::new(Algorithm::PS256);
                header.x5t_s256 = Some(thumbprint(&aws_lc_rs::digest::SHA256));
                header
            }
            AssertionAlgorithm::Rs256 => {
                let mut header = Header::new(Algorithm::RS256);
                header.x5t = Some(thumbprint(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY));
                header
            }
        };
        Ok(Self {
            header,
            key: encoding_key,
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// A fresh, signed client assertion.
    pub(crate) fn sign(&self) -> Result<String, GraphError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = AssertionClaims {
            aud: &self.audience,
            iss: &self.client_id,
            sub: &self.client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| {
            GraphError::Credential(format!("signing the client assertion failed: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let secret = ClientCredential::secret("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let cert = ClientCredential::certificate("CERT", "KEY-MATERIAL");
        assert!(!format!("{cert:?}").contains("KEY-MATERIAL"));
        assert!(!format!("{:?}", SecretString::new("hunter2")).contains("hunter2"));
        let provider = ClientCredential::secret_provider(Arc::new(FixedProvider));
        assert_eq!(
            format!("{provider:?}"),
            "ClientCredential::SecretProvider(..)"
        );
    }

    struct FixedProvider;

    #[async_trait::async_trait]
    impl SecretProvider for FixedProvider {
        async fn client_secret(&self) -> Result<SecretString, SecretProviderError> {
            Ok(SecretString::new("hunter2"))
        }

        fn invalidate(&self) {}
    }

    fn signed_header_and_claims(algorithm: AssertionAlgorithm) -> (Header, serde_json::Value) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["t".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let credential = ClientCredential::Certificate {
            cert_pem: cert.pem(),
            private_key_pem: key.serialize_pem().into(),
            algorithm,
        };
        let Ok(PreparedCredential::Assertion(signer)) = PreparedCredential::prepare(
            &credential,
            "client-1",
            "https://login/t/oauth2/v2.0/token",
        ) else {
            panic!("certificate credential must prepare");
        };
        let assertion = signer.sign().unwrap();
        let header = jsonwebtoken::decode_header(&assertion).unwrap();
        let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&assertion)
            .unwrap()
            .claims;
        let der = pem::parse(cert.pem()).unwrap();
        let expected_s256 = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            der.contents(),
        ));
        let expected_sha1 = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            der.contents(),
        ));
        match algorithm {
            AssertionAlgorithm::Ps256 => assert_eq!(header.x5t_s256, Some(expected_s256)),
            AssertionAlgorithm::Rs256 => assert_eq!(header.x5t, Some(expected_sha1)),
        }
        (header, claims)
    }

    #[test]
    fn assertions_follow_the_documented_shape() {
        for algorithm in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
            let (header, claims) = signed_header_and_claims(algorithm);
            let expected = match algorithm {
                AssertionAlgorithm::Ps256 => Algorithm::PS256,
                AssertionAlgorithm::Rs256 => Algorithm::RS256,
            };
            assert_eq!(header.alg, expected);
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            assert_eq!(claims["aud"], "https://login/t/oauth2/v2.0/token");
            assert_eq!(claims["iss"], "client-1");
            assert_eq!(claims["sub"], "client-1");
            assert_eq!(
                claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(),
                600
            );
            assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
        }
    }

    #[test]
    fn garbage_pem_is_a_typed_error() {
        let credential = ClientCredential::certificate("not pem", "not pem");
        assert!(matches!(
            PreparedCredential::prepare(&credential, "c", "https://x/t"),
            Err(CredentialError::Certificate(_))
        ));
    }
}
