//! The client-credentials token endpoint of the simulated tenant: `POST /{tenant}/oauth2/v2.0/token`.
//!
//! Contract: docs/protocols/graph-api.md (b). The tenant segment may be the tenant id, its name or
//! `{name}.onmicrosoft.com`; the only grant is `client_credentials`, the only scope
//! `https://graph.microsoft.com/.default`. Clients authenticate with the Graph client secret (the
//! configured one until a test rotates it with [`crate::Sandbox::set_graph_client_secret`]; form field
//! or HTTP Basic, compared in constant time) or with a client assertion JWT (b.3) signed by
//! the private key of a certificate registered with [`crate::Sandbox::register_client_certificate`]:
//! header `x5t#S256` (or legacy `x5t`) names the certificate, `alg` is PS256 or RS256, `aud` is this
//! endpoint, `iss` = `sub` = the client id, `exp`/`nbf` hold, and each `jti` is accepted once.
//!
//! Failures use Entra's OAuth error body (b.4), `error_codes[0]` being the AADSTS number:
//! 90002 unknown tenant, 700016 unknown client, 70011 bad scope, 7000215 wrong secret,
//! 7000218 no credential, 700027 assertion signature/key problems, 700024 assertion outside its time
//! range, 700021 assertion issued for another client. Access tokens are opaque random strings (clients
//! must not look inside Graph tokens anyway) remembered with their expiry so the Graph routes can
//! check them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::{Sandbox, SandboxError, SandboxState};

/// The only scope the sandbox issues tokens for: Microsoft Graph, app-only.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
/// `client_assertion_type` for certificate credentials (RFC 7523).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on assertion `exp`/`nbf`, as Entra tolerates a few minutes.
const ASSERTION_LEEWAY_SECS: u64 = 300;

/// What the Graph routes learn about a presented bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessTokenStatus {
    /// Issued here and not yet expired.
    Valid,
    /// Issued here, but its lifetime is over.
    Expired,
    /// Never issued here (or revoked).
    Unknown,
}

/// A certificate registered for a client: its thumbprints and its RSA public key.
struct RegisteredCertificate {
    sha256_thumbprint: Vec<u8>,
    sha1_thumbprint: Vec<u8>,
    key: DecodingKey,
}

/// Issued tokens, registered certificates, seen assertion ids and the rotated Graph client secret.
#[derive(Default)]
pub struct TokenEndpointState {
    access_tokens: Mutex<HashMap<String, SystemTime>>,
    /// The client each token was issued to (tokens from [`TokenEndpointState::issue`] have none).
    token_clients: Mutex<HashMap<String, String>>,
    issued: AtomicUsize,
    certificates: Mutex<HashMap<String, Vec<RegisteredCertificate>>>,
    seen_assertion_ids: Mutex<HashMap<String, u64>>,
    /// The Graph client secret set by [`Sandbox::set_graph_client_secret`]; `None` until a
    /// rotation, when [`crate::SandboxConfig::graph_client_secret`] is the one accepted.
    rotated_graph_secret: Mutex<Option<String>>,
}

impl std::fmt::Debug for TokenEndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpointState")
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenEndpointState {
    /// No tokens issued, no certificates registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a bearer token presented to a Graph route.
    pub fn check(&self, token: &str) -> AccessTokenStatus {
        match lock(&self.access_tokens).get(token) {
            None => AccessTokenStatus::Unknown,
            Some(expires) if *expires > SystemTime::now() => AccessTokenStatus::Valid,
            Some(_) => AccessTokenStatus::Expired,
        }
    }

    /// How many access tokens have been issued since start.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Mints and remembers a new opaque access token.
    pub fn issue(&self, lifetime: Duration) -> String {
        let mut bytes = [0u8; 32];
        // The system RNG failing is not recoverable; a uuid keeps tokens unique even then.
        let token = match aws_lc_rs::rand::fill(&mut bytes) {
            Ok(()) => URL_SAFE_NO_PAD.encode(bytes),
            Err(_) => uuid::Uuid::new_v4().simple().to_string(),
        };
        let now = SystemTime::now();
        let mut tokens = lock(&self.access_tokens);
        tokens.retain(|_, expires| *expires > now);
        tokens.insert(token.clone(), now + lifetime);
        self.issued.fetch_add(1, Ordering::SeqCst);
        token
    }

    /// Mints a token as [`TokenEndpointState::issue`] does and remembers that `client_id` holds it.
    pub fn issue_for(&self, client_id: &str, lifetime: Duration) -> String {
        let token = self.issue(lifetime);
        let live = lock(&self.access_tokens);
        let mut clients = lock(&self.token_clients);
        clients.retain(|issued, _| live.contains_key(issued));
        clients.insert(token.clone(), client_id.to_ascii_lowercase());
        token
    }

    /// The client id a token was issued to, if it came from [`TokenEndpointState::issue_for`].
    pub fn client_of(&self, token: &str) -> Option<String> {
        lock(&self.token_clients).get(token).cloned()
    }

    /// Forgets every issued token, as if the tenant revoked them: Graph answers 401 until clients
    /// fetch new ones.
    pub fn revoke_all(&self) {
        lock(&self.access_tokens).clear();
        lock(&self.token_clients).clear();
    }

    /// Whether `presented` is the Graph client secret accepted now: the rotated one if any, else
    /// `configured`. Constant time in the content and length of both.
    fn accepts_graph_secret(&self, presented: &str, configured: &str) -> bool {
        match lock(&self.rotated_graph_secret).as_deref() {
            Some(rotated) => secrets_equal(presented, rotated),
            None => secrets_equal(presented, configured),
        }
    }

    fn has_certificates(&self, client_id: &str) -> bool {
        lock(&self.certificates)
            .get(client_id)
            .is_some_and(|certs| !certs.is_empty())
    }

    /// Records `jti` until `exp`; false if it was already used.
    fn first_use_of(&self, jti: &str, exp: u64) -> bool {
        let now = unix_now();
        let mut seen = lock(&self.seen_assertion_ids);
        seen.retain(|_, until| *until + ASSERTION_LEEWAY_SECS >= now);
        seen.insert(jti.to_owned(), exp).is_none()
    }
}

impl Sandbox {
    /// Registers a certificate (PEM) as a credential of `client_id`, as uploading it to the app
    /// registration does. Assertions signed with its private key are then accepted for that client.
    pub fn register_client_certificate(
        &self,
        client_id: &str,
        cert_pem: &str,
    ) -> Result<(), SandboxError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| SandboxError::Invalid(format!("certificate PEM: {e}")))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| SandboxError::Invalid(format!("certificate DER: {e}")))?;
        let spki = cert.public_key();
        if !matches!(
            spki.parsed(),
            Ok(x509_parser::public_key::PublicKey::RSA(_))
        ) {
            return Err(SandboxError::Invalid(
                "only RSA certificates can sign client assertions (PS256/RS256)".into(),
            ));
        }
        let registered = RegisteredCertificate {
            sha256_thumbprint: digest(&aws_lc_rs::digest::SHA256, &pem.contents),
            sha1_thumbprint: digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &pem.contents),
            key: DecodingKey::from_rsa_der(&spki.subject_public_key.data),
        };
        lock(&self.state().token_endpoint.certificates)
            .entry(client_id.to_owned())
            .or_default()
            .push(registered);
        Ok(())
    }

    /// Rotates the Graph client secret, as adding a new secret to the app registration and deleting
    /// the old one does: from now on the token endpoint accepts only `secret`, and the previous one
    /// is refused with AADSTS7000215 like any wrong secret. Access tokens already issued stay valid
    /// (Entra does not revoke them on rotation; see [`Sandbox::revoke_access_tokens`]).
    /// [`crate::SandboxConfig::graph_client_secret`] keeps the value the sandbox started with; read
    /// the current one with [`Sandbox::graph_client_secret`]. An empty `secret` matches nothing (an
    /// empty `client_secret` counts as absent), so it locks the secret client out.
    pub fn set_graph_client_secret(&self, secret: &str) {
        *lock(&self.state().token_endpoint.rotated_graph_secret) = Some(secret.to_owned());
    }

    /// The Graph client secret the token endpoint accepts now: the configured one, or the latest
    /// [`Sandbox::set_graph_client_secret`].
    pub fn graph_client_secret(&self) -> String {
        lock(&self.state().token_endpoint.rotated_graph_secret)
            .clone()
            .unwrap_or_else(|| self.state().config.graph_client_secret.clone())
    }

    /// How many access tokens the token endpoint has issued (to check client-side caching).
    pub fn tokens_issued(&self) -> usize {
        self.state().token_endpoint.issued()
    }

    /// Revokes every issued access token (see [`TokenEndpointState::revoke_all`]).
    pub fn revoke_access_tokens(&self) {
        self.state().token_endpoint.revoke_all();
    }

    /// Issues a Graph access token directly, for tests that need a bearer without a client.
    pub fn issue_access_token(&self) -> String {
        let lifetime = Duration::from_secs(self.state().config.access_token_lifetime_secs);
        self.state().token_endpoint.issue(lifetime)
    }

    /// `{url}{tenant_id}/oauth2/v2.0/token`, also the `aud` a client assertion must carry.
    pub fn token_endpoint_url(&self) -> Url {
        self.url()
            .join(&format!("{}/oauth2/v2.0/token", self.tenant_id()))
            .expect("relative URL is valid")
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token))
}

/// An OAuth error answer in Entra's shape.
struct OAuthFailure {
    status: StatusCode,
    error: &'static str,
    code: u64,
    text: String,
}

impl OAuthFailure {
    fn new(status: StatusCode, error: &'static str, code: u64, text: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            text: text.into(),
        }
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    fn assertion(code: u64, reason: &str) -> Self {
        let text = match code {
            700024 => {
                format!("Client assertion is not within its valid time range. [Reason - {reason}]")
            }
            700021 => format!(
                "Client assertion application identifier doesn't match 'client_id' parameter. [Reason - {reason}]"
            ),
            _ => format!("Client assertion contains an invalid signature. [Reason - {reason}]"),
        };
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", code, text)
    }

    fn into_response(self, client_request_id: Option<&str>) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id =
            client_request_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let timestamp = aad_timestamp(SystemTime::now());
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.text
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        response
    }
}

/// An OAuth error answer in Entra's shape, for the other OAuth endpoints of the sandbox
/// (the device-code endpoint).
pub(crate) fn oauth_error(
    status: StatusCode,
    error: &'static str,
    code: u64,
    text: &str,
    client_request_id: Option<&str>,
) -> Response {
    OAuthFailure::new(status, error, code, text).into_response(client_request_id)
}

async fn token(
    State(state): State<Arc<SandboxState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match issue(&state, &tenant, &headers, &body) {
        Ok(response) => response,
        Err(failure) => failure.into_response(client_request_id.as_deref()),
    }
}

fn issue(
    state: &SandboxState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthFailure> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    // The device-code grant (a person signing in, `organizations` allowed) is the ARM module's.
    if form.get("grant_type").map(String::as_str) == Some(crate::arm::DEVICE_CODE_GRANT_TYPE) {
        return crate::arm::device_code_grant(state, tenant, &form)
            .map_err(|f| OAuthFailure::new(f.status, f.error, f.code, f.text));
    }
    let config = &state.config;
    let tenant_known = tenant.eq_ignore_ascii_case(&config.tenant_id)
        || tenant.eq_ignore_ascii_case(&config.tenant_name)
        || tenant.eq_ignore_ascii_case(&format!("{}.onmicrosoft.com", config.tenant_name));
    if !tenant_known {
        return Err(OAuthFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());

    match field("grant_type") {
        None => return Err(OAuthFailure::missing("grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    }

    let basic = basic_credentials(headers);
    let client_id = field("client_id")
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| OAuthFailure::missing("client_id"))?;
    let is_secret_client = client_id.eq_ignore_ascii_case(&config.graph_client_id);
    if !is_secret_client
        && !state.token_endpoint.has_certificates(&client_id)
        && !state.ci.has_credentials(&client_id)
    {
        return Err(OAuthFailure::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                config.tenant_name
            ),
        ));
    }

    // App-only tokens for ARM are issued too: ARM refuses them where a person is needed.
    let arm_audience = match field("scope") {
        None => return Err(OAuthFailure::missing("scope")),
        Some(GRAPH_DEFAULT_SCOPE) => false,
        Some(crate::arm::ARM_DEFAULT_SCOPE) => true,
        Some(_) => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                "The provided value for the input parameter 'scope' is not valid. The scope requested is not valid for the client credentials grant.",
            ));
        }
    };

    let secret = field("client_secret")
        .map(str::to_owned)
        .or_else(|| basic.map(|(_, secret)| secret));
    match (secret, field("client_assertion")) {
        (Some(_), Some(_)) => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90014,
                "Send either 'client_secret' or 'client_assertion', not both.",
            ));
        }
        (None, None) => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        (Some(secret), None) => {
            let accepted = state
                .token_endpoint
                .accepts_graph_secret(&secret, &config.graph_client_secret);
            if !(is_secret_client && accepted) {
                return Err(OAuthFailure::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ));
            }
        }
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(JWT_BEARER_ASSERTION_TYPE) {
                return Err(OAuthFailure::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    90014,
                    format!(
                        "The required field 'client_assertion_type' is missing or is not '{JWT_BEARER_ASSERTION_TYPE}'."
                    ),
                ));
            }
            let audiences = [
                format!("{}/{tenant}/oauth2/v2.0/token", state.base_url),
                format!("{}/{}/oauth2/v2.0/token", state.base_url, config.tenant_id),
            ];
            match state.ci.verify(&client_id, assertion) {
                Some(verdict) => {
                    verdict.map_err(|f| OAuthFailure::new(f.status, f.error, f.code, f.text))?
                }
                None => verify_assertion(state, &client_id, assertion, &audiences)?,
            }
        }
    }

    let lifetime = config.access_token_lifetime_secs;
    let access_token = if arm_audience {
        state.arm.issue_app_token(&client_id)
    } else {
        state
            .token_endpoint
            .issue_for(&client_id, Duration::from_secs(lifetime))
    };
    let mut response = axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
    .into_response();
    no_store(response.headers_mut());
    Ok(response)
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: u64,
    jti: Option<String>,
}

fn verify_assertion(
    state: &SandboxState,
    client_id: &str,
    assertion: &str,
    audiences: &[String],
) -> Result<(), OAuthFailure> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| OAuthFailure::assertion(700027, "The assertion is not a well-formed JWT."))?;
    if !matches!(header.alg, Algorithm::PS256 | Algorithm::RS256) {
        return Err(OAuthFailure::assertion(
            700027,
            "The assertion must be signed with PS256 or RS256.",
        ));
    }
    let (thumbprint, use_sha256) = match (&header.x5t_s256, &header.x5t) {
        (Some(s256), _) => (s256, true),
        (None, Some(sha1)) => (sha1, false),
        (None, None) => {
            return Err(OAuthFailure::assertion(
                700027,
                "The assertion header has neither 'x5t#S256' nor 'x5t'.",
            ));
        }
    };
    let thumbprint = URL_SAFE_NO_PAD
        .decode(thumbprint.trim_end_matches('='))
        .map_err(|_| OAuthFailure::assertion(700027, "The key was not found."))?;

    let certificates = lock(&state.token_endpoint.certificates);
    let certificate = certificates
        .get(client_id)
        .and_then(|certs| {
            certs.iter().find(|cert| {
                let expected = if use_sha256 {
                    &cert.sha256_thumbprint
                } else {
                    &cert.sha1_thumbprint
                };
                *expected == thumbprint
            })
        })
        .ok_or_else(|| {
            OAuthFailure::assertion(
                700027,
                &format!(
                    "The key was not found., Thumbprint of key used by client: '{}'",
                    hex_upper(&thumbprint)
                ),
            )
        })?;

    let mut validation = Validation::new(header.alg);
    validation.leeway = ASSERTION_LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &certificate.key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => {
                    OAuthFailure::assertion(700024, "The assertion has expired.")
                }
                ErrorKind::ImmatureSignature => {
                    OAuthFailure::assertion(700024, "The assertion is not yet valid (nbf).")
                }
                ErrorKind::InvalidAudience => {
                    OAuthFailure::assertion(700027, "The audience must be the token endpoint URL.")
                }
                ErrorKind::InvalidSignature => {
                    OAuthFailure::assertion(700027, "The signature does not verify.")
                }
                _ => OAuthFailure::assertion(700027, "The assertion could not be validated."),
            }
        })?
        .claims;
    drop(certificates);

    if claims.iss != client_id || claims.sub != client_id {
        return Err(OAuthFailure::assertion(
            700021,
            "'iss' and 'sub' must both equal the client id.",
        ));
    }
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty())
        .ok_or_else(|| OAuthFailure::assertion(700027, "The assertion has no 'jti'."))?;
    if !state.token_endpoint.first_use_of(&jti, claims.exp) {
        return Err(OAuthFailure::assertion(
            700027,
            "The assertion 'jti' was already used (replay).",
        ));
    }
    Ok(())
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 section 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Compares digests so neither the content nor the length of the secret leaks through timing.
fn secrets_equal(presented: &str, expected: &str) -> bool {
    let a = digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
    let b = digest(&aws_lc_rs::digest::SHA256, expected.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(&a, &b).is_ok()
}

fn digest(algorithm: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Entra's `timestamp` format, e.g. `2016-04-11 18:59:01Z`.
pub(crate) fn aad_timestamp(at: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:p%40ss+word");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("my client".to_owned(), "p@ss word".to_owned()))
        );
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }

    #[test]
    fn issued_tokens_expire_and_revoke() {
        let state = TokenEndpointState::new();
        let valid = state.issue(Duration::from_secs(60));
        let expired = state.issue(Duration::ZERO);
        assert_eq!(state.check(&valid), AccessTokenStatus::Valid);
        assert_ne!(state.check(&expired), AccessTokenStatus::Valid);
        assert_eq!(state.check("nope"), AccessTokenStatus::Unknown);
        assert_eq!(state.issued(), 2);
        state.revoke_all();
        assert_eq!(state.check(&valid), AccessTokenStatus::Unknown);
    }

    #[test]
    fn assertion_ids_are_single_use() {
        let state = TokenEndpointState::new();
        let exp = unix_now() + 600;
        assert!(state.first_use_of("a", exp));
        assert!(!state.first_use_of("a", exp));
        assert!(state.first_use_of("b", exp));
    }
}

#[cfg(test)]
mod http_tests {
    use serde_json::Value;

    use super::*;

    async fn post(sandbox: &Sandbox, tenant: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(
                sandbox
                    .url()
                    .join(&format!("{tenant}/oauth2/v2.0/token"))
                    .unwrap(),
            )
            .header("client-request-id", "corr-1")
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    #[tokio::test]
    async fn secret_grant_and_entra_shaped_failures() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let id = sandbox.config().graph_client_id.clone();
        let secret = sandbox.config().graph_client_secret.clone();
        let good = [
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ];
        let (status, body) = post(&sandbox, "entrahooksdemo.onmicrosoft.com", &good).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            sandbox.state().token_endpoint.check(token),
            AccessTokenStatus::Valid
        );
        assert_eq!(sandbox.tokens_issued(), 1);

        let mut wrong = good;
        wrong[2].1 = "wrong";
        let (status, body) = post(&sandbox, sandbox.tenant_id(), &wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"][0], 7000215);
        assert_eq!(body["correlation_id"], "corr-1");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS7000215: ")
        );
        for key in ["timestamp", "trace_id"] {
            assert!(body[key].is_string());
        }

        let mut scope = good;
        scope[3].1 = "https://graph.microsoft.com/User.Read";
        let (status, body) = post(&sandbox, "entrahooksdemo", &scope).await;
        assert_eq!(
            (status, body["error_codes"][0].as_u64()),
            (StatusCode::BAD_REQUEST, Some(70011))
        );
        let (_, body) = post(&sandbox, "other-tenant", &good).await;
        assert_eq!(body["error_codes"][0], 90002);
        let mut unknown = good;
        unknown[1].1 = "00000000-0000-0000-0000-000000000000";
        let (_, body) = post(&sandbox, "entrahooksdemo", &unknown).await;
        assert_eq!(body["error_codes"][0], 700016);

        let response = reqwest::Client::new()
            .post(sandbox.token_endpoint_url())
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", GRAPH_DEFAULT_SCOPE),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-store, no-cache"
        );
        assert_eq!(sandbox.tokens_issued(), 2);
    }

    #[tokio::test]
    async fn a_rotated_secret_replaces_the_old_one() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let id = sandbox.config().graph_client_id.clone();
        let original = sandbox.config().graph_client_secret.clone();
        let grant = async |secret: &str| {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret),
                ("scope", GRAPH_DEFAULT_SCOPE),
            ];
            post(&sandbox, sandbox.tenant_id(), &form).await
        };
        assert_eq!(sandbox.graph_client_secret(), original);
        let (status, body) = grant(&original).await;
        assert_eq!(status, StatusCode::OK);
        let issued_before = body["access_token"].as_str().unwrap().to_owned();

        sandbox.set_graph_client_secret("rotated-secret");
        assert_eq!(sandbox.graph_client_secret(), "rotated-secret");
        assert_eq!(sandbox.config().graph_client_secret, original);
        let (status, body) = grant(&original).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"][0], 7000215);
        let (status, _) = grant("rotated-secret").await;
        assert_eq!(status, StatusCode::OK);
        // Rotation does not revoke tokens already issued.
        assert_eq!(
            sandbox.state().token_endpoint.check(&issued_before),
            AccessTokenStatus::Valid
        );
    }
}
