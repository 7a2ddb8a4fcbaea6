//! Config loading: file, environment overrides, validation and the operator-facing messages.

use std::io::Write;
use std::path::{Path, PathBuf};

use entra_platform::config::{
    CommonConfig, ConfigError, ConfigProblem, GraphConfig, Guid, LogFormat, TenantConfig, Validate,
    ValidationReport, load_config, load_config_with_env,
};
use entra_platform::secrets::SecretRef;
use serde::Deserialize;

const TENANT_ID: &str = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93";
const APP_ID: &str = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13";
const GRAPH_CLIENT_ID: &str = "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50";

const MINIMAL: &str = r#"
[tenant]
id = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"
name = "entrahooksdemo"

[extension]
app_id = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"
"#;

/// A config file in a temp dir; the dir lives as long as the returned guard.
fn config_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entra-hooks.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(contents.as_bytes())
        .unwrap();
    (dir, path)
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn load(path: &Path, env: &[(&str, &str)]) -> Result<CommonConfig, ConfigError> {
    load_config_with_env(Some(path), env.iter().map(|(k, v)| (*k, *v)))
}

#[test]
fn a_minimal_file_gets_the_documented_defaults() {
    let (_dir, path) = config_file(MINIMAL);
    let config: CommonConfig = load_config_with_env(Some(&path), no_env()).unwrap();

    assert_eq!(config.tenant.id.as_str(), TENANT_ID);
    assert_eq!(config.tenant.name.as_str(), "entrahooksdemo");
    assert_eq!(config.extension.app_id.as_str(), APP_ID);
    assert_eq!(config.extension.app_id_uri, None);
    assert_eq!(config.extension.allowed_extension_ids, None);
    assert_eq!(config.auth.clock_skew_secs, 300);
    assert_eq!(config.auth.jwks_ttl_secs, 86_400);
    assert_eq!(config.limits.max_body_bytes, 256 * 1024);
    assert_eq!(config.log.format, None);
    assert_eq!(config.log.level, None);
    assert!(config.graph.is_none());
    assert_eq!(
        config.discovery_url(),
        "https://entrahooksdemo.ciamlogin.com/4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93/v2.0/.well-known/openid-configuration"
    );
}

#[test]
fn a_full_file_is_read_into_every_section() {
    let (_dir, path) = config_file(&format!(
        r#"{MINIMAL}
app_id_uri = "api://hooks.example.com/{APP_ID}"
allowed_extension_ids = ["A1B2C3D4-0000-4000-8000-000000000001"]

[auth]
discovery_url = "http://127.0.0.1:8080/{TENANT_ID}/v2.0/.well-known/openid-configuration"
clock_skew_secs = 60
jwks_ttl_secs = 3600

[graph]
client_id = "{GRAPH_CLIENT_ID}"
authority_host = "http://127.0.0.1:8080/"
base_url = "http://127.0.0.1:8080/v1.0"
secret = "aws-sm:entra-hooks/graph#client_secret"

[limits]
max_body_bytes = 1024

[log]
format = "json"
level = "debug"
"#
    ));
    let config: CommonConfig = load_config_with_env(Some(&path), no_env()).unwrap();

    assert_eq!(
        config.extension.app_id_uri.as_deref(),
        Some(format!("api://hooks.example.com/{APP_ID}").as_str())
    );
    // GUIDs are normalised to lower case, so they compare equal to token claims.
    assert_eq!(
        config.extension.allowed_extension_ids,
        Some(vec![
            "a1b2c3d4-0000-4000-8000-000000000001"
                .parse::<Guid>()
                .unwrap()
        ])
    );
    assert_eq!(
        config.discovery_url(),
        format!("http://127.0.0.1:8080/{TENANT_ID}/v2.0/.well-known/openid-configuration")
    );
    assert_eq!(config.auth.clock_skew().as_secs(), 60);
    assert_eq!(config.auth.jwks_ttl().as_secs(), 3600);
    let graph = config.require_graph().unwrap();
    assert_eq!(graph.client_id.as_str(), GRAPH_CLIENT_ID);
    assert_eq!(graph.authority_host(), "http://127.0.0.1:8080");
    assert_eq!(graph.base_url(), "http://127.0.0.1:8080/v1.0");
    assert_eq!(
        graph.secret,
        SecretRef::AwsSecretsManager {
            secret_id: "entra-hooks/graph".into(),
            json_key: Some("client_secret".into())
        }
    );
    assert_eq!(config.limits.max_body_bytes, 1024);
    assert_eq!(config.log.format, Some(LogFormat::Json));
    assert_eq!(config.log.level.as_deref(), Some("debug"));
}

#[test]
fn graph_defaults_point_at_the_public_cloud() {
    let (_dir, path) = config_file(&format!(
        "{MINIMAL}\n[graph]\nclient_id = \"{GRAPH_CLIENT_ID}\"\nsecret = \"env:GRAPH_SECRET\"\n"
    ));
    let config: CommonConfig = load_config_with_env(Some(&path), no_env()).unwrap();
    let graph = config.require_graph().unwrap();
    assert_eq!(graph.authority_host(), "https://login.microsoftonline.com");
    assert_eq!(graph.base_url(), "https://graph.microsoft.com/v1.0");
}

#[test]
fn environment_variables_override_the_file() {
    let (_dir, path) = config_file(MINIMAL);
    let other_tenant = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let config = load(
        &path,
        &[
            ("ENTRA_HOOKS_TENANT__ID", other_tenant),
            ("ENTRA_HOOKS_AUTH__CLOCK_SKEW_SECS", "120"),
            ("ENTRA_HOOKS_LOG__FORMAT", "text"),
            (
                "ENTRA_HOOKS_EXTENSION__ALLOWED_EXTENSION_IDS",
                r#"["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]"#,
            ),
            ("ENTRA_HOOKS_GRAPH__CLIENT_ID", GRAPH_CLIENT_ID),
            ("ENTRA_HOOKS_GRAPH__SECRET", "aws-sm:prod/graph#secret"),
            // Not ours: ignored.
            ("OTHER_TENANT__ID", "x"),
            // Names the file, is not a key: ignored by the override pass.
            ("ENTRA_HOOKS_CONFIG", "/nonexistent.toml"),
        ],
    )
    .unwrap();

    assert_eq!(config.tenant.id.as_str(), other_tenant);
    // Keys the environment did not set still come from the file.
    assert_eq!(config.tenant.name.as_str(), "entrahooksdemo");
    assert_eq!(config.auth.clock_skew_secs, 120);
    assert_eq!(config.log.format, Some(LogFormat::Text));
    assert_eq!(
        config.extension.allowed_extension_ids,
        Some(vec![other_tenant.parse().unwrap()])
    );
    let graph = config.require_graph().unwrap();
    assert_eq!(graph.client_id.as_str(), GRAPH_CLIENT_ID);
    assert_eq!(graph.secret.to_string(), "aws-sm:prod/graph#secret");
}

#[test]
fn the_environment_alone_is_a_complete_source() {
    let config: CommonConfig = load_config_with_env(
        None,
        [
            ("ENTRA_HOOKS_TENANT__ID", TENANT_ID),
            ("ENTRA_HOOKS_TENANT__NAME", "entrahooksdemo"),
            ("ENTRA_HOOKS_EXTENSION__APP_ID", APP_ID),
        ],
    )
    .unwrap();
    assert_eq!(config.tenant.id.as_str(), TENANT_ID);
}

#[test]
fn load_config_reads_the_given_file() {
    let (_dir, path) = config_file(MINIMAL);
    let config: CommonConfig = load_config(Some(&path)).unwrap();
    assert_eq!(config.extension.app_id.as_str(), APP_ID);
}

#[test]
fn a_bad_guid_names_key_value_and_both_fixes() {
    let (_dir, path) = config_file(&MINIMAL.replace(TENANT_ID, "not-a-guid"));
    let err = load(&path, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tenant.id must be a GUID like 4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93 (got \"not-a-guid\"); \
             set it in {} [tenant] id or ENTRA_HOOKS_TENANT__ID",
            path.display()
        )
    );
}

#[test]
fn a_bad_value_from_the_environment_says_where_it_came_from() {
    let (_dir, path) = config_file(MINIMAL);
    let err = load(&path, &[("ENTRA_HOOKS_TENANT__NAME", "123")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tenant.name is invalid: invalid type: integer `123`, expected a string \
             [value from ENTRA_HOOKS_TENANT__NAME; quote it to force a string]; \
             set it in {} [tenant] name or ENTRA_HOOKS_TENANT__NAME",
            path.display()
        )
    );
}

#[test]
fn range_checks_report_every_problem_at_once() {
    let (_dir, path) = config_file(&format!(
        "{MINIMAL}\n[auth]\nclock_skew_secs = 601\njwks_ttl_secs = 10\n[limits]\nmax_body_bytes = 0\n[log]\nlevel = \"infoo\"\n"
    ));
    let err = load(&path, &[]).unwrap_err();
    let keys: Vec<&str> = err.problems().iter().map(ConfigProblem::key).collect();
    assert_eq!(
        keys,
        [
            "auth.clock_skew_secs",
            "auth.jwks_ttl_secs",
            "limits.max_body_bytes",
            "log.level"
        ]
    );
    let message = err.to_string();
    let file = path.display();
    assert!(
        message.starts_with("4 configuration problems:\n  - "),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "auth.clock_skew_secs must be at most 600 (seconds) (got 601); \
             set it in {file} [auth] clock_skew_secs or ENTRA_HOOKS_AUTH__CLOCK_SKEW_SECS"
        )),
        "{message}"
    );
    assert!(
        message.contains("log.level must be a level (trace, debug, info, warn, error) or a filter like info,entra_tokens=debug (got \"infoo\")"),
        "{message}"
    );
}

#[test]
fn unknown_keys_in_the_file_are_named() {
    let (_dir, path) = config_file(&MINIMAL.replace("name =", "nmae ="));
    let err = load(&path, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unknown key tenant.nmae in {} (known keys here: id or name); remove it or fix its spelling",
            path.display()
        )
    );
}

#[test]
fn unknown_sections_are_named() {
    let (_dir, path) = config_file(&format!("{MINIMAL}\n[limts]\nmax_body_bytes = 1\n"));
    let err = load(&path, &[]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "unknown key limts in {} (known keys here: ",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn unknown_keys_from_the_environment_name_the_variable() {
    let (_dir, path) = config_file(MINIMAL);
    let err = load(&path, &[("ENTRA_HOOKS_AUTH__CLOCK_SKEW", "5")]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(
            "unknown key auth.clock_skew set by environment variable ENTRA_HOOKS_AUTH__CLOCK_SKEW"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("remove the variable or fix its name"),
        "{message}"
    );
}

#[test]
fn missing_keys_and_sections_say_where_to_add_them() {
    let (_dir, path) = config_file(&MINIMAL.replace("name = \"entrahooksdemo\"", ""));
    let err = load(&path, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tenant.name is missing; set it in {} [tenant] name or ENTRA_HOOKS_TENANT__NAME",
            path.display()
        )
    );

    let err = load_config_with_env::<CommonConfig, _, String, String>(None, no_env()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "section [tenant] is missing; add it to entra-hooks.toml or set ENTRA_HOOKS_TENANT__<KEY> variables"
    );
}

#[test]
fn a_secret_pasted_where_a_reference_belongs_is_not_echoed() {
    let (_dir, path) = config_file(&format!(
        "{MINIMAL}\n[graph]\nclient_id = \"{GRAPH_CLIENT_ID}\"\nsecret = \"Zx8~hunter2.s3cr3t\"\n"
    ));
    let err = load(&path, &[]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("graph.secret must be a secret reference: aws-sm:<secret-id>[#json_key], env:<VAR> or file:<path>"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[test]
fn plain_http_is_refused_for_remote_hosts() {
    let (_dir, path) = config_file(&format!(
        "{MINIMAL}\n[auth]\ndiscovery_url = \"http://login.example.com/x\"\n"
    ));
    let err = load(&path, &[]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "auth.discovery_url must be an https:// URL (http:// only for localhost or 127.0.0.1) (got \"http://login.example.com/x\")"
        ),
        "{err}"
    );
}

#[test]
fn invalid_toml_reports_the_line() {
    let (_dir, path) = config_file("[tenant]\nid = \n");
    let err = load(&path, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("is not valid TOML"), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

/// Found by tests/fuzz_config.rs: toml's error text quotes the offending line, so a syntax error
/// next to a literal secret printed the secret at start-up.
#[test]
fn a_syntax_error_does_not_quote_the_line_it_is_on() {
    let secret = "Zx8~hunter2.s3cr3t";
    let (_dir, path) = config_file(&format!(
        "{MINIMAL}\n[graph]\nclient_id = \"{GRAPH_CLIENT_ID}\"\nsecret = \"literal:{secret}\" junk\n"
    ));
    let err = load(&path, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    let message = err.to_string();
    assert!(!message.contains(secret), "{message}");
    assert!(message.contains("line 11, column 39"), "{message}");
}

#[test]
fn an_unreadable_file_names_the_path() {
    let err = load(Path::new("/nonexistent/entra-hooks.toml"), &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("could not read config file /nonexistent/entra-hooks.toml:"),
        "{err}"
    );
}

#[test]
fn require_graph_explains_a_missing_section() {
    let (_dir, path) = config_file(MINIMAL);
    let config = load(&path, &[]).unwrap();
    let err = config.require_graph().unwrap_err();
    assert_eq!(
        err.to_string(),
        "graph.client_id is missing; set it in entra-hooks.toml [graph] client_id or ENTRA_HOOKS_GRAPH__CLIENT_ID"
    );
}

/// A function with its own section composes the shared section types and validates its own part.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationsConfig {
    tenant: TenantConfig,
    graph: GraphConfig,
    notifications: NotificationsSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationsSection {
    max_batch: u32,
}

impl Validate for NotificationsConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.tenant.validate(report);
        self.graph.validate(report);
        if self.notifications.max_batch == 0 || self.notifications.max_batch > 10 {
            report.invalid(
                "notifications.max_batch",
                "must be between 1 and 10 (SQS batch size)",
                Some(&self.notifications.max_batch),
            );
        }
    }
}

#[test]
fn functions_validate_their_own_sections_with_the_same_messages() {
    let (_dir, path) = config_file(&format!(
        "[tenant]\nid = \"{TENANT_ID}\"\nname = \"demo\"\n[graph]\nclient_id = \"{GRAPH_CLIENT_ID}\"\nsecret = \"env:S\"\n[notifications]\nmax_batch = 5\n"
    ));
    let ok: NotificationsConfig = load_config_with_env(Some(&path), no_env()).unwrap();
    assert_eq!(ok.notifications.max_batch, 5);

    let err = load_config_with_env::<NotificationsConfig, _, _, _>(
        Some(&path),
        [("ENTRA_HOOKS_NOTIFICATIONS__MAX_BATCH", "11")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "notifications.max_batch must be between 1 and 10 (SQS batch size) (got 11) \
             [value from ENTRA_HOOKS_NOTIFICATIONS__MAX_BATCH]; \
             set it in {} [notifications] max_batch or ENTRA_HOOKS_NOTIFICATIONS__MAX_BATCH",
            path.display()
        )
    );
}
