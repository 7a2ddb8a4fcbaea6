//! Deployment helpers and the tenant CLI: `check-config` (below), `replay` ([`replay`]),
//! `audit-export` ([`audit_export`]), `subscriptions` ([`subscriptions`]) and `decrypt`
//! ([`decrypt`]), `test` ([`cases`]), and `tenant create|show|delete` ([`tenant_lifecycle`]).
//!
//! `entra-hooks check-config` validates a function configuration exactly as a deployed function
//! does at start (file plus `ENTRA_HOOKS_*` environment overrides), so a bad value is caught
//! before `sam deploy` rather than in the first cold start.

pub mod audit_export;
pub mod bootstrap;
pub mod cases;
pub mod decrypt;
pub mod replay;
pub mod serve;
pub mod subscriptions;
pub mod tenant_config;
pub mod tenant_lifecycle;

use std::path::Path;

use entra_platform::CommonConfig;
use entra_platform::config::load_config_with_env;

/// Loads and validates `path` with the given environment, and describes what a function would run
/// with. The error text is the same a function would log at start.
pub fn check_config<I, K, V>(path: Option<&Path>, env: I) -> anyhow::Result<String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let config: CommonConfig = load_config_with_env(path, env)?;
    let mut summary = format!(
        "configuration is valid\n  tenant          {} ({}.ciamlogin.com)\n  extension app   {}\n  token discovery {}\n",
        config.tenant.id,
        config.tenant.name,
        config.extension.app_id,
        config.discovery_url()
    );
    match &config.graph {
        Some(graph) => summary.push_str(&format!(
            "  graph           client {} at {}\n",
            graph.client_id,
            graph.base_url()
        )),
        None => summary.push_str("  graph           not configured\n"),
    }
    Ok(summary)
}
