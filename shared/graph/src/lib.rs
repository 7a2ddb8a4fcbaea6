//! A typed Microsoft Graph client for Microsoft Entra External ID management, app-only.
//!
//! What it promises (contracts in docs/protocols/graph-api.md (b)-(c) and
//! docs/protocols/change-notifications.md E):
//! - **Credentials**: client secret, fixed or from a [`SecretProvider`] (refetched once when Entra
//!   refuses it as wrong or expired, so a rotated secret is picked up without a restart), or
//!   certificate (client assertion, PS256 + `x5t#S256` by default, RS256 + `x5t` for legacy
//!   registrations); secrets and keys never appear in `Debug` or logs.
//! - **Tokens**: one cached token per client, refreshed ahead of expiry in the background, exactly one
//!   token request in flight; token endpoint failures typed with their AADSTS code ([`AuthError`]).
//! - **Pipeline**: `client-request-id` on every request (logged with Graph's `request-id`); retries on
//!   429/503/504 honouring `Retry-After` (seconds or HTTP-date) or backing off with full jitter, capped
//!   in attempts and total wait, POST never repeated after a 504; transport failures retried for
//!   idempotent methods; an optional caller deadline that is never slept past and aborts the request in
//!   flight ([`GraphClient::with_deadline`]).
//! - **Errors**: [`GraphError`] parsed from Graph's envelope; branch on codes and helpers
//!   (`is_not_found`, `is_throttled`, `is_transient`), never on messages.
//! - **Collections**: [`ListQuery`] (`$select`, `$filter`, `$top`, `$count` with `ConsistencyLevel`),
//!   next links followed verbatim with headers re-sent, as a `Stream`.
//! - **Resources**: [`Users`] (customer accounts, identities, extension attributes) and [`Groups`]
//!   (idempotent membership, transitive membership), with lenient models that keep unknown fields.
//! - **Tenant configuration**: company branding and localizations with image/CSS streams
//!   ([`Branding`], a missing branding is [`BrandingLookup::NotConfigured`]), custom authentication
//!   extensions with `validateAuthenticationConfiguration` and event listeners
//!   ([`CustomAuthenticationExtensions`], [`AuthenticationEventListeners`]), and the app-registration
//!   bootstrap ([`Applications`], [`ServicePrincipals`]: idempotent Graph permission grants, client
//!   secrets that never show in `Debug`, certificates, federated identity credentials); user flows
//!   with their linked applications, identity providers, attributes and page layout ([`UserFlows`]),
//!   custom user-flow attributes ([`UserFlowAttributes`]) and tenant identity providers
//!   ([`IdentityProviders`]), with [`after_create`] for the replication lag right after a create.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use entra_graph::{ClientCredential, GraphClient, GraphConfig, ExtensionAttribute};
//!
//! let config = GraphConfig::new("tenant-id", "client-id", ClientCredential::secret("…"));
//! let graph = GraphClient::new(config)?;
//! // Inside a handler with a one-second budget:
//! let user = graph.with_timeout(Duration::from_millis(800)).users().get("user-id", &["id", "identities"]).await?;
//! # let _ = user; Ok(()) }
//! ```

mod applications;
/// Azure Resource Manager: the External ID tenant as an Azure resource (ciamDirectories).
pub mod arm;
mod auth_extensions;
mod branding;
mod client;
mod config;
/// Waiting out eventual consistency right after a create (graph-api.md (c) rows 20-21).
pub mod consistency;
mod credential;
/// Signing a person in: device-code flow and tokens handed over (Azure CLI).
pub mod device_code;
mod error;
/// Workload identity federation: a CI job's OIDC token as the client assertion.
pub mod federated;
mod groups;
/// Per-task observation of Graph attempts (rule traces).
pub mod observe;
/// `$filter` building helpers (literal quoting).
pub mod odata;
mod paging;
mod retry;
/// Clients pointed at the simulated tenant (feature `test-support`).
#[cfg(feature = "test-support")]
pub mod testing;
mod token;
/// Per-callout Graph call counting ([`usage::measure`]).
pub mod usage;
mod user_flows;
mod users;

pub use applications::{
    AddedPassword, ApiApplication, AppRole, AppRoleAssignment, AppRoleGrant, Application,
    Applications, ExtensionApiRegistration, FederatedIdentityCredential, GITHUB_ACTIONS_ISSUER,
    KeyCredential, MICROSOFT_GRAPH_APP_ID, PasswordCredential, RECEIVE_PAYLOAD_ROLE,
    RECEIVE_PAYLOAD_ROLE_ID, RequiredResourceAccess, ResourceAccess, ServicePrincipal,
    ServicePrincipals, TOKEN_EXCHANGE_AUDIENCE, extension_api_identifier_uri,
    github_branch_subject, github_environment_subject, github_pull_request_subject,
};
pub use arm::{ArmClient, ArmConfig, ArmCredential, ArmError, CiamDirectories};
pub use auth_extensions::{
    AuthenticationConfiguration, AuthenticationConfigurationValidation,
    AuthenticationEventListener, AuthenticationEventListeners, ClaimForTokenConfiguration,
    ClientConfiguration, ConditionApplication, ConditionApplications,
    CustomAuthenticationExtension, CustomAuthenticationExtensions, EndpointConfiguration,
    ExtensionReference, ExtensionType, ListenerConditions, ListenerHandler, ListenerType,
    ValidationFinding,
};
pub use branding::{
    Branding, BrandingAsset, BrandingLookup, BrandingProperties, BrandingStream, DEFAULT_LOCALE,
    LoginPageLayoutConfiguration, LoginPageTextVisibilitySettings, Organization, Organizations,
};
pub use client::{ConfigError, GraphClient, GraphRequest, GraphResponse};
pub use config::{GRAPH_DEFAULT_SCOPE, GraphConfig, RetryPolicy};
pub use consistency::{AfterCreate, after_create};
pub use credential::{
    AssertionAlgorithm, ClientCredential, CredentialError, SecretProvider, SecretProviderError,
    SecretString,
};
pub use device_code::{DelegatedToken, DeviceCodeChallenge, DeviceCodeFlow, DevicePoll};
pub use error::{ApiError, AuthError, GraphError};
pub use federated::FederatedTokenSource;
pub use groups::{DirectoryObject, Group, Groups};
pub use paging::{ListQuery, Page, Pager};
pub use usage::GraphUsage;
pub use user_flows::{
    APPLE_MANAGED_IDENTITY_PROVIDER, AttributeCollection, AttributeCollectionPage,
    AttributeCollectionView, AttributeInput, BUILT_IN_IDENTITY_PROVIDER, IdentityProvider,
    IdentityProviders, InputOption, InputType, InteractiveAuthFlowStart, MASKED_SECRET,
    MaskedSecret, MethodLoadStart, SELF_SERVICE_SIGN_UP_FLOW, SOCIAL_IDENTITY_PROVIDER,
    UserCreateStart, UserFlow, UserFlowAttribute, UserFlowAttributes, UserFlows,
    member_user_create_start,
};
pub use users::{
    ExtensionAttribute, NewUser, ObjectIdentity, PasswordProfile, User, UserPatch, Users,
};

/// Re-exported so callers can name deadlines without depending on tokio's feature set directly.
pub use tokio::time::Instant;
