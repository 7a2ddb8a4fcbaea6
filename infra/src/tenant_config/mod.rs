//! Tenant configuration as code: a declarative file (`tenant.toml`) compared with a tenant through
//! Microsoft Graph, for `entra-hooks plan`, `apply` and `export`.
//!
//! - [`plan`]: the comparison itself, over kind-agnostic [`plan::Object`]s, and the table people
//!   read (also the CI job summary).

pub mod plan;
