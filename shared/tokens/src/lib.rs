//! Inbound token validation: turns a raw bearer token into a [`ValidatedCaller`] or a typed
//! [`TokenRejection`].
//!
//! Two callers reach our functions with Entra-signed JWTs:
//! - Entra itself, calling a custom authentication extension (docs/protocols/extension-callbacks.md
//!   (b), "Token validation checklist"): RS256, issuer pinned to the configured tenant, audience our
//!   extension app, authorized party `99045fe1-7639-4a75-9d4a-577b6ca3810f`.
//! - Microsoft Graph, in the `validationTokens` of rich change notifications
//!   (docs/protocols/change-notifications.md (C)): issuer of an expected tenant, audience our app,
//!   publisher `0bf30f3b-4a52-48df-9a82-234910c4a086`.
//!
//! Signing keys come from the issuer's OIDC discovery document and JWKS, fetched lazily and cached
//! by [`KeySet`] (one fetch per cold start, refetch on an unknown `kid` at most every five minutes,
//! last-known-good keys kept when the endpoint fails). A [`CallerPolicy`] states who may call;
//! a [`TokenValidator`] applies it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
//!
//! let tenant = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93";
//! let discovery = format!(
//!     "https://entrahooksdemo.ciamlogin.com/{tenant}/v2.0/.well-known/openid-configuration"
//! );
//! let keys = KeySet::new(discovery.parse()?, reqwest::Client::new());
//! let policy = CallerPolicy::extension_callback(tenant, vec!["7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13".into()]);
//! let validator = TokenValidator::new(policy, keys);
//! let caller = validator.validate_authorization_header(Some("Bearer eyJ0eXAi...")).await?;
//! println!("called by {} in tenant {}", caller.authorized_party(), caller.tenant_id());
//! # Ok(()) }
//! ```

mod keys;
mod policy;
mod rejection;
mod validator;
mod verified_cache;

pub use keys::{KeySet, KeySetError, KeySetOptions};
pub use policy::{
    CallerPolicy, ENTRA_EXTENSION_CALLER_APP_ID, GRAPH_CHANGE_TRACKING_APP_ID, MAX_LEEWAY,
    TokenVersion,
};
pub use rejection::TokenRejection;
pub use validator::{MAX_TOKEN_BYTES, TokenValidator, ValidatedCaller};
pub use verified_cache::DEFAULT_VERIFIED_CACHE_ENTRIES;
