//! Why a token was refused.

/// Why a bearer token was refused.
///
/// Messages and [`TokenRejection::kind`] codes are fixed strings: they never contain the token or
/// anything taken from it (not even the `kid`), so a rejection can be logged as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// No `Authorization: Bearer <token>` header (checklist #1).
    #[error("no bearer token in the Authorization header")]
    MissingBearer,
    /// Larger than [`crate::MAX_TOKEN_BYTES`]; refused before any parsing.
    #[error("token exceeds the size limit")]
    TooLarge,
    /// Not a compact JWS: wrong number of segments, bad base64url, or a header/payload that is not
    /// a JSON object.
    #[error("token is not a well-formed compact JWS")]
    Malformed,
    /// Header `alg` is anything but `RS256` (`none`, HS*, PS*, ES*...) (checklist #2).
    #[error("token algorithm is not allowed (only RS256 is)")]
    AlgorithmNotAllowed,
    /// Header has no `kid`, so no published key can be chosen.
    #[error("token header has no key id")]
    MissingKeyId,
    /// The `kid` is not in the issuer's JWKS, even after the rate-limited refetch.
    #[error("token signing key is not published by the issuer")]
    UnknownKey,
    /// The published key with that `kid` cannot verify RS256 (not RSA, not for signing, shorter than
    /// 2048 bits, or its JWK `alg` names another algorithm).
    #[error("published signing key does not match the token algorithm")]
    KeyMismatch,
    /// No signing keys could be fetched and none are cached. A server-side condition, not the
    /// caller's fault (see [`TokenRejection::is_server_side`]).
    #[error("issuer signing keys are unavailable")]
    KeysUnavailable,
    /// Signature does not verify under the published key (checklist #3).
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` is in the past beyond the allowed clock skew (checklist #8).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future beyond the allowed clock skew (checklist #8).
    #[error("token is not valid yet")]
    NotYetValid,
    /// A claim the policy requires is absent.
    #[error("token lacks required claim `{claim}`")]
    MissingClaim {
        /// Claim name (from our policy, never from the token).
        claim: &'static str,
    },
    /// A claim is present but of the wrong JSON type or shape.
    #[error("token claim `{claim}` has an invalid value")]
    InvalidClaim {
        /// Claim name (from our policy, never from the token).
        claim: &'static str,
    },
    /// `iss` is not exactly one of the issuers the policy pins for this token version (checklist #6).
    #[error("token issuer is not trusted")]
    WrongIssuer,
    /// `aud` is not one of our application identifiers (checklist #7).
    #[error("token audience is not this application")]
    WrongAudience,
    /// `azp`/`appid` is not the expected caller application (checklist #5).
    #[error("token was not issued to the expected caller application")]
    WrongAuthorizedParty,
    /// `tid` is not an expected tenant (checklist #9).
    #[error("token is from an unexpected tenant")]
    WrongTenant,
    /// `ver` is neither a v1 nor a v2 marker (checklist #4).
    #[error("token version is not supported")]
    UnsupportedVersion,
    /// A delegated (user) token where only an app-only token is acceptable (checklist #11).
    #[error("token is not an app-only token")]
    NotAppOnly,
}

impl TokenRejection {
    /// A stable snake_case code for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingBearer => "missing_bearer",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::MissingKeyId => "missing_kid",
            Self::UnknownKey => "unknown_key",
            Self::KeyMismatch => "key_mismatch",
            Self::KeysUnavailable => "keys_unavailable",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::MissingClaim { .. } => "missing_claim",
            Self::InvalidClaim { .. } => "invalid_claim",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::WrongAuthorizedParty => "wrong_authorized_party",
            Self::WrongTenant => "wrong_tenant",
            Self::UnsupportedVersion => "unsupported_version",
            Self::NotAppOnly => "not_app_only",
        }
    }

    /// Same as [`TokenRejection::kind`].
    pub fn as_str(&self) -> &'static str {
        self.kind()
    }

    /// True when the token was not judged at all because our side could not get signing keys.
    ///
    /// Callers should answer with a server error (Entra retries those) rather than 401.
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::KeysUnavailable)
    }
}
