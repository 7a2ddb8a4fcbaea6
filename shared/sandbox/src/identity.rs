//! Simulated Entra identity endpoints on the inbound-token side: OIDC discovery, JWKS with key
//! rotation, and a minter for extension-callback and Graph notification validation tokens.
//!
//! Contracts reproduced: docs/protocols/extension-callbacks.md (b) (issuer forms, v1/v2 claims,
//! authorized party `99045fe1-…`) and docs/protocols/change-notifications.md (C) (Graph
//! `validationTokens`, appid `0bf30f3b-…`, keys from the `common` authority).
//!
//! Routes (tenant = tenant id, tenant name, `{name}.onmicrosoft.com`, or `common`):
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration` and `GET /{tenant}/.well-known/openid-configuration`
//! - `GET /{tenant}/discovery/v2.0/keys` and `GET /{tenant}/discovery/keys`
//!
//! All authorities share one key set, as Entra's do.

mod discovery;
mod keys;
mod minting;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use axum::Router;
use serde_json::{Map, Value, json};

use crate::{
    ENTRA_EXTENSION_CALLER_APP_ID, GRAPH_CHANGE_TRACKING_APP_ID, SandboxConfig, SandboxError,
    SandboxState,
};
use keys::SigningKey;
use minting::{now_secs, opaque_id};

pub use minting::TokenBuilder;

/// Lifetime Entra gives the access tokens it sends to extensions (seconds).
const INBOUND_TOKEN_LIFETIME_SECS: i64 = 3600;

/// Which issuer form a minted token carries (docs/protocols/extension-callbacks.md (b)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    /// `https://{tid}.ciamlogin.com/{tid}/v2.0`: v2 tokens of an External ID (CIAM) tenant.
    CiamV2,
    /// `https://login.microsoftonline.com/{tid}/v2.0`: v2 tokens of a workforce tenant.
    LoginV2,
    /// `https://sts.windows.net/{tid}/`: every v1 token, including Graph validation tokens.
    StsV1,
}

impl IssuerKind {
    /// The exact issuer string for a tenant id.
    pub fn for_tenant(self, tenant_id: &str) -> String {
        match self {
            Self::CiamV2 => format!("https://{tenant_id}.ciamlogin.com/{tenant_id}/v2.0"),
            Self::LoginV2 => format!("https://login.microsoftonline.com/{tenant_id}/v2.0"),
            Self::StsV1 => format!("https://sts.windows.net/{tenant_id}/"),
        }
    }
}

/// How a minted token is signed, including the broken ways a validator must reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// RS256 with the active published key: what Entra does.
    #[default]
    Rs256,
    /// A genuine RSA-PSS signature by the active key; valid crypto, but not what Entra uses.
    Ps256,
    /// `alg` `none` with an empty signature.
    None,
    /// HMAC-SHA256 keyed with the public key's PEM: the RS/HS algorithm-confusion attack.
    Hs256WithPublicKey,
    /// RS256 by a key that is not in the JWKS, under the active key's `kid` unless one is given.
    Rs256UntrustedKey,
}

/// The published keys: the active one signs, older ones stay published until retired.
struct KeyRing {
    active: Arc<SigningKey>,
    published: Vec<Arc<SigningKey>>,
}

/// Identity side of the tenant: signing keys, the service principal ids tokens name, and
/// request counters that let tests assert a validator's caching.
pub struct IdentityState {
    ring: RwLock<KeyRing>,
    /// An attacker's key, made on first use (key generation is slow).
    untrusted: OnceLock<Arc<SigningKey>>,
    /// Object id of the Entra extension caller's service principal in this tenant (`oid`/`sub`).
    extension_caller_object_id: String,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

impl IdentityState {
    /// Generates the tenant's first signing key (RSA-2048, ~100 ms).
    pub fn new(_config: &SandboxConfig) -> Result<Self, SandboxError> {
        let active = Arc::new(SigningKey::generate()?);
        Ok(Self {
            ring: RwLock::new(KeyRing {
                published: vec![active.clone()],
                active,
            }),
            untrusted: OnceLock::new(),
            extension_caller_object_id: uuid::Uuid::new_v4().to_string(),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
        })
    }

    fn active_key(&self) -> Arc<SigningKey> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .active
            .clone()
    }

    fn published_keys(&self) -> Vec<Arc<SigningKey>> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .published
            .clone()
    }

    fn untrusted_key(&self) -> Arc<SigningKey> {
        self.untrusted
            .get_or_init(|| {
                // Generating a key is not input-driven; failing here means the crypto library is broken.
                Arc::new(SigningKey::generate().expect("RSA key generation works"))
            })
            .clone()
    }

    fn rotate(&self) -> Result<String, SandboxError> {
        let next = Arc::new(SigningKey::generate()?);
        let kid = next.kid.clone();
        let mut ring = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        ring.published.push(next.clone());
        ring.active = next;
        Ok(kid)
    }

    fn retire(&self, kid: &str) {
        let mut ring = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        ring.published.retain(|key| key.kid != kid);
    }
}

/// Discovery and JWKS routes of every authority the sandbox serves.
pub fn router() -> Router<Arc<SandboxState>> {
    discovery::router()
}

impl crate::Sandbox {
    /// A v2 access token exactly as Entra mints it to call a custom authentication extension.
    pub fn extension_token(&self) -> TokenBuilder {
        let config = &self.state.config;
        let tid = &config.tenant_id;
        let oid = &self.state.identity.extension_caller_object_id;
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(config.extension_app_id));
        claims.insert("iss".into(), json!(IssuerKind::CiamV2.for_tenant(tid)));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + INBOUND_TOKEN_LIFETIME_SECS));
        claims.insert("aio".into(), json!(opaque_id(42)));
        claims.insert("azp".into(), json!(ENTRA_EXTENSION_CALLER_APP_ID));
        claims.insert("azpacr".into(), json!("0"));
        claims.insert("idtyp".into(), json!("app"));
        claims.insert("oid".into(), json!(oid));
        claims.insert("rh".into(), json!(format!("0.{}.", opaque_id(48))));
        claims.insert("sub".into(), json!(oid));
        claims.insert("tid".into(), json!(tid));
        claims.insert("uti".into(), json!(opaque_id(16)));
        claims.insert("ver".into(), json!("2.0"));
        TokenBuilder::new(self.state.clone(), claims)
    }

    /// The v1 form of the extension token: `sts.windows.net` issuer, App ID URI audience, `appid`.
    pub fn extension_token_v1(&self) -> TokenBuilder {
        let config = &self.state.config;
        let tid = &config.tenant_id;
        let oid = &self.state.identity.extension_caller_object_id;
        let issuer = IssuerKind::StsV1.for_tenant(tid);
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(config.extension_app_id_uri));
        claims.insert("iss".into(), json!(issuer));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + INBOUND_TOKEN_LIFETIME_SECS));
        claims.insert("aio".into(), json!(opaque_id(42)));
        claims.insert("appid".into(), json!(ENTRA_EXTENSION_CALLER_APP_ID));
        claims.insert("appidacr".into(), json!("0"));
        claims.insert("idp".into(), json!(issuer));
        claims.insert("idtyp".into(), json!("app"));
        claims.insert("oid".into(), json!(oid));
        claims.insert("rh".into(), json!(format!("0.{}.", opaque_id(48))));
        claims.insert("sub".into(), json!(oid));
        claims.insert("tid".into(), json!(tid));
        claims.insert("uti".into(), json!(opaque_id(16)));
        claims.insert("ver".into(), json!("1.0"));
        TokenBuilder::new(self.state.clone(), claims)
    }

    /// A Graph change-notification validation token for `audience` (our app id), shaped like the
    /// example in docs/protocols/change-notifications.md (C).
    pub fn graph_notification_token(&self, audience: &str) -> TokenBuilder {
        graph_notification_token(self.state.clone(), audience)
    }

    /// Makes a new key the active signer; the previous one stays published (Entra's rollover).
    /// Returns the new `kid`.
    pub fn rotate_signing_key(&self) -> String {
        // Key generation only fails if the crypto library is broken; this is test tooling.
        self.state
            .identity
            .rotate()
            .expect("RSA key generation works")
    }

    /// Stops publishing a key. Retiring the active key leaves it signing tokens nobody can verify.
    pub fn retire_signing_key(&self, kid: &str) {
        self.state.identity.retire(kid);
    }

    /// `kid` of the key that currently signs tokens.
    pub fn active_kid(&self) -> String {
        self.state.identity.active_key().kid.clone()
    }

    /// `kid`s currently published in the JWKS.
    pub fn published_kids(&self) -> Vec<String> {
        self.state
            .identity
            .published_keys()
            .iter()
            .map(|key| key.kid.clone())
            .collect()
    }

    /// The tenant's issuer string of the given form.
    pub fn issuer(&self, kind: IssuerKind) -> String {
        kind.for_tenant(&self.state.config.tenant_id)
    }

    /// How many JWKS documents have been served (any authority), so tests can assert caching.
    pub fn jwks_fetch_count(&self) -> usize {
        self.state.identity.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many OIDC discovery documents have been served (any authority).
    pub fn discovery_fetch_count(&self) -> usize {
        self.state.identity.discovery_fetches.load(Ordering::SeqCst)
    }
}

/// Values the discovery documents and JWKS need, rendered as JSON.
fn published_jwks(state: &IdentityState, issuer: Option<&str>) -> Value {
    let keys: Vec<Value> = state
        .published_keys()
        .iter()
        .map(|key| key.to_jwk(issuer))
        .collect();
    json!({ "keys": keys })
}

/// The Graph change-notification validation token of [`crate::Sandbox::graph_notification_token`],
/// for code that holds the state rather than the [`crate::Sandbox`] (the notification publisher).
pub(crate) fn graph_notification_token(state: Arc<SandboxState>, audience: &str) -> TokenBuilder {
    let tid = &state.config.tenant_id;
    let issuer = IssuerKind::StsV1.for_tenant(tid);
    let now = now_secs();
    let mut claims = Map::new();
    claims.insert("aud".into(), json!(audience));
    claims.insert("iss".into(), json!(issuer));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + INBOUND_TOKEN_LIFETIME_SECS));
    claims.insert("aio".into(), json!(opaque_id(24)));
    claims.insert("appid".into(), json!(GRAPH_CHANGE_TRACKING_APP_ID));
    claims.insert("appidacr".into(), json!("2"));
    claims.insert("idp".into(), json!(issuer));
    claims.insert("tid".into(), json!(tid));
    claims.insert("uti".into(), json!(opaque_id(16)));
    claims.insert("ver".into(), json!("1.0"));
    TokenBuilder::new(state, claims)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, DecodingKey};
    use serde_json::Value;

    use super::*;
    use crate::Sandbox;

    fn part(token: &str, index: usize) -> Value {
        let segment = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    fn keys(claims: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Verifies an RS256/PS256 token against the published JWK of its `kid`.
    async fn verifies(sandbox: &Sandbox, token: &str, alg: Algorithm) -> bool {
        let url = sandbox.url().join("common/discovery/v2.0/keys").unwrap();
        let jwks: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let kid = part(token, 0)["kid"].as_str().unwrap().to_owned();
        let Some(jwk) = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
        else {
            return false;
        };
        let key = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let (message, signature) = token.rsplit_once('.').unwrap();
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg).unwrap()
    }

    #[tokio::test]
    async fn extension_tokens_carry_entra_claims() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let tid = sandbox.tenant_id().to_owned();

        let v2 = sandbox.extension_token().sign();
        let header = part(&v2, 0);
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], sandbox.active_kid());
        let claims = part(&v2, 1);
        assert_eq!(
            keys(&claims),
            vec![
                "aio", "aud", "azp", "azpacr", "exp", "iat", "idtyp", "iss", "nbf", "oid", "rh",
                "sub", "tid", "uti", "ver"
            ]
        );
        assert_eq!(claims["aud"], sandbox.config().extension_app_id);
        assert_eq!(
            claims["iss"],
            format!("https://{tid}.ciamlogin.com/{tid}/v2.0")
        );
        assert_eq!(claims["azp"], ENTRA_EXTENSION_CALLER_APP_ID);
        assert_eq!(claims["ver"], "2.0");
        assert_eq!(claims["tid"], tid);
        assert_eq!(claims["oid"], claims["sub"]);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
        assert!(verifies(&sandbox, &v2, Algorithm::RS256).await);

        let v1 = part(&sandbox.extension_token_v1().sign(), 1);
        assert_eq!(v1["aud"], sandbox.config().extension_app_id_uri);
        assert_eq!(v1["iss"], format!("https://sts.windows.net/{tid}/"));
        assert_eq!(v1["appid"], ENTRA_EXTENSION_CALLER_APP_ID);
        assert_eq!(v1["ver"], "1.0");
        assert!(v1.get("azp").is_none());
    }

    #[tokio::test]
    async fn graph_token_matches_the_documented_example() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let tid = sandbox.tenant_id().to_owned();
        let token = sandbox
            .graph_notification_token("8e460676-ae3f-4b1e-8790-ee0fb5d6148f")
            .sign();
        let claims = part(&token, 1);
        // Same members as the example in change-notifications.md (C).
        assert_eq!(
            keys(&claims),
            vec![
                "aio", "appid", "appidacr", "aud", "exp", "iat", "idp", "iss", "nbf", "tid", "uti",
                "ver"
            ]
        );
        assert_eq!(claims["appid"], GRAPH_CHANGE_TRACKING_APP_ID);
        assert_eq!(claims["aud"], "8e460676-ae3f-4b1e-8790-ee0fb5d6148f");
        assert_eq!(claims["iss"], format!("https://sts.windows.net/{tid}/"));
        assert_eq!(claims["idp"], claims["iss"]);
        assert!(verifies(&sandbox, &token, Algorithm::RS256).await);
    }

    #[tokio::test]
    async fn builder_edits_and_broken_signatures() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let edited = part(
            &sandbox
                .extension_token()
                .claim("azp", "someone-else")
                .without_claim("tid")
                .issuer(IssuerKind::LoginV2)
                .expires_in(-10)
                .not_before_in(50)
                .kid("custom")
                .sign(),
            1,
        );
        assert_eq!(edited["azp"], "someone-else");
        assert!(edited.get("tid").is_none());
        assert_eq!(edited["iss"], sandbox.issuer(IssuerKind::LoginV2));
        assert!(edited["exp"].as_i64().unwrap() < edited["iat"].as_i64().unwrap());
        assert!(edited["nbf"].as_i64().unwrap() > edited["iat"].as_i64().unwrap());

        let ps256 = sandbox
            .extension_token()
            .algorithm(SigningAlgorithm::Ps256)
            .sign();
        assert_eq!(part(&ps256, 0)["alg"], "PS256");
        assert!(
            verifies(&sandbox, &ps256, Algorithm::PS256).await,
            "genuine PSS signature"
        );

        let none = sandbox
            .extension_token()
            .algorithm(SigningAlgorithm::None)
            .sign();
        assert_eq!(part(&none, 0)["alg"], "none");
        assert!(none.ends_with('.'));

        let hs = sandbox
            .extension_token()
            .algorithm(SigningAlgorithm::Hs256WithPublicKey)
            .sign();
        assert_eq!(part(&hs, 0)["alg"], "HS256");
        let pem = sandbox.state.identity.active_key().public_key_pem.clone();
        let (message, signature) = hs.rsplit_once('.').unwrap();
        let key = DecodingKey::from_secret(pem.as_bytes());
        assert!(
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, Algorithm::HS256)
                .unwrap()
        );

        let untrusted = sandbox
            .extension_token()
            .algorithm(SigningAlgorithm::Rs256UntrustedKey)
            .sign();
        assert_eq!(part(&untrusted, 0)["kid"], sandbox.active_kid());
        assert!(!verifies(&sandbox, &untrusted, Algorithm::RS256).await);
    }
}
