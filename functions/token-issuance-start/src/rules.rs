//! The `[token_issuance_start]` section of the rules file: which claims the custom claims provider
//! puts in a token, where each value comes from, for which client applications, and what happens
//! when a source is slow or down (docs/protocols/extension-callbacks.md a.5 and c.3).
//!
//! The section is read from the original file text, so every problem is reported with its line and
//! column and a fix (`rules.toml:14:10: token_issuance_start.claims[2].prefix: ...; fix: ...`).
//! `rules.example.toml` next to this crate's `Cargo.toml` is a complete, commented example.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use entra_extensions::budget::{DEFAULT_TIMEOUT, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use entra_extensions::{ClaimValue, RulesError, RulesFile, RulesReport, ValidateRules};
use entra_graph::ExtensionAttribute;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_spanned::Spanned;

/// The rules file section this function reads.
pub const SECTION: &str = "token_issuance_start";
/// Users kept in the Graph cache when `cache_max_users` is not set.
pub const DEFAULT_CACHE_MAX_USERS: u64 = 10_000;
/// Longest cache lifetime accepted: claims must follow directory changes within minutes.
pub const MAX_CACHE_TTL_SECONDS: u64 = 3600;

/// Every `source` a claim rule may name.
const SOURCES: [&str; 5] = ["user", "extension", "groups", "context", "constant"];

/// `[token_issuance_start]`: the declarative claims of the custom claims provider.
///
/// ```toml
/// [token_issuance_start]
/// timeout_ms = 1000              # the extension's timeoutInMilliseconds (200-2000, default 1000)
/// extension_app_id = "…"         # appId of the b2c-extensions-app, once, for source = "extension"
/// cache_ttl_seconds = 60         # cache Graph reads per user (default 0 = off, at most 3600)
/// cache_max_users = 10000        # bound of that cache (default 10000)
///
/// [[token_issuance_start.claims]]
/// name = "loyaltyTier"           # claim id the claims mapping policy refers to (case-sensitive)
/// source = "extension"           # user | extension | groups | context | constant
/// attribute = "loyaltyTier"      # short name: extension_{appIdNoDashes}_loyaltyTier is read
/// default = "None"               # when the user has no value (string or array)
/// on_error = "omit"              # omit (default) | default | fail
/// client_apps = ["…"]            # only for these client application ids (default: every app)
/// ```
///
/// Sources and their keys:
/// - `user`: `attribute` = a Graph user property (`displayName`, `givenName`, `mail`, `city`,
///   `otherMails`, ...). Taken from the callout's `user` object when it carries the property,
///   otherwise read from Graph by user id with `$select`.
/// - `extension`: `attribute` = the short name of a custom attribute; needs `extension_app_id`.
/// - `groups`: transitive group membership, filtered by `prefix` (display-name prefix, compared
///   ignoring ASCII case) or `ids` (group object ids); `emit = "names"` (default) or `"ids"`;
///   `strip_prefix = true` removes the prefix from emitted names. Sorted, without duplicates.
/// - `context`: `field` = `client_app_id`, `client_app_display_name`, `resource_app_id`,
///   `resource_app_display_name`, `locale`, `market`, `ip`, `protocol`, `correlation_id`,
///   `tenant_id`: values from the callout itself, no Graph call.
/// - `constant`: `value` = a string or an array of strings.
///
/// Values and shapes: claims are strings or string arrays. A multi-valued source (groups, a Graph
/// collection property, an array constant) stays an array even with one element; `multi = true`
/// makes a single value a one-element array, `multi = false` joins several values with `,`.
/// Numbers and booleans from Graph become strings; empty strings and empty arrays count as "no
/// value": the claim is left out unless the rule has a `default`.
///
/// Defaults (documented, and what an absent key means):
/// - `timeout_ms = 1000`; the answer is built by `timeout_ms` minus a 150 ms safety margin.
/// - `on_error = "omit"`: when Graph fails or is late, the token is issued without that claim
///   (Entra fails the whole sign-in on any error of ours, c.2, so partial claims are the kinder
///   default). `"default"` uses the rule's `default` instead; `"fail"` answers HTTP 500 so Entra
///   shows its error page: use it for claims that security decisions depend on.
/// - Graph reads: at most one user read (every `user` and `extension` property in one `$select`)
///   and one transitive group read per call, run concurrently, both under the call's deadline.
/// - Cache: off. With `cache_ttl_seconds > 0`, Graph-derived values are kept per user id for that
///   long, so a burst of token requests for one user reads Graph once.
/// - Size: Entra refuses more than 3 KB of claims (error 1003025), so an over-limit answer is never
///   sent. Claims are ranked by their order in the file (first = most important), custom extension
///   claims after every rule; the lowest-ranked claims are dropped, with a warning, until the rest
///   fits. Claims of `on_error = "fail"` rules (and of required extensions) are never dropped: if
///   they alone do not fit, the answer is HTTP 500.
/// - Claim names are unique; the same name may appear twice only in rules scoped to disjoint
///   `client_apps`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssuanceStartRules {
    #[serde(default)]
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    extension_app_id: Option<Spanned<String>>,
    #[serde(default)]
    cache_ttl_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    cache_max_users: Option<Spanned<u64>>,
    #[serde(default)]
    claims: Vec<ClaimRuleSpec>,
}

/// One `[[token_issuance_start.claims]]` entry as written; checked and compiled by
/// [`TokenIssuanceStartRules`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRuleSpec {
    name: Spanned<String>,
    source: Spanned<String>,
    #[serde(default)]
    attribute: Option<Spanned<String>>,
    #[serde(default)]
    field: Option<Spanned<String>>,
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    #[serde(default)]
    ids: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    emit: Option<Spanned<String>>,
    #[serde(default)]
    strip_prefix: Option<Spanned<bool>>,
    #[serde(default)]
    value: Option<Spanned<Configured>>,
    #[serde(default)]
    default: Option<Spanned<Configured>>,
    #[serde(default)]
    multi: Option<Spanned<bool>>,
    #[serde(default)]
    client_apps: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    on_error: Option<Spanned<String>>,
}

/// A configured claim value: a string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Configured(ClaimValue);

impl<'de> Deserialize<'de> for Configured {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConfiguredVisitor;
        impl<'de> Visitor<'de> for ConfiguredVisitor {
            type Value = Configured;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Configured, E> {
                Ok(Configured(ClaimValue::One(value.to_owned())))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Configured, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(Configured(ClaimValue::Many(values)))
            }
        }
        deserializer.deserialize_any(ConfiguredVisitor)
    }
}

/// What a rule does when its Graph source fails or does not answer within the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OnError {
    /// Answer without the claim (the default).
    #[default]
    Omit,
    /// Answer with the rule's `default` value.
    Default,
    /// Answer HTTP 500: Entra then shows its error and issues no token.
    Fail,
}

/// A value taken from the callout itself (`source = "context"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContextField {
    ClientAppId,
    ClientAppDisplayName,
    ResourceAppId,
    ResourceAppDisplayName,
    Locale,
    Market,
    Ip,
    Protocol,
    CorrelationId,
    TenantId,
}

const CONTEXT_FIELDS: [(&str, ContextField); 10] = [
    ("client_app_id", ContextField::ClientAppId),
    (
        "client_app_display_name",
        ContextField::ClientAppDisplayName,
    ),
    ("resource_app_id", ContextField::ResourceAppId),
    (
        "resource_app_display_name",
        ContextField::ResourceAppDisplayName,
    ),
    ("locale", ContextField::Locale),
    ("market", ContextField::Market),
    ("ip", ContextField::Ip),
    ("protocol", ContextField::Protocol),
    ("correlation_id", ContextField::CorrelationId),
    ("tenant_id", ContextField::TenantId),
];

/// Which of the user's groups a `groups` rule keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupFilter {
    /// Display names starting with this (ASCII case ignored, as Graph's `startswith`).
    Prefix(String),
    /// These object ids (lower-case).
    Ids(BTreeSet<String>),
}

/// What a `groups` rule emits per kept group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupEmit {
    Names,
    Ids,
}

/// A checked `groups` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupSelection {
    pub filter: GroupFilter,
    pub emit: GroupEmit,
    pub strip_prefix: bool,
}

/// Where a checked rule takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A Graph user property, from the callout's `user` when present there.
    UserProperty(String),
    /// `extension_{appIdNoDashes}_{name}`, from Graph.
    Extension(String),
    Groups(GroupSelection),
    Context(ContextField),
    Constant(ClaimValue),
}

impl Source {
    pub fn reads_graph(&self) -> bool {
        matches!(
            self,
            Source::UserProperty(_) | Source::Extension(_) | Source::Groups(_)
        )
    }
}

/// A checked claim rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimRule {
    pub name: String,
    pub source: Source,
    pub multi: Option<bool>,
    pub default: Option<ClaimValue>,
    pub on_error: OnError,
    /// Lower-case client application ids; `None` = every application.
    pub client_apps: Option<BTreeSet<String>>,
}

impl ClaimRule {
    /// Whether the rule runs for a sign-in to `client_app` (the callout's client appId).
    pub fn applies_to(&self, client_app: Option<&str>) -> bool {
        match &self.client_apps {
            None => true,
            Some(apps) => client_app.is_some_and(|app| apps.contains(&app.to_ascii_lowercase())),
        }
    }
}

/// Cache settings, when the cache is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    pub ttl: Duration,
    pub max_users: usize,
}

/// The section after every check: what the provider runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub timeout: Duration,
    pub cache: Option<CacheSettings>,
    pub rules: Vec<ClaimRule>,
    /// Every user property and extension attribute any rule reads from Graph (what a cached read
    /// selects, so one entry serves every client application).
    pub graph_properties: BTreeSet<String>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            cache: None,
            rules: Vec::new(),
            graph_properties: BTreeSet::new(),
        }
    }
}

/// One problem found while checking the section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub key: String,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub fix: Option<String>,
}

impl TokenIssuanceStartRules {
    /// Reads the section from a rules file's text (`origin` names it in messages), with every
    /// check of [`ValidateRules`]. A text without the section gives the defaults.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, RulesError> {
        RulesFile::parse(text, origin)?.section(SECTION)
    }

    /// Entra's timeout for this extension (`timeout_ms`, default 1000 ms).
    pub fn timeout(&self) -> Duration {
        self.timeout_ms
            .as_ref()
            .map_or(DEFAULT_TIMEOUT, |t| Duration::from_millis(*t.get_ref()))
    }

    /// Whether any rule may read Microsoft Graph (so the function needs a `[graph]` client).
    pub fn needs_graph(&self) -> bool {
        self.claims.iter().any(|rule| {
            matches!(
                rule.source.get_ref().as_str(),
                "user" | "extension" | "groups"
            )
        })
    }

    /// Names of the claims whose rules may read Graph, for messages.
    pub(crate) fn graph_claim_names(&self) -> Vec<String> {
        self.claims
            .iter()
            .filter(|rule| {
                matches!(
                    rule.source.get_ref().as_str(),
                    "user" | "extension" | "groups"
                )
            })
            .map(|rule| rule.name.get_ref().clone())
            .collect()
    }

    /// Checks everything and compiles the rules, or lists every problem found.
    pub(crate) fn compile(&self) -> Result<Plan, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut push =
            |key: String, span: Option<Range<usize>>, message: String, fix: Option<String>| {
                problems.push(Problem {
                    key,
                    span,
                    message,
                    fix,
                });
            };

        let timeout = match &self.timeout_ms {
            Some(t) if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(t.get_ref()) => {
                push(
                    format!("{SECTION}.timeout_ms"),
                    Some(t.span()),
                    format!(
                        "is {} ms, but Entra accepts {MIN_TIMEOUT_MS}-{MAX_TIMEOUT_MS} ms",
                        t.get_ref()
                    ),
                    Some("timeout_ms = 1000 (the extension's timeoutInMilliseconds)".into()),
                );
                DEFAULT_TIMEOUT
            }
            _ => self.timeout(),
        };

        let extension_app_id = match &self.extension_app_id {
            Some(id) if is_guid(id.get_ref()) || is_hex32(id.get_ref()) => {
                Some(id.get_ref().clone())
            }
            Some(id) => {
                push(
                    format!("{SECTION}.extension_app_id"),
                    Some(id.span()),
                    format!("`{}` is not an application (client) id", id.get_ref()),
                    Some(
                        "extension_app_id = \"<appId of the b2c-extensions-app>\" (a GUID, e.g. 00000000-0000-0000-0000-000000000000)"
                            .into(),
                    ),
                );
                None
            }
            None => None,
        };

        let ttl = self.cache_ttl_seconds.as_ref().map_or(0, |t| *t.get_ref());
        if let Some(t) = &self.cache_ttl_seconds
            && *t.get_ref() > MAX_CACHE_TTL_SECONDS
        {
            push(
                format!("{SECTION}.cache_ttl_seconds"),
                Some(t.span()),
                format!(
                    "is {} s; claims would lag directory changes by that long (at most {MAX_CACHE_TTL_SECONDS})",
                    t.get_ref()
                ),
                Some("cache_ttl_seconds = 60".into()),
            );
        }
        let max_users = self
            .cache_max_users
            .as_ref()
            .map_or(DEFAULT_CACHE_MAX_USERS, |m| *m.get_ref());
        if let Some(m) = &self.cache_max_users
            && (*m.get_ref() == 0 || *m.get_ref() > 1_000_000)
        {
            push(
                format!("{SECTION}.cache_max_users"),
                Some(m.span()),
                format!("is {}; it must be 1-1000000", m.get_ref()),
                Some(format!(
                    "cache_max_users = {DEFAULT_CACHE_MAX_USERS}, or cache_ttl_seconds = 0 to turn the cache off"
                )),
            );
        }
        let cache = (ttl > 0).then(|| CacheSettings {
            ttl: Duration::from_secs(ttl.min(MAX_CACHE_TTL_SECONDS)),
            max_users: usize::try_from(max_users.clamp(1, 1_000_000)).unwrap_or(10_000),
        });

        let mut rules = Vec::new();
        for (index, spec) in self.claims.iter().enumerate() {
            let mut rule_problems = Vec::new();
            if let Some(rule) = compile_rule(index, spec, &extension_app_id, &mut rule_problems) {
                rules.push(rule);
            }
            problems.extend(rule_problems);
        }

        // Names are unique, except across rules scoped to disjoint client applications. Checked
        // on every rule as written, so a duplicate is reported even next to other problems.
        let scopes: Vec<Option<BTreeSet<String>>> = self
            .claims
            .iter()
            .map(|spec| {
                spec.client_apps.as_ref().map(|apps| {
                    apps.get_ref()
                        .iter()
                        .map(|app| app.get_ref().to_ascii_lowercase())
                        .collect()
                })
            })
            .collect();
        for (later, spec) in self.claims.iter().enumerate() {
            let name = spec.name.get_ref();
            if let Some(first) = (0..later).find(|&earlier| {
                self.claims[earlier].name.get_ref() == name
                    && scopes_overlap(&scopes[earlier], &scopes[later])
            }) {
                problems.push(Problem {
                    key: format!("{SECTION}.claims[{later}].name"),
                    span: Some(spec.name.span()),
                    message: format!(
                        "claim `{name}` is already produced by {SECTION}.claims[{first}] for the same client applications"
                    ),
                    fix: Some(
                        "rename one of them, or scope both with client_apps lists that share no app id"
                            .into(),
                    ),
                });
            }
        }

        if !problems.is_empty() {
            // In file order, as an operator reads them.
            problems.sort_by_key(|p| p.span.as_ref().map_or(usize::MAX, |s| s.start));
            return Err(problems);
        }
        let graph_properties = rules
            .iter()
            .filter_map(|rule| match &rule.source {
                Source::UserProperty(p) | Source::Extension(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        Ok(Plan {
            timeout,
            cache,
            rules,
            graph_properties,
        })
    }
}

impl ValidateRules for TokenIssuanceStartRules {
    fn validate(&self, report: &mut RulesReport) {
        if let Err(problems) = self.compile() {
            for problem in problems {
                report.error(problem.key, problem.span, problem.message, problem.fix);
            }
        }
    }
}

fn scopes_overlap(a: &Option<BTreeSet<String>>, b: &Option<BTreeSet<String>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => !a.is_disjoint(b),
        _ => true,
    }
}

/// Checks one rule; `None` when it has a problem (recorded in `problems`).
fn compile_rule(
    index: usize,
    spec: &ClaimRuleSpec,
    extension_app_id: &Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<ClaimRule> {
    let key = |k: &str| format!("{SECTION}.claims[{index}].{k}");
    let mut problem = |k: &str, span: Range<usize>, message: String, fix: Option<String>| {
        problems.push(Problem {
            key: key(k),
            span: Some(span),
            message,
            fix,
        });
    };

    let name = spec.name.get_ref();
    if name.trim().is_empty() {
        problem(
            "name",
            spec.name.span(),
            "is empty; Entra refuses empty claim names (error 1003026)".into(),
            Some("name = \"loyaltyTier\" (the claim id your claims mapping policy uses)".into()),
        );
    } else if name.trim() != name {
        problem(
            "name",
            spec.name.span(),
            format!("`{name}` has leading or trailing spaces; claim names are matched exactly"),
            Some(format!("name = \"{}\"", name.trim())),
        );
    }

    let source_name = spec.source.get_ref().as_str();
    if !SOURCES.contains(&source_name) {
        problem(
            "source",
            spec.source.span(),
            format!("`{source_name}` is not a claim source"),
            Some(format!("source = one of {}", quoted(&SOURCES))),
        );
        return None;
    }

    // Keys that only some sources use: anything else is a mistake worth reporting.
    let allowed: &[&str] = match source_name {
        "user" | "extension" => &["attribute", "default", "on_error"],
        "groups" => &[
            "prefix",
            "ids",
            "emit",
            "strip_prefix",
            "default",
            "on_error",
        ],
        "context" => &["field", "default"],
        _ => &["value"],
    };
    let present: [(&str, Option<Range<usize>>); 9] = [
        ("attribute", spec.attribute.as_ref().map(Spanned::span)),
        ("field", spec.field.as_ref().map(Spanned::span)),
        ("prefix", spec.prefix.as_ref().map(Spanned::span)),
        ("ids", spec.ids.as_ref().map(Spanned::span)),
        ("emit", spec.emit.as_ref().map(Spanned::span)),
        (
            "strip_prefix",
            spec.strip_prefix.as_ref().map(Spanned::span),
        ),
        ("value", spec.value.as_ref().map(Spanned::span)),
        ("default", spec.default.as_ref().map(Spanned::span)),
        ("on_error", spec.on_error.as_ref().map(Spanned::span)),
    ];
    let mut misplaced = false;
    for (k, span) in present {
        if let Some(span) = span
            && !allowed.contains(&k)
        {
            let why = match k {
                "on_error" => " (only Graph sources can fail: user, extension, groups)",
                "default" => " (a constant always has its value)",
                _ => "",
            };
            problem(
                k,
                span,
                format!("does not apply to source = \"{source_name}\"{why}"),
                Some(format!("remove `{k}`, or use a source it belongs to")),
            );
            misplaced = true;
        }
    }

    let on_error = match spec.on_error.as_ref() {
        None => OnError::Omit,
        Some(value) => match value.get_ref().as_str() {
            "omit" => OnError::Omit,
            "default" => OnError::Default,
            "fail" => OnError::Fail,
            other => {
                problem(
                    "on_error",
                    value.span(),
                    format!("`{other}` is not a fallback"),
                    Some(
                        "on_error = \"omit\" (answer without the claim), \"default\" (use `default`) or \"fail\" (HTTP 500)"
                            .into(),
                    ),
                );
                return None;
            }
        },
    };

    let default = match spec.default.as_ref() {
        None => None,
        Some(value) => match non_empty(&value.get_ref().0) {
            Some(v) => Some(v),
            None => {
                problem(
                    "default",
                    value.span(),
                    "is empty; Entra would receive an empty claim".into(),
                    Some("remove `default` to leave the claim out when there is no value".into()),
                );
                return None;
            }
        },
    };
    if on_error == OnError::Default
        && default.is_none()
        && let Some(value) = spec.on_error.as_ref()
    {
        problem(
            "on_error",
            value.span(),
            "is \"default\" but the rule has no `default`".into(),
            Some("add default = \"...\", or use on_error = \"omit\"".into()),
        );
        return None;
    }

    let client_apps = match spec.client_apps.as_ref() {
        None => None,
        Some(list) if list.get_ref().is_empty() => {
            problem(
                "client_apps",
                list.span(),
                "is empty, so the rule would never run".into(),
                Some(
                    "list client application ids, or remove client_apps to apply the rule to every application"
                        .into(),
                ),
            );
            return None;
        }
        Some(list) => {
            let mut apps = BTreeSet::new();
            let mut bad = false;
            for app in list.get_ref() {
                if is_guid(app.get_ref()) {
                    apps.insert(app.get_ref().to_ascii_lowercase());
                } else {
                    problem(
                        "client_apps",
                        app.span(),
                        format!("`{}` is not an application (client) id", app.get_ref()),
                        Some(
                            "use the appId GUID of the client application (Entra admin center > App registrations)"
                                .into(),
                        ),
                    );
                    bad = true;
                }
            }
            if bad {
                return None;
            }
            Some(apps)
        }
    };

    let source = match source_name {
        "user" => {
            let attribute = required_attribute(spec, index, "displayName", problems)?;
            let value = attribute.get_ref();
            if value.starts_with("extension_") {
                let short = value.rsplit('_').next().unwrap_or(value);
                problems.push(Problem {
                    key: key("attribute"),
                    span: Some(attribute.span()),
                    message: format!(
                        "`{value}` is a custom attribute; name it by its short name with source = \"extension\""
                    ),
                    fix: Some(format!("source = \"extension\" and attribute = \"{short}\"")),
                });
                return None;
            }
            if !is_property_name(value) {
                problems.push(Problem {
                    key: key("attribute"),
                    span: Some(attribute.span()),
                    message: format!("`{value}` is not a Graph user property name"),
                    fix: Some(
                        "use the property's Graph name, e.g. attribute = \"givenName\"".into(),
                    ),
                });
                return None;
            }
            Source::UserProperty(value.clone())
        }
        "extension" => {
            let attribute = required_attribute(spec, index, "loyaltyTier", problems)?;
            let value = attribute.get_ref();
            if value.starts_with("extension_") {
                let short = value.rsplit('_').next().unwrap_or(value);
                problems.push(Problem {
                    key: key("attribute"),
                    span: Some(attribute.span()),
                    message: format!(
                        "`{value}` is a full property name; give the short name (the app id comes from extension_app_id)"
                    ),
                    fix: Some(format!("attribute = \"{short}\"")),
                });
                return None;
            }
            if !is_property_name(value) {
                problems.push(Problem {
                    key: key("attribute"),
                    span: Some(attribute.span()),
                    message: format!("`{value}` is not a custom attribute name"),
                    fix: Some(
                        "use the name shown under External Identities > Custom user attributes, e.g. attribute = \"loyaltyTier\""
                            .into(),
                    ),
                });
                return None;
            }
            let Some(app_id) = extension_app_id else {
                problems.push(Problem {
                    key: key("source"),
                    span: Some(spec.source.span()),
                    message: "reads a custom attribute, but [token_issuance_start] has no extension_app_id".into(),
                    fix: Some(
                        "add extension_app_id = \"<appId of the b2c-extensions-app>\" under [token_issuance_start]"
                            .into(),
                    ),
                });
                return None;
            };
            Source::Extension(ExtensionAttribute::name(app_id, value))
        }
        "groups" => compile_groups(spec, index, problems)?,
        "context" => {
            let Some(field) = spec.field.as_ref() else {
                problems.push(Problem {
                    key: key("source"),
                    span: Some(spec.source.span()),
                    message: "source = \"context\" needs `field`".into(),
                    fix: Some(format!(
                        "add field = one of {}",
                        quoted(&CONTEXT_FIELDS.map(|(n, _)| n))
                    )),
                });
                return None;
            };
            match CONTEXT_FIELDS
                .iter()
                .find(|(n, _)| *n == field.get_ref().as_str())
            {
                Some((_, f)) => Source::Context(*f),
                None => {
                    problems.push(Problem {
                        key: key("field"),
                        span: Some(field.span()),
                        message: format!("`{}` is not a callout context field", field.get_ref()),
                        fix: Some(format!(
                            "field = one of {}",
                            quoted(&CONTEXT_FIELDS.map(|(n, _)| n))
                        )),
                    });
                    return None;
                }
            }
        }
        _ => {
            let Some(value) = spec.value.as_ref() else {
                problems.push(Problem {
                    key: key("source"),
                    span: Some(spec.source.span()),
                    message: "source = \"constant\" needs `value`".into(),
                    fix: Some("add value = \"...\" or value = [\"...\", \"...\"]".into()),
                });
                return None;
            };
            match non_empty(&value.get_ref().0) {
                Some(v) => Source::Constant(v),
                None => {
                    problems.push(Problem {
                        key: key("value"),
                        span: Some(value.span()),
                        message: "is empty; Entra would receive an empty claim".into(),
                        fix: Some("give a value, or remove the rule".into()),
                    });
                    return None;
                }
            }
        }
    };

    if misplaced || name.trim().is_empty() || name.trim() != name {
        return None;
    }
    Some(ClaimRule {
        name: name.clone(),
        source,
        multi: spec.multi.as_ref().map(|m| *m.get_ref()),
        default,
        on_error,
        client_apps,
    })
}

fn required_attribute<'a>(
    spec: &'a ClaimRuleSpec,
    index: usize,
    example: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'a Spanned<String>> {
    let source = spec.source.get_ref();
    match spec.attribute.as_ref() {
        Some(attribute) if !attribute.get_ref().trim().is_empty() => Some(attribute),
        Some(attribute) => {
            problems.push(Problem {
                key: format!("{SECTION}.claims[{index}].attribute"),
                span: Some(attribute.span()),
                message: "is empty".into(),
                fix: Some(format!("attribute = \"{example}\"")),
            });
            None
        }
        None => {
            problems.push(Problem {
                key: format!("{SECTION}.claims[{index}].source"),
                span: Some(spec.source.span()),
                message: format!("source = \"{source}\" needs `attribute`"),
                fix: Some(format!("add attribute = \"{example}\"")),
            });
            None
        }
    }
}

fn compile_groups(
    spec: &ClaimRuleSpec,
    index: usize,
    problems: &mut Vec<Problem>,
) -> Option<Source> {
    let key = |k: &str| format!("{SECTION}.claims[{index}].{k}");
    let filter = match (spec.prefix.as_ref(), spec.ids.as_ref()) {
        (Some(_), Some(ids)) => {
            problems.push(Problem {
                key: key("ids"),
                span: Some(ids.span()),
                message: "a groups rule filters by `prefix` or by `ids`, not both".into(),
                fix: Some("keep one of them; write a second rule for the other".into()),
            });
            return None;
        }
        (None, None) => {
            problems.push(Problem {
                key: key("source"),
                span: Some(spec.source.span()),
                message: "source = \"groups\" needs `prefix` or `ids` (every group would rarely fit Entra's 3 KB of claims)".into(),
                fix: Some("add prefix = \"Customers - \" or ids = [\"<group object id>\"]".into()),
            });
            return None;
        }
        (Some(prefix), None) => {
            if prefix.get_ref().trim().is_empty() {
                problems.push(Problem {
                    key: key("prefix"),
                    span: Some(prefix.span()),
                    message: "is empty, which would match every group".into(),
                    fix: Some(
                        "prefix = \"Customers - \" (the start of the display names to keep)".into(),
                    ),
                });
                return None;
            }
            GroupFilter::Prefix(prefix.get_ref().clone())
        }
        (None, Some(ids)) => {
            if ids.get_ref().is_empty() {
                problems.push(Problem {
                    key: key("ids"),
                    span: Some(ids.span()),
                    message: "is empty, so the rule would never produce a value".into(),
                    fix: Some("list group object ids, or filter by prefix".into()),
                });
                return None;
            }
            let mut set = BTreeSet::new();
            let mut bad = false;
            for id in ids.get_ref() {
                if is_guid(id.get_ref()) {
                    set.insert(id.get_ref().to_ascii_lowercase());
                } else {
                    problems.push(Problem {
                        key: key("ids"),
                        span: Some(id.span()),
                        message: format!("`{}` is not a group object id", id.get_ref()),
                        fix: Some(
                            "use the group's Object Id GUID (Entra admin center > Groups)".into(),
                        ),
                    });
                    bad = true;
                }
            }
            if bad {
                return None;
            }
            GroupFilter::Ids(set)
        }
    };
    let emit = match spec.emit.as_ref() {
        None => GroupEmit::Names,
        Some(emit) => match emit.get_ref().as_str() {
            "names" => GroupEmit::Names,
            "ids" => GroupEmit::Ids,
            other => {
                problems.push(Problem {
                    key: key("emit"),
                    span: Some(emit.span()),
                    message: format!("`{other}` is not what a groups rule can emit"),
                    fix: Some(
                        "emit = \"names\" (display names) or emit = \"ids\" (object ids)".into(),
                    ),
                });
                return None;
            }
        },
    };
    let strip_prefix = spec.strip_prefix.as_ref().is_some_and(|s| *s.get_ref());
    if let Some(strip) = spec.strip_prefix.as_ref()
        && *strip.get_ref()
        && !(matches!(filter, GroupFilter::Prefix(_)) && emit == GroupEmit::Names)
    {
        problems.push(Problem {
            key: key("strip_prefix"),
            span: Some(strip.span()),
            message: "only applies when names are emitted and filtered by `prefix`".into(),
            fix: Some("remove strip_prefix".into()),
        });
        return None;
    }
    Some(Source::Groups(GroupSelection {
        filter,
        emit,
        strip_prefix,
    }))
}

/// The value without empty strings; `None` when nothing is left.
fn non_empty(value: &ClaimValue) -> Option<ClaimValue> {
    match value {
        ClaimValue::One(s) if !s.trim().is_empty() => Some(value.clone()),
        ClaimValue::One(_) => None,
        ClaimValue::Many(values) => {
            let kept: Vec<String> = values
                .iter()
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .collect();
            (!kept.is_empty()).then_some(ClaimValue::Many(kept))
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `8-4-4-4-12` hexadecimal digits.
pub(crate) fn is_guid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// An app id written without dashes, as it appears inside `extension_{appIdNoDashes}_{name}`.
fn is_hex32(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A Graph property name: a letter, then letters, digits or underscores.
fn is_property_name(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_guid("7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"));
        assert!(!is_guid("7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13"));
        assert!(!is_guid("7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e1g"));
        assert!(is_hex32("7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13"));
        assert!(is_property_name("givenName"));
        assert!(is_property_name("extension_abc_x"));
        assert!(!is_property_name("1name"));
        assert!(!is_property_name("given name"));
        assert!(!is_property_name(""));
    }

    #[test]
    fn empty_values_are_filtered() {
        assert_eq!(non_empty(&ClaimValue::One(" ".into())), None);
        assert_eq!(
            non_empty(&ClaimValue::Many(vec!["".into(), "a".into()])),
            Some(ClaimValue::Many(vec!["a".into()]))
        );
        assert_eq!(non_empty(&ClaimValue::Many(vec![" ".into()])), None);
    }
}
