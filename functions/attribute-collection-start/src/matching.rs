//! The conditions rules share: which client application a sign-up is for, which email domain
//! and locale it comes with. Client applications are matched on
//! `authenticationContext.clientServicePrincipal.appId`, domains and locales ignoring ASCII case
//! (docs/protocols/extension-callbacks.md a.3, a.12 rule 6).
//!
//! Shared with attribute-collection-submit, whose rules are scoped the same way.

use entra_extensions::rules_file::RulesReport;
use serde_spanned::Spanned;

/// Which client applications a rule applies to: `client_apps` (only these) and
/// `except_client_apps` (all but these). Both empty: every application.
///
/// A callout without a client application id matches no `client_apps` list and is outside every
/// `except_client_apps` list, so an allow-list (`except_client_apps` + block) blocks it: a
/// sign-up we cannot attribute to an allowed application is not allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientScope {
    only: Vec<String>,
    except: Vec<String>,
}

impl ClientScope {
    /// A scope from the two lists as written in the rules file.
    pub fn new(only: &[Spanned<String>], except: &[Spanned<String>]) -> Self {
        let ids = |list: &[Spanned<String>]| {
            list.iter()
                .map(|id| id.get_ref().trim().to_ascii_lowercase())
                .collect()
        };
        Self {
            only: ids(only),
            except: ids(except),
        }
    }

    /// Whether a rule with this scope applies to a sign-up through `app_id`.
    pub fn applies_to(&self, app_id: Option<&str>) -> bool {
        let listed = |list: &[String]| {
            app_id.is_some_and(|id| list.iter().any(|l| l.eq_ignore_ascii_case(id.trim())))
        };
        (self.only.is_empty() || listed(&self.only)) && !listed(&self.except)
    }

    /// Records malformed application ids (`key` is the rule's dotted path).
    pub fn validate(
        only: &[Spanned<String>],
        except: &[Spanned<String>],
        key: &str,
        report: &mut RulesReport,
    ) {
        for (list, name) in [(only, "client_apps"), (except, "except_client_apps")] {
            for (index, id) in list.iter().enumerate() {
                if !is_guid(id.get_ref()) {
                    report.error(
                        format!("{key}.{name}[{index}]"),
                        Some(id.span()),
                        format!(
                            "`{}` is not an application (client) id",
                            truncate(id.get_ref(), 60)
                        ),
                        Some(
                            "use the app registration's Application (client) ID, e.g. \
                             00001111-aaaa-2222-bbbb-3333cccc4444"
                                .into(),
                        ),
                    );
                }
            }
        }
        if !only.is_empty() && !except.is_empty() {
            report.error(
                format!("{key}.except_client_apps"),
                except.first().map(Spanned::span),
                "cannot be combined with client_apps in one rule",
                Some("keep one of the two lists; split the rule in two if needed".into()),
            );
        }
    }
}

/// A GUID in its usual 8-4-4-4-12 form.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The domain of an email address, lower-cased: what follows the last `@`.
pub fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    (!local.is_empty() && !domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// Whether `domain` is `listed` or one of its subdomains (`mail.example.com` is in `example.com`).
pub fn domain_in(domain: &str, listed: &str) -> bool {
    let listed = listed
        .trim()
        .trim_start_matches('@')
        .trim_start_matches("*.");
    if listed.is_empty() {
        return false;
    }
    domain.eq_ignore_ascii_case(listed)
        || (domain.len() > listed.len()
            && domain
                .get(domain.len() - listed.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(listed))
            && domain.as_bytes()[domain.len() - listed.len() - 1] == b'.')
}

/// Whether `domain` is in any of `list`.
pub fn domain_in_any(domain: &str, list: &[String]) -> bool {
    list.iter().any(|listed| domain_in(domain, listed))
}

/// Records list entries that are not plain domain names.
pub fn validate_domains(list: &[Spanned<String>], key: &str, report: &mut RulesReport) {
    for (index, entry) in list.iter().enumerate() {
        let domain = entry
            .get_ref()
            .trim()
            .trim_start_matches('@')
            .trim_start_matches("*.");
        let valid = !domain.is_empty()
            && domain.contains('.')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
            && !domain.starts_with('.')
            && !domain.ends_with('.');
        if !valid {
            report.error(
                format!("{key}[{index}]"),
                Some(entry.span()),
                format!("`{}` is not a domain name", truncate(entry.get_ref(), 60)),
                Some("write the domain only, e.g. \"example.com\" (subdomains match too)".into()),
            );
        }
    }
}

/// Whether `locale` (`fr-ca`) is matched by `pattern`: the same locale, or the same language when
/// the pattern names only a language (`fr`).
pub fn locale_matches(locale: &str, pattern: &str) -> bool {
    let pattern = pattern.trim();
    locale.eq_ignore_ascii_case(pattern)
        || (!pattern.contains(['-', '_'])
            && locale
                .split(['-', '_'])
                .next()
                .is_some_and(|language| language.eq_ignore_ascii_case(pattern)))
}

/// The region subtag of a locale in upper case (`en-us` gives `US`), as a country code.
pub fn locale_region(locale: &str) -> Option<String> {
    locale
        .split(['-', '_'])
        .skip(1)
        .find(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
}

/// The language subtag of a locale in lower case (`en-us` gives `en`).
pub fn locale_language(locale: &str) -> Option<String> {
    locale
        .split(['-', '_'])
        .next()
        .filter(|language| !language.is_empty())
        .map(str::to_ascii_lowercase)
}

/// At most `max` characters of `value`, for messages that quote configuration.
pub fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spanned(values: &[&str]) -> Vec<Spanned<String>> {
        values
            .iter()
            .map(|v| Spanned::new(0..0, (*v).to_owned()))
            .collect()
    }

    const APP: &str = "00001111-aaaa-2222-bbbb-3333cccc4444";
    const OTHER: &str = "99998888-aaaa-2222-bbbb-3333cccc4444";

    #[test]
    fn client_scopes() {
        let all = ClientScope::default();
        assert!(all.applies_to(Some(APP)) && all.applies_to(None));
        let only = ClientScope::new(&spanned(&["00001111-AAAA-2222-bbbb-3333cccc4444"]), &[]);
        assert!(only.applies_to(Some(APP)));
        assert!(!only.applies_to(Some(OTHER)));
        assert!(!only.applies_to(None));
        let except = ClientScope::new(&[], &spanned(&[APP]));
        assert!(!except.applies_to(Some(APP)));
        assert!(except.applies_to(Some(OTHER)));
        assert!(except.applies_to(None));
    }

    #[test]
    fn guids() {
        assert!(is_guid(APP));
        assert!(!is_guid("00001111aaaa2222bbbb3333cccc4444"));
        assert!(!is_guid("<Your Test Application App Id>"));
        assert!(!is_guid("00001111-aaaa-2222-bbbb-3333cccc444g"));
    }

    #[test]
    fn domains() {
        assert_eq!(
            email_domain("Ava@Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(email_domain("a@b@c.org").as_deref(), Some("c.org"));
        assert_eq!(email_domain("@example.com"), None);
        assert_eq!(email_domain("nobody"), None);
        assert!(domain_in("example.com", "EXAMPLE.com"));
        assert!(domain_in("mail.example.com", "example.com"));
        assert!(domain_in("mail.example.com", "@example.com"));
        assert!(!domain_in("badexample.com", "example.com"));
        assert!(!domain_in("example.com", "mail.example.com"));
        assert!(domain_in_any("x.org", &["a.com".into(), "x.org".into()]));
    }

    #[test]
    fn locales() {
        assert!(locale_matches("fr-ca", "fr"));
        assert!(locale_matches("fr-ca", "FR-CA"));
        assert!(!locale_matches("fr-ca", "fr-fr"));
        assert!(!locale_matches("en-us", "fr"));
        assert_eq!(locale_region("en-us").as_deref(), Some("US"));
        assert_eq!(locale_region("zh-hant-tw").as_deref(), Some("TW"));
        assert_eq!(locale_region("en"), None);
        assert_eq!(locale_language("EN-us").as_deref(), Some("en"));
    }
}
