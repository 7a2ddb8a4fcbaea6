//! Who may call: issuers, audiences, the authorized party, tenants and clock skew.
//!
//! Two policies exist because two Microsoft services call us with Entra tokens:
//! [`CallerPolicy::extension_callback`] (docs/protocols/extension-callbacks.md (b)) and
//! [`CallerPolicy::graph_notification`] (docs/protocols/change-notifications.md (C)).

use std::time::Duration;

/// The first-party application Entra uses to call custom authentication extensions.
///
/// Checking `azp` (v2) / `appid` (v1) against it is what proves Entra is the caller: any other
/// client in the tenant can obtain a token for our audience (checklist #5).
pub const ENTRA_EXTENSION_CALLER_APP_ID: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";

/// The Microsoft Graph Change Tracking application, publisher of notification validation tokens.
pub const GRAPH_CHANGE_TRACKING_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";

/// Default clock-skew allowance for `exp` and `nbf` (spec: at most 5 minutes).
const DEFAULT_LEEWAY: Duration = Duration::from_secs(300);

/// Largest clock-skew allowance [`CallerPolicy::with_leeway`] accepts; larger values are clamped.
pub const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// Access token format version, from the `ver` claim (checklist #4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// `ver` `1.0` (also `1`, `ver1`): `sts.windows.net` issuer, `appid` names the client.
    V1,
    /// `ver` `2.0` (also `2`, `ver2`): `/v2.0` issuer, `azp` names the client.
    V2,
}

impl TokenVersion {
    /// Reads `ver` the way Microsoft's extension library does (`TokenValidatorHelper.cs`).
    pub(crate) fn from_claim(ver: &str) -> Option<Self> {
        const V1: [&str; 3] = ["1.0", "1", "ver1"];
        const V2: [&str; 3] = ["2.0", "2", "ver2"];
        if V2.iter().any(|v| ver.eq_ignore_ascii_case(v)) {
            Some(Self::V2)
        } else if V1.iter().any(|v| ver.eq_ignore_ascii_case(v)) {
            Some(Self::V1)
        } else {
            None
        }
    }

    /// The canonical `ver` value (`1.0` or `2.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1.0",
            Self::V2 => "2.0",
        }
    }

    /// The claim that names the client application in this version.
    pub(crate) fn authorized_party_claim(self) -> &'static str {
        match self {
            Self::V1 => "appid",
            Self::V2 => "azp",
        }
    }
}

/// Which service a policy admits; decides how the authorized party is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallerKind {
    /// Entra calling a custom authentication extension: `azp` (v2) or `appid` (v1) by version.
    ExtensionCallback,
    /// Graph validation tokens: `appid` or `azp`, at least one, every present one must match.
    GraphNotification,
}

/// One accepted tenant with the exact issuer strings accepted per version.
#[derive(Debug, Clone)]
pub(crate) struct TrustedTenant {
    pub(crate) tenant_id: String,
    pub(crate) v1_issuers: Vec<String>,
    pub(crate) v2_issuers: Vec<String>,
}

impl TrustedTenant {
    pub(crate) fn issuers(&self, version: TokenVersion) -> &[String] {
        match version {
            TokenVersion::V1 => &self.v1_issuers,
            TokenVersion::V2 => &self.v2_issuers,
        }
    }
}

/// The rules a token must satisfy beyond a valid signature.
///
/// Issuers are exact strings built from configured tenant ids: multi-tenant templates
/// (`{tenantid}`) are never accepted (checklist #6). The policy is plain data; a
/// [`crate::TokenValidator`] compiles it once.
#[derive(Debug, Clone)]
pub struct CallerPolicy {
    pub(crate) kind: CallerKind,
    pub(crate) tenants: Vec<TrustedTenant>,
    pub(crate) audiences: Vec<String>,
    pub(crate) authorized_party: String,
    pub(crate) leeway: Duration,
    pub(crate) require_app_only: bool,
}

impl CallerPolicy {
    /// Entra calling our custom authentication extension in tenant `tenant_id`.
    ///
    /// `audiences`: the extension app's client id (the v2 `aud`) and/or its App ID URI
    /// (`api://{fqdn}/{appId}`, a possible v1 `aud`). Accepted issuers: v2
    /// `https://{tid}.ciamlogin.com/{tid}/v2.0` and `https://login.microsoftonline.com/{tid}/v2.0`,
    /// v1 `https://sts.windows.net/{tid}/`. The authorized party must be
    /// [`ENTRA_EXTENSION_CALLER_APP_ID`], `tid` the configured tenant, and the token app-only.
    pub fn extension_callback(tenant_id: &str, audiences: Vec<String>) -> Self {
        let tid = tenant_id.to_ascii_lowercase();
        let tenant = TrustedTenant {
            v1_issuers: vec![format!("https://sts.windows.net/{tid}/")],
            v2_issuers: vec![
                format!("https://{tid}.ciamlogin.com/{tid}/v2.0"),
                format!("https://login.microsoftonline.com/{tid}/v2.0"),
            ],
            tenant_id: tid,
        };
        Self {
            kind: CallerKind::ExtensionCallback,
            tenants: vec![tenant],
            audiences,
            authorized_party: ENTRA_EXTENSION_CALLER_APP_ID.to_owned(),
            leeway: DEFAULT_LEEWAY,
            require_app_only: true,
        }
    }

    /// Microsoft Graph `validationTokens` for our app (`audiences`: our client id, or each of
    /// ours if we serve several) from any of `tenant_ids`.
    ///
    /// Accepted issuers per expected tenant: `https://sts.windows.net/{tid}/` (v1) and
    /// `https://login.microsoftonline.com/{tid}/v2.0` (v2). `appid` or `azp` must be
    /// [`GRAPH_CHANGE_TRACKING_APP_ID`]; at least one must be present.
    pub fn graph_notification(tenant_ids: Vec<String>, audiences: Vec<String>) -> Self {
        let tenants = tenant_ids
            .iter()
            .map(|tenant_id| {
                let tid = tenant_id.to_ascii_lowercase();
                TrustedTenant {
                    v1_issuers: vec![format!("https://sts.windows.net/{tid}/")],
                    v2_issuers: vec![format!("https://login.microsoftonline.com/{tid}/v2.0")],
                    tenant_id: tid,
                }
            })
            .collect();
        Self {
            kind: CallerKind::GraphNotification,
            tenants,
            audiences,
            authorized_party: GRAPH_CHANGE_TRACKING_APP_ID.to_owned(),
            leeway: DEFAULT_LEEWAY,
            require_app_only: false,
        }
    }

    /// Clock-skew allowance for `exp`/`nbf` (default 300 s; clamped to [`MAX_LEEWAY`]).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Replaces the expected authorized party.
    ///
    /// **For tests only**: the troubleshooting flow of the spec (a client-credentials token of
    /// the extension app itself) carries the app's own id. Production must keep the default.
    pub fn with_authorized_party(mut self, app_id: impl Into<String>) -> Self {
        self.authorized_party = app_id.into();
        self
    }

    /// Stops accepting `https://login.microsoftonline.com/{tid}/v2.0` on extension callbacks,
    /// leaving only the CIAM v2 issuer (and v1). The spec marks the workforce issuer for CIAM
    /// tenants as uncertain and asks for it to be configurable.
    pub fn without_workforce_v2_issuer(mut self) -> Self {
        if self.kind == CallerKind::ExtensionCallback {
            for tenant in &mut self.tenants {
                tenant
                    .v2_issuers
                    .retain(|issuer| !issuer.starts_with("https://login.microsoftonline.com/"));
            }
        }
        self
    }

    /// The clock-skew allowance in effect.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Every issuer string this policy accepts, in any version.
    pub fn accepted_issuers(&self) -> Vec<String> {
        self.tenants
            .iter()
            .flat_map(|tenant| tenant.v2_issuers.iter().chain(&tenant.v1_issuers))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_markers_follow_the_microsoft_library() {
        for v in ["2.0", "2", "ver2", "VER2"] {
            assert_eq!(TokenVersion::from_claim(v), Some(TokenVersion::V2), "{v}");
        }
        for v in ["1.0", "1", "ver1"] {
            assert_eq!(TokenVersion::from_claim(v), Some(TokenVersion::V1), "{v}");
        }
        for v in ["", "3.0", "2.0 ", "v2", "1.1"] {
            assert_eq!(TokenVersion::from_claim(v), None, "{v:?}");
        }
    }

    #[test]
    fn extension_policy_pins_three_exact_issuers() {
        let policy =
            CallerPolicy::extension_callback("4F2E7A8C-6B1D-4E3A-9C5F-2D8B7A1E0C93", vec![]);
        let tid = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93";
        assert_eq!(
            policy.accepted_issuers(),
            vec![
                format!("https://{tid}.ciamlogin.com/{tid}/v2.0"),
                format!("https://login.microsoftonline.com/{tid}/v2.0"),
                format!("https://sts.windows.net/{tid}/"),
            ]
        );
        let ciam_only = policy.without_workforce_v2_issuer();
        assert_eq!(
            ciam_only.accepted_issuers(),
            vec![
                format!("https://{tid}.ciamlogin.com/{tid}/v2.0"),
                format!("https://sts.windows.net/{tid}/"),
            ]
        );
    }

    #[test]
    fn leeway_is_clamped() {
        let policy =
            CallerPolicy::graph_notification(vec![], vec![]).with_leeway(Duration::from_secs(3600));
        assert_eq!(policy.leeway(), MAX_LEEWAY);
        assert_eq!(
            CallerPolicy::graph_notification(vec![], vec![]).leeway(),
            Duration::from_secs(300)
        );
    }
}
