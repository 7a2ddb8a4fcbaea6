//! Simulated Entra identity endpoints: OIDC discovery, JWKS with key rotation, the client-credentials
//! token endpoint, and a minter for extension-callback and notification tokens.
//! (PLACEHOLDER: being implemented.)

use std::sync::Arc;

use axum::Router;

use crate::{SandboxConfig, SandboxError, SandboxState};

/// Which issuer form a minted token carries (../shared/specs/extension-callbacks.md (b)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    /// `https://{tid}.ciamlogin.com/{tid}/v2.0`
    CiamV2,
    /// `https://login.microsoftonline.com/{tid}/v2.0`
    LoginV2,
    /// `https://sts.windows.net/{tid}/`
    StsV1,
}

/// How a minted token is signed, including the broken ways a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    Rs256,
}

pub struct TokenBuilder {}

pub struct IdentityState {}

impl IdentityState {
    pub fn new(_config: &SandboxConfig) -> Result<Self, SandboxError> {
        Ok(Self {})
    }
}

pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
}
