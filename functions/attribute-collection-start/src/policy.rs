//! The start rules compiled for the hot path, and their evaluation against one callout. Pure:
//! no I/O, no clock, so every rule kind is tested by calling it directly.

use entra_extensions::{
    AttributeCollectionStartAction, AttributeCollectionStartRequest, AttributeValues, BareValue,
    UserSignUpInfo,
};

use crate::matching::{
    ClientScope, domain_in_any, email_domain, locale_language, locale_matches, locale_region,
};
use crate::rules::{
    AttributeCollectionStartRules, LookupSource, PrefillEntry, PrefillSource, StartRule,
    bare_from_attribute,
};
use crate::text::BlockPageText;

/// What the rules decided for one callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub action: AttributeCollectionStartAction,
    /// Names of the rules that applied, in order (for the log line).
    pub matched: Vec<String>,
}

/// The rules, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct StartPolicy {
    rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    name: String,
    scope: ClientScope,
    email_domains: Vec<String>,
    except_email_domains: Vec<String>,
    locales: Vec<String>,
    markets: Vec<String>,
    identity_issuers: Vec<String>,
    action: RuleAction,
}

#[derive(Debug, Clone)]
enum RuleAction {
    Block(BlockPageText),
    Prefill(Vec<(String, PrefillSource)>),
}

/// The facts of a sign-up the conditions and lookups read, extracted once per callout.
struct SignUp<'a> {
    info: &'a UserSignUpInfo,
    app_id: Option<&'a str>,
    app_name: Option<&'a str>,
    locale: Option<&'a str>,
    market: Option<&'a str>,
    email: Option<String>,
    email_domain: Option<String>,
}

impl<'a> SignUp<'a> {
    fn new(request: &'a AttributeCollectionStartRequest) -> Self {
        let context = &request.callout.context;
        let client = context.client_service_principal.as_ref();
        let info = &request.user_sign_up_info;
        let email = sign_up_email(info);
        let email_domain = email.as_deref().and_then(email_domain);
        let non_empty = |value: &'a Option<String>| value.as_deref().filter(|v| !v.is_empty());
        Self {
            info,
            app_id: client.and_then(|sp| non_empty(&sp.app_id)),
            app_name: client
                .and_then(|sp| non_empty(&sp.app_display_name).or(non_empty(&sp.display_name))),
            locale: non_empty(&context.locale),
            market: non_empty(&context.market),
            email,
            email_domain,
        }
    }

    fn first_identity(&self) -> Option<&'a entra_extensions::SignUpIdentity> {
        self.info.identities.first()
    }
}

/// The email the person signs up with: the `EmailAddress`/`email` attribute, else the
/// `issuerAssignedId` of an email identity (`signInType` `email`/`emailAddress`, or issuer `mail`
/// for email one-time-passcode accounts, docs/protocols/extension-callbacks.md a.6 and a.11).
pub fn sign_up_email(info: &UserSignUpInfo) -> Option<String> {
    if let Some(email) = info.email() {
        return Some(email.trim().to_owned());
    }
    info.identities.iter().find_map(|identity| {
        let id = identity.issuer_assigned_id.as_deref()?;
        let email_identity = identity.sign_in_type.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("email") || t.eq_ignore_ascii_case("emailAddress")
        }) || identity
            .issuer
            .as_deref()
            .is_some_and(|i| i.eq_ignore_ascii_case("mail"));
        (email_identity && id.contains('@')).then(|| id.trim().to_owned())
    })
}

mod trace_steps;

impl StartPolicy {
    pub fn new(rules: &AttributeCollectionStartRules) -> Self {
        let rules = rules
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| CompiledRule::new(index, rule.get_ref()))
            .collect();
        Self { rules }
    }

    /// First applicable block wins; otherwise applicable prefills merge in order.
    pub fn evaluate(&self, request: &AttributeCollectionStartRequest) -> Outcome {
        let sign_up = SignUp::new(request);
        let mut matched = Vec::new();
        let mut inputs = AttributeValues::new();
        for rule in &self.rules {
            if !rule.applies(&sign_up) {
                entra_extensions::trace::step(|| trace_steps::skipped(rule, &sign_up));
                continue;
            }
            entra_extensions::trace::step(|| trace_steps::applied(rule, &sign_up));
            matched.push(rule.name.clone());
            match &rule.action {
                RuleAction::Block(text) => {
                    return Outcome {
                        action: AttributeCollectionStartAction::ShowBlockPage(
                            text.page(sign_up.locale),
                        ),
                        matched,
                    };
                }
                RuleAction::Prefill(entries) => {
                    for (attribute, source) in entries {
                        if let Some(value) = prefill_value(attribute, source, &sign_up) {
                            inputs.insert(attribute.clone(), value);
                        }
                    }
                }
            }
        }
        let action = if inputs.is_empty() {
            AttributeCollectionStartAction::ContinueWithDefaultBehavior
        } else {
            AttributeCollectionStartAction::SetPrefillValues(inputs)
        };
        Outcome { action, matched }
    }
}

impl CompiledRule {
    fn new(index: usize, rule: &StartRule) -> Self {
        let texts = |list: &[serde_spanned::Spanned<String>]| {
            list.iter()
                .map(|entry| entry.get_ref().trim().to_owned())
                .collect::<Vec<_>>()
        };
        let action = match (&rule.block, &rule.prefill) {
            (Some(block), _) => RuleAction::Block(block.get_ref().clone()),
            (None, Some(prefill)) => RuleAction::Prefill(
                prefill
                    .get_ref()
                    .iter()
                    .map(|(name, source)| (name.clone(), source.get_ref().clone()))
                    .collect(),
            ),
            // Refused by validation; an empty prefill changes nothing.
            (None, None) => RuleAction::Prefill(Vec::new()),
        };
        Self {
            name: rule
                .name
                .clone()
                .unwrap_or_else(|| format!("rules[{index}]")),
            scope: ClientScope::new(&rule.client_apps, &rule.except_client_apps),
            email_domains: texts(&rule.email_domains),
            except_email_domains: texts(&rule.except_email_domains),
            locales: texts(&rule.locales),
            markets: texts(&rule.markets),
            identity_issuers: texts(&rule.identity_issuers),
            action,
        }
    }

    fn applies(&self, sign_up: &SignUp<'_>) -> bool {
        let domain = sign_up.email_domain.as_deref();
        let in_locales = |value: Option<&str>, list: &[String]| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|p| locale_matches(v, p)))
        };
        self.scope.applies_to(sign_up.app_id)
            && (self.email_domains.is_empty()
                || domain.is_some_and(|d| domain_in_any(d, &self.email_domains)))
            && (self.except_email_domains.is_empty()
                || domain.is_some_and(|d| !domain_in_any(d, &self.except_email_domains)))
            && in_locales(sign_up.locale, &self.locales)
            && in_locales(sign_up.market, &self.markets)
            && (self.identity_issuers.is_empty()
                || sign_up.info.identities.iter().any(|identity| {
                    identity.issuer.as_deref().is_some_and(|issuer| {
                        self.identity_issuers
                            .iter()
                            .any(|listed| listed.eq_ignore_ascii_case(issuer))
                    })
                }))
    }
}

fn prefill_value(
    attribute: &str,
    source: &PrefillSource,
    sign_up: &SignUp<'_>,
) -> Option<BareValue> {
    let entry = match source {
        PrefillSource::Constant(value) => return Some(value.to_bare()),
        PrefillSource::Entry(entry) => entry,
    };
    if entry.only_if_empty
        && sign_up
            .info
            .attributes
            .get(attribute)
            .is_some_and(|value| !value.is_empty())
    {
        return None;
    }
    if let Some(value) = &entry.value {
        return Some(value.to_bare());
    }
    let from = entry.from?;
    if from == LookupSource::Attribute {
        let copied = entry
            .attribute
            .as_deref()
            .and_then(|name| sign_up.info.attributes.get(name))
            .filter(|value| !value.is_empty());
        if let Some(copied) = copied {
            return match copied.as_str() {
                Some(text) => Some(BareValue::String(transform(text, entry))),
                None => bare_from_attribute(copied),
            };
        }
        return entry.default.clone().map(BareValue::String);
    }
    let looked_up = lookup(from, sign_up).filter(|value| !value.is_empty());
    match looked_up {
        Some(value) => Some(BareValue::String(transform(&value, entry))),
        None => entry.default.clone().map(BareValue::String),
    }
}

/// `map` (ignoring case), else `default` when a map is given, else the value in `case`.
fn transform(value: &str, entry: &PrefillEntry) -> String {
    if let Some(mapped) = entry
        .map
        .iter()
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(value.trim()))
        .map(|(_, mapped)| mapped)
    {
        return mapped.clone();
    }
    if !entry.map.is_empty()
        && let Some(default) = &entry.default
    {
        return default.clone();
    }
    match entry.case {
        Some(case) => case.apply(value),
        None => value.to_owned(),
    }
}

fn lookup(from: LookupSource, sign_up: &SignUp<'_>) -> Option<String> {
    let identity = sign_up.first_identity();
    match from {
        LookupSource::Locale => sign_up.locale.map(str::to_owned),
        LookupSource::Market => sign_up.market.map(str::to_owned),
        LookupSource::LocaleRegion => sign_up.locale.and_then(locale_region),
        LookupSource::MarketRegion => sign_up.market.and_then(locale_region),
        LookupSource::Language => sign_up.locale.and_then(locale_language),
        LookupSource::ClientAppId => sign_up.app_id.map(str::to_owned),
        LookupSource::ClientAppName => sign_up.app_name.map(str::to_owned),
        LookupSource::Email => sign_up.email.clone(),
        LookupSource::EmailDomain => sign_up.email_domain.clone(),
        LookupSource::IdentityIssuer => identity.and_then(|i| i.issuer.clone()),
        LookupSource::IdentityId => identity.and_then(|i| i.issuer_assigned_id.clone()),
        LookupSource::SignInType => identity.and_then(|i| i.sign_in_type.clone()),
        // Read with its type by the caller.
        LookupSource::Attribute => None,
    }
}
