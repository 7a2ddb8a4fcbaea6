//! OnTokenIssuanceStart (custom claims provider): the request's `user`, and the one action,
//! `provideClaimsForToken` (docs/protocols/extension-callbacks.md a.5).

use serde_json::{Map, Value, json};

use crate::envelope::{Callout, CalloutError, get};
use crate::events::EventKind;

/// The documented action type (emitted with exactly this casing).
pub const PROVIDE_CLAIMS_FOR_TOKEN: &str =
    "microsoft.graph.tokenIssuanceStart.provideClaimsForToken";

/// Total size Entra accepts for returned claims, keys and values together (error 1003025).
pub const MAX_CLAIMS_BYTES: usize = 3 * 1024;

/// The user a token is about to be issued for. Only `id` is guaranteed: social accounts have no
/// UPN, and External ID captures carry a sparse object (a.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalloutUser {
    pub id: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub company_name: Option<String>,
    pub created_date_time: Option<String>,
}

/// A parsed tokenIssuanceStart callout.
#[derive(Debug, Clone)]
pub struct TokenIssuanceStartRequest {
    pub callout: Callout,
    pub user: Option<CalloutUser>,
}

impl TokenIssuanceStartRequest {
    pub fn parse(body: &[u8]) -> Result<Self, CalloutError> {
        let callout = Callout::parse_for(EventKind::TokenIssuanceStart, body)?;
        let user = match callout.context_member("user") {
            Some(Value::Object(user)) => Some(parse_user(user)?),
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data.authenticationContext.user",
                    problem: "must be an object".into(),
                });
            }
            None => None,
        };
        Ok(Self { callout, user })
    }
}

pub(crate) fn parse_user(user: &Map<String, Value>) -> Result<CalloutUser, CalloutError> {
    let text = |key: &str| get(user, key).and_then(Value::as_str).map(str::to_owned);
    let id = text("id").ok_or(CalloutError::MissingField(
        "data.authenticationContext.user.id",
    ))?;
    Ok(CalloutUser {
        id,
        display_name: text("displayName"),
        given_name: text("givenName"),
        surname: text("surname"),
        mail: text("mail"),
        user_principal_name: text("userPrincipalName"),
        user_type: text("userType"),
        preferred_language: text("preferredLanguage"),
        company_name: text("companyName"),
        created_date_time: text("createdDateTime"),
    })
}

/// A claim value Entra accepts: a string or an array of strings. Booleans, numbers and objects are
/// not supported by Entra, so they cannot be represented here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimValue {
    One(String),
    /// Stays an array even with one element (the .NET library flattens those; we do not).
    Many(Vec<String>),
}

impl ClaimValue {
    fn byte_len(&self) -> usize {
        match self {
            ClaimValue::One(s) => s.len(),
            ClaimValue::Many(values) => values.iter().map(String::len).sum(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            ClaimValue::One(s) => Value::String(s.clone()),
            ClaimValue::Many(values) => {
                Value::Array(values.iter().cloned().map(Value::String).collect())
            }
        }
    }
}

impl From<&str> for ClaimValue {
    fn from(value: &str) -> Self {
        ClaimValue::One(value.to_owned())
    }
}

impl From<String> for ClaimValue {
    fn from(value: String) -> Self {
        ClaimValue::One(value)
    }
}

impl From<Vec<String>> for ClaimValue {
    fn from(values: Vec<String>) -> Self {
        ClaimValue::Many(values)
    }
}

/// A response that would break Entra's contract. It is a bug on our side, caught before sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("a claim name is empty (Entra error 1003026)")]
    EmptyClaimName,
    #[error(
        "claims total {size} bytes, over Entra's {MAX_CLAIMS_BYTES}-byte limit (error 1003025)"
    )]
    TooLarge { size: usize },
}

/// The `provideClaimsForToken` action. Claim names are case-sensitive in the claims mapping
/// policy, so they are kept exactly; setting a name twice replaces the earlier value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvideClaimsForToken {
    claims: Vec<(String, ClaimValue)>,
}

impl ProvideClaimsForToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<ClaimValue>) {
        let name = name.into();
        let value = value.into();
        match self.claims.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.claims.push((name, value)),
        }
    }

    pub fn claims(&self) -> impl Iterator<Item = (&str, &ClaimValue)> {
        self.claims.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.claims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// Size as Entra counts it: "the sum of all the key and value pairs".
    pub fn size_bytes(&self) -> usize {
        self.claims
            .iter()
            .map(|(n, v)| n.len() + v.byte_len())
            .sum()
    }

    /// The complete response body, or why it would be rejected by Entra.
    pub fn to_response(&self) -> Result<Value, ClaimsError> {
        if self.claims.iter().any(|(n, _)| n.is_empty()) {
            return Err(ClaimsError::EmptyClaimName);
        }
        let size = self.size_bytes();
        if size > MAX_CLAIMS_BYTES {
            return Err(ClaimsError::TooLarge { size });
        }
        let claims: Map<String, Value> = self
            .claims
            .iter()
            .map(|(n, v)| (n.clone(), v.to_json()))
            .collect();
        Ok(json!({
            "data": {
                "@odata.type": EventKind::TokenIssuanceStart.response_data_type(),
                "actions": [{
                    "@odata.type": PROVIDE_CLAIMS_FOR_TOKEN,
                    "claims": claims,
                }]
            }
        }))
    }
}
