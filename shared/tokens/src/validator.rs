//! The validator: a raw bearer token in, a [`ValidatedCaller`] or a [`TokenRejection`] out.
//!
//! Order of checks (cheapest and most telling first): size cap, compact-JWS shape, header `alg`
//! (RS256 only, before any key lookup), `kid`, published key (type and JWK `alg` must fit RS256),
//! signature, then claims (`exp`/`nbf` with skew, `iss`, `aud` through jsonwebtoken; `ver`,
//! issuer-per-version, `tid`, authorized party and app-only through the policy).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::keys::PublishedKey;
use crate::policy::{CallerKind, CallerPolicy, TokenVersion};
use crate::verified_cache::VerifiedCache;
use crate::{KeySet, TokenRejection};

/// Tokens longer than this are refused before parsing. Entra access tokens are 1-3 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Applies a [`CallerPolicy`] to bearer tokens, with signing keys from a [`KeySet`].
///
/// Build one per policy at startup and share it (`&self` methods, `Send + Sync`).
#[derive(Debug)]
pub struct TokenValidator {
    policy: CallerPolicy,
    keys: KeySet,
    /// jsonwebtoken's checks, every field set explicitly from the policy.
    validation: Validation,
    /// Tokens already admitted (see [`TokenValidator::with_verified_cache`]); `None`: off.
    verified: Option<VerifiedCache>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedCache")
    }
}

impl TokenValidator {
    /// Compiles `policy` against the keys of its issuer.
    pub fn new(policy: CallerPolicy, keys: KeySet) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = policy.leeway.as_secs();
        validation.reject_tokens_expiring_in_less_than = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_audience(&policy.audiences);
        validation.set_issuer(&policy.accepted_issuers());
        validation.sub = None;
        Self {
            policy,
            keys,
            validation,
            verified: None,
        }
    }

    /// Remembers up to `entries` admitted tokens, so a token Entra reuses for callout after
    /// callout skips the RSA verification and claim parsing (see `verified_cache.rs` for why that
    /// admits nothing full validation would refuse: whole-token keys, same key generation, never
    /// at or past `exp`). `0` turns it off, the default.
    pub fn with_verified_cache(mut self, entries: usize) -> Self {
        self.verified = (entries > 0).then(|| VerifiedCache::new(entries));
        self
    }

    /// The policy this validator enforces.
    pub fn policy(&self) -> &CallerPolicy {
        &self.policy
    }

    /// The key cache this validator verifies against.
    pub fn key_set(&self) -> &KeySet {
        &self.keys
    }

    /// Validates the value of an `Authorization` header: `Bearer <compact JWS>`, scheme
    /// case-insensitive. `None` (no header) is [`TokenRejection::MissingBearer`].
    pub async fn validate_authorization_header(
        &self,
        value: Option<&str>,
    ) -> Result<ValidatedCaller, TokenRejection> {
        let value = value.ok_or(TokenRejection::MissingBearer)?.trim();
        let (scheme, token) = value
            .split_once([' ', '\t'])
            .ok_or(TokenRejection::MissingBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenRejection::MissingBearer);
        }
        let token = token.trim_start_matches([' ', '\t']);
        if token.is_empty() {
            return Err(TokenRejection::MissingBearer);
        }
        self.validate(token).await
    }

    /// Validates a compact JWS (no `Bearer ` prefix).
    pub async fn validate(&self, raw: &str) -> Result<ValidatedCaller, TokenRejection> {
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::TooLarge);
        }
        let Some(verified) = &self.verified else {
            return self.verify(raw).await.map(|(caller, _)| caller);
        };
        if let Some(generation) = self.keys.fresh_generation()
            && let Some(caller) = verified.get(raw, generation)
        {
            return Ok(caller);
        }
        let (caller, generation) = self.verify(raw).await?;
        verified.insert(raw, &caller, generation);
        Ok(caller)
    }

    /// Every check, with the generation of the signing keys the signature was verified with.
    async fn verify(&self, raw: &str) -> Result<(ValidatedCaller, u64), TokenRejection> {
        let mut segments = raw.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(TokenRejection::Malformed);
        };
        if header.is_empty() || payload.is_empty() {
            return Err(TokenRejection::Malformed);
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenRejection::Malformed)?;
        // serde reads a struct from a JSON array too (`["none", "kid", null]`); a JOSE header is
        // an object (RFC 7515 4), so anything else is malformed, not judged by its `alg`.
        if header_json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(TokenRejection::Malformed);
        }
        let header: JoseHeader<'_> =
            serde_json::from_slice(&header_json).map_err(|_| TokenRejection::Malformed)?;
        match header.alg.as_deref() {
            Some("RS256") => {}
            Some(_) => return Err(TokenRejection::AlgorithmNotAllowed),
            None => return Err(TokenRejection::Malformed),
        }
        if header.crit.is_some() {
            // We implement no JWS extensions, so a critical one can never be honoured (RFC 7515 4.1.11).
            return Err(TokenRejection::Malformed);
        }
        if signature.is_empty() {
            return Err(TokenRejection::BadSignature);
        }
        let kid = header.kid.ok_or(TokenRejection::MissingKeyId)?;

        let (published, generation) = self.keys.resolve(&kid).await?;
        let key = match &*published {
            PublishedKey::Rsa { alg: Some(alg), .. } if &**alg != "RS256" => {
                return Err(TokenRejection::KeyMismatch);
            }
            PublishedKey::Rsa { key, .. } => key,
            PublishedKey::Unusable => return Err(TokenRejection::KeyMismatch),
        };

        let data = jsonwebtoken::decode::<Map<String, Value>>(raw, key, &self.validation)
            .map_err(|error| rejection_for(error.kind()))?;
        Ok((self.admit(data.claims)?, generation))
    }

    /// The policy's own checks on signature-verified, lifetime-checked claims.
    fn admit(&self, claims: Map<String, Value>) -> Result<ValidatedCaller, TokenRejection> {
        // RFC 7519 section 2: a NumericDate is a JSON number. jsonwebtoken reads a numeric string
        // too, so a present lifetime claim of another JSON type is refused here.
        for claim in ["iat", "exp", "nbf"] {
            if claims.get(claim).is_some_and(|value| !value.is_number()) {
                return Err(TokenRejection::InvalidClaim { claim });
            }
        }
        let policy = &self.policy;
        let version = match claims.get("ver") {
            Some(Value::String(ver)) => {
                TokenVersion::from_claim(ver).ok_or(TokenRejection::UnsupportedVersion)?
            }
            Some(_) => return Err(TokenRejection::InvalidClaim { claim: "ver" }),
            None => return Err(TokenRejection::MissingClaim { claim: "ver" }),
        };

        // The issuer must be one this version is issued under, for a trusted tenant, and that
        // tenant must be the one the token names.
        let issuer = string_claim(&claims, "iss")?;
        let issuer_tenant = policy
            .tenants
            .iter()
            .find(|tenant| tenant.issuers(version).iter().any(|i| i == issuer))
            .ok_or(TokenRejection::WrongIssuer)?;
        let tenant_id = string_claim(&claims, "tid")?;
        if !issuer_tenant.tenant_id.eq_ignore_ascii_case(tenant_id) {
            return Err(TokenRejection::WrongTenant);
        }

        let audience = string_claim(&claims, "aud")?;
        if !policy.audiences.iter().any(|a| a == audience) {
            return Err(TokenRejection::WrongAudience);
        }

        let authorized_party = match policy.kind {
            CallerKind::ExtensionCallback => {
                let claim = version.authorized_party_claim();
                let party = string_claim(&claims, claim)?;
                if !party.eq_ignore_ascii_case(&policy.authorized_party) {
                    return Err(TokenRejection::WrongAuthorizedParty);
                }
                party
            }
            CallerKind::GraphNotification => {
                let appid = optional_string_claim(&claims, "appid")?;
                let azp = optional_string_claim(&claims, "azp")?;
                if appid.is_none() && azp.is_none() {
                    return Err(TokenRejection::MissingClaim { claim: "appid" });
                }
                let all_match = [appid, azp]
                    .into_iter()
                    .flatten()
                    .all(|party| party.eq_ignore_ascii_case(&policy.authorized_party));
                if !all_match {
                    return Err(TokenRejection::WrongAuthorizedParty);
                }
                appid.or(azp).unwrap_or_default()
            }
        };

        if policy.require_app_only {
            let delegated = claims.contains_key("scp")
                || optional_string_claim(&claims, "idtyp")?.is_some_and(|idtyp| idtyp != "app");
            if delegated {
                return Err(TokenRejection::NotAppOnly);
            }
        }

        let expires_at = claims
            .get("exp")
            .and_then(|exp| exp.as_u64().or_else(|| exp.as_f64().map(|f| f as u64)))
            .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            .ok_or(TokenRejection::InvalidClaim { claim: "exp" })?;
        let object_id = optional_string_claim(&claims, "oid")?.map(str::to_owned);

        Ok(ValidatedCaller(Arc::new(Caller {
            tenant_id: tenant_id.to_owned(),
            authorized_party: authorized_party.to_owned(),
            audience: audience.to_owned(),
            version,
            object_id,
            expires_at,
            claims,
        })))
    }
}

/// The JOSE header members we act on; everything else is ignored.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    crit: Option<IgnoredAny>,
}

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<&'a str, TokenRejection> {
    optional_string_claim(claims, claim)?.ok_or(TokenRejection::MissingClaim { claim })
}

fn optional_string_claim<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<Option<&'a str>, TokenRejection> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(TokenRejection::InvalidClaim { claim }),
    }
}

/// Maps jsonwebtoken's verdicts onto ours.
fn rejection_for(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenRejection::AlgorithmNotAllowed
        }
        ErrorKind::MissingRequiredClaim(claim) => TokenRejection::MissingClaim {
            claim: static_claim_name(claim),
        },
        ErrorKind::InvalidClaimFormat(claim) => TokenRejection::InvalidClaim {
            claim: static_claim_name(claim),
        },
        ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::UnsupportedAlgorithm => TokenRejection::KeyMismatch,
        _ => TokenRejection::Malformed,
    }
}

/// jsonwebtoken names only registered claims; keep ours `&'static` so rejections carry no input.
fn static_claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "unknown",
    }
}

/// A caller whose token passed every check of a [`CallerPolicy`].
///
/// Only [`TokenValidator`] creates these, so a handler that takes a `ValidatedCaller` cannot run
/// on an unchecked token by accident. Cheap to clone (shared), as the verified-token cache hands
/// out the same caller for every callout carrying the same token.
#[derive(Clone)]
pub struct ValidatedCaller(Arc<Caller>);

struct Caller {
    tenant_id: String,
    authorized_party: String,
    audience: String,
    version: TokenVersion,
    object_id: Option<String>,
    expires_at: SystemTime,
    claims: Map<String, Value>,
}

impl ValidatedCaller {
    /// `tid`: the tenant the token was issued in (one the policy trusts).
    pub fn tenant_id(&self) -> &str {
        &self.0.tenant_id
    }

    /// The calling application: `azp` (v2) or `appid` (v1).
    pub fn authorized_party(&self) -> &str {
        &self.0.authorized_party
    }

    /// `aud`: which of our identifiers the token was issued for.
    pub fn audience(&self) -> &str {
        &self.0.audience
    }

    /// Token format version from `ver`.
    pub fn version(&self) -> TokenVersion {
        self.0.version
    }

    /// `oid`: the caller's service principal object id, when present.
    pub fn object_id(&self) -> Option<&str> {
        self.0.object_id.as_deref()
    }

    /// `exp`: when the token stops being valid (before clock-skew allowance).
    pub fn expires_at(&self) -> SystemTime {
        self.0.expires_at
    }

    /// All claims of the verified token.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.claims
    }
}

impl std::fmt::Debug for ValidatedCaller {
    /// Identifies the caller without dumping every claim into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedCaller")
            .field("tenant_id", &self.0.tenant_id)
            .field("authorized_party", &self.0.authorized_party)
            .field("audience", &self.0.audience)
            .field("version", &self.0.version)
            .field("expires_at", &self.0.expires_at)
            .finish_non_exhaustive()
    }
}
