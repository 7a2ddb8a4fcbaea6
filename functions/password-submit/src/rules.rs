//! The `[password_submit]` section of the rules file: where the decryption key and the legacy
//! users come from, and what to answer in each situation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use entra_extensions::budget::{DEFAULT_TIMEOUT, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use entra_extensions::{PasswordSubmitAction, RulesReport, ValidateRules};
use entra_platform::SecretRef;
use serde::Deserialize;
use serde_spanned::Spanned;

/// The rules file section this function reads.
pub const SECTION: &str = "password_submit";

/// Block page title when none is configured (the wording of Microsoft's sample).
pub const DEFAULT_BLOCK_TITLE: &str = "Sign-in blocked";
/// Block page message when none is configured (the wording of Microsoft's sample).
pub const DEFAULT_BLOCK_MESSAGE: &str =
    "Admin has blocked your sign-in attempt. Please contact support.";
/// Lockout page title when none is configured.
pub const DEFAULT_LOCKOUT_TITLE: &str = "Too many attempts";
/// Lockout page message when none is configured.
pub const DEFAULT_LOCKOUT_MESSAGE: &str =
    "Too many incorrect passwords. Wait a few minutes and try again.";
/// Lockout window when `lockout.window_secs` is not set (15 minutes).
pub const DEFAULT_LOCKOUT_WINDOW_SECS: u64 = 900;

/// `[password_submit]`. Every key is optional in the file; the function itself needs
/// `private_key` and `store` (checked at start with a message saying what to add).
///
/// Defaults: `timeout_ms = 1000` (Entra's default), `fallback = "retry"` (when the legacy check
/// does not finish within the budget or its store fails, the user may simply try again),
/// `unknown_user = "retry"` (do not reveal which accounts exist), no minimum password length
/// (Entra runs its own UpdatePassword flow for weak passwords), the block page of Microsoft's
/// sample, and no lockout.
///
/// ```toml
/// [password_submit]
/// private_key = "aws-sm:entra-hooks/password-context#private_key_pem"
/// store = "legacy-users.toml"
/// timeout_ms = 1500
/// fallback = "retry"
/// unknown_user = "block"
/// min_password_length = 10
///
/// [password_submit.block_page]
/// title = "Account closed"
/// message = "This account was closed. Contact support@contoso.com."
///
/// [password_submit.lockout]
/// max_failures = 5
/// window_secs = 900
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSubmitRules {
    /// PEM private key of the extension app's encryption certificate (`aws-sm:...#key`,
    /// `env:VAR`, `file:/path`).
    #[serde(default)]
    pub private_key: Option<Spanned<SecretRef>>,
    /// The key of the certificate being rotated out, still accepted until Entra uses the new one.
    #[serde(default)]
    pub previous_private_key: Option<Spanned<SecretRef>>,
    /// The legacy user table (`.toml`, `.jsonl`, `.ndjson`); a relative path is relative to the
    /// rules file's directory.
    #[serde(default)]
    pub store: Option<Spanned<PathBuf>>,
    /// Entra's timeout for this extension, 200 to 2000 ms.
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Answer when verification does not finish in time or the store fails.
    #[serde(default)]
    pub fallback: FallbackAction,
    /// Answer when the legacy system has no such user.
    #[serde(default)]
    pub unknown_user: UnknownUserAction,
    /// A correct password shorter than this (in characters) gets UpdatePassword, not Migrate.
    #[serde(default)]
    pub min_password_length: Option<Spanned<usize>>,
    /// The page shown with every Block except the lockout one.
    #[serde(default)]
    pub block_page: BlockPage,
    /// Blocks a username after repeated wrong passwords; absent = off.
    #[serde(default)]
    pub lockout: Option<LockoutRules>,
}

/// What to answer when the legacy check cannot finish in time or its store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackAction {
    /// `Retry`: the user sees Entra's wrong-password prompt and can try again.
    #[default]
    Retry,
    /// `Block` with the block page.
    Block,
}

/// What to answer for a username the legacy system does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownUserAction {
    /// `Retry`, exactly like a wrong password, so answers do not reveal which accounts exist.
    #[default]
    Retry,
    /// `Block` with the block page.
    Block,
}

/// `title` and `message` of a Block answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockPage {
    #[serde(default)]
    pub title: Option<Spanned<String>>,
    #[serde(default)]
    pub message: Option<Spanned<String>>,
}

impl BlockPage {
    fn action(&self, default_title: &str, default_message: &str) -> PasswordSubmitAction {
        PasswordSubmitAction::Block {
            title: Some(
                self.title
                    .as_ref()
                    .map_or(default_title, |t| t.get_ref())
                    .to_owned(),
            ),
            message: self
                .message
                .as_ref()
                .map_or(default_message, |m| m.get_ref())
                .to_owned(),
        }
    }

    fn validate(&self, key: &str, report: &mut RulesReport) {
        for (name, value) in [("title", &self.title), ("message", &self.message)] {
            if let Some(value) = value
                && value.get_ref().trim().is_empty()
            {
                report.error(
                    format!("{SECTION}.{key}.{name}"),
                    Some(value.span()),
                    "is empty",
                    Some(format!(
                        "write the text shown to the user, or remove {name}"
                    )),
                );
            }
        }
    }
}

/// `[password_submit.lockout]`: after `max_failures` wrong passwords (or unknown usernames)
/// within `window_secs` of the first, further attempts for that username are blocked until the
/// window ends. Counted in memory per execution environment (best effort; Entra's smart lockout
/// still applies).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutRules {
    pub max_failures: Spanned<u32>,
    #[serde(default)]
    pub window_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub title: Option<Spanned<String>>,
    #[serde(default)]
    pub message: Option<Spanned<String>>,
}

impl LockoutRules {
    pub fn window(&self) -> Duration {
        Duration::from_secs(
            self.window_secs
                .as_ref()
                .map_or(DEFAULT_LOCKOUT_WINDOW_SECS, |w| *w.get_ref()),
        )
    }

    /// The Block answered to a locked-out username.
    pub fn block(&self) -> PasswordSubmitAction {
        BlockPage {
            title: self.title.clone(),
            message: self.message.clone(),
        }
        .action(DEFAULT_LOCKOUT_TITLE, DEFAULT_LOCKOUT_MESSAGE)
    }
}

impl PasswordSubmitRules {
    /// Entra's timeout for this extension (the call budget is this minus a safety margin).
    pub fn timeout(&self) -> Duration {
        self.timeout_ms
            .as_ref()
            .map_or(DEFAULT_TIMEOUT, |t| Duration::from_millis(*t.get_ref()))
    }

    /// The Block answered for disabled accounts, unknown users (`unknown_user = "block"`) and
    /// the `block` fallback.
    pub fn block(&self) -> PasswordSubmitAction {
        self.block_page
            .action(DEFAULT_BLOCK_TITLE, DEFAULT_BLOCK_MESSAGE)
    }

    /// `store` resolved against `rules_dir` (the rules file's directory) when relative.
    pub fn store_path(&self, rules_dir: Option<&Path>) -> Option<PathBuf> {
        let store = self.store.as_ref()?.get_ref();
        match rules_dir {
            Some(dir) if store.is_relative() => Some(dir.join(store)),
            _ => Some(store.clone()),
        }
    }
}

impl ValidateRules for PasswordSubmitRules {
    fn validate(&self, report: &mut RulesReport) {
        if let Some(timeout) = &self.timeout_ms
            && !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(timeout.get_ref())
        {
            report.error(
                format!("{SECTION}.timeout_ms"),
                Some(timeout.span()),
                format!(
                    "must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} (Entra's range for timeoutInMilliseconds)"
                ),
                Some("set it to the extension's clientConfiguration.timeoutInMilliseconds, e.g. timeout_ms = 1000".into()),
            );
        }
        if let Some(store) = &self.store {
            let extension = store.get_ref().extension().and_then(|e| e.to_str());
            if !matches!(extension, Some("toml" | "jsonl" | "ndjson")) {
                report.error(
                    format!("{SECTION}.store"),
                    Some(store.span()),
                    "must be a .toml, .jsonl or .ndjson file",
                    Some("export the legacy users as TOML ([[users]]) or JSON Lines".into()),
                );
            }
        }
        if let Some(length) = &self.min_password_length
            && !(1..=256).contains(length.get_ref())
        {
            report.error(
                format!("{SECTION}.min_password_length"),
                Some(length.span()),
                "must be between 1 and 256 (Entra accepts passwords of 8 to 256 characters)",
                Some("e.g. min_password_length = 8, or remove it".into()),
            );
        }
        self.block_page.validate("block_page", report);
        if let Some(lockout) = &self.lockout {
            if *lockout.max_failures.get_ref() == 0 {
                report.error(
                    format!("{SECTION}.lockout.max_failures"),
                    Some(lockout.max_failures.span()),
                    "must be at least 1",
                    Some("e.g. max_failures = 5, or remove [password_submit.lockout]".into()),
                );
            }
            if let Some(window) = &lockout.window_secs
                && !(1..=86_400).contains(window.get_ref())
            {
                report.error(
                    format!("{SECTION}.lockout.window_secs"),
                    Some(window.span()),
                    "must be between 1 and 86400 (one day)",
                    Some(format!("e.g. window_secs = {DEFAULT_LOCKOUT_WINDOW_SECS}")),
                );
            }
            BlockPage {
                title: lockout.title.clone(),
                message: lockout.message.clone(),
            }
            .validate("lockout", report);
        }
    }
}

#[cfg(test)]
mod tests {
    use entra_extensions::RulesFile;

    use super::*;

    fn section(text: &str) -> Result<PasswordSubmitRules, String> {
        RulesFile::parse(text, "rules.toml")
            .map_err(|e| e.to_string())?
            .section(SECTION)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_absent_section_means_the_documented_defaults() {
        let rules = section("").unwrap();
        assert_eq!(rules.timeout(), Duration::from_millis(1000));
        assert_eq!(rules.fallback, FallbackAction::Retry);
        assert_eq!(rules.unknown_user, UnknownUserAction::Retry);
        assert!(rules.private_key.is_none() && rules.store.is_none());
        assert!(rules.lockout.is_none());
        assert_eq!(
            rules.block(),
            PasswordSubmitAction::Block {
                title: Some("Sign-in blocked".into()),
                message: "Admin has blocked your sign-in attempt. Please contact support.".into()
            }
        );
    }

    #[test]
    fn a_full_section_is_read() {
        let rules = section(
            r#"
[password_submit]
private_key = "env:PASSWORD_CONTEXT_KEY"
previous_private_key = "aws-sm:entra-hooks/password-context#previous"
store = "users.jsonl"
timeout_ms = 1500
fallback = "block"
unknown_user = "block"
min_password_length = 10

[password_submit.block_page]
message = "Closed."

[password_submit.lockout]
max_failures = 3
"#,
        )
        .unwrap();
        assert_eq!(
            rules.private_key.as_ref().unwrap().get_ref().to_string(),
            "env:PASSWORD_CONTEXT_KEY"
        );
        assert_eq!(rules.timeout(), Duration::from_millis(1500));
        assert_eq!(rules.fallback, FallbackAction::Block);
        assert_eq!(rules.unknown_user, UnknownUserAction::Block);
        assert_eq!(
            rules.store_path(Some(Path::new("/opt/rules"))),
            Some(PathBuf::from("/opt/rules/users.jsonl"))
        );
        assert_eq!(
            rules.block(),
            PasswordSubmitAction::Block {
                title: Some("Sign-in blocked".into()),
                message: "Closed.".into()
            }
        );
        let lockout = rules.lockout.unwrap();
        assert_eq!(lockout.window(), Duration::from_secs(900));
        assert!(matches!(
            lockout.block(),
            PasswordSubmitAction::Block { title: Some(t), .. } if t == "Too many attempts"
        ));
    }

    #[test]
    fn semantic_errors_name_the_line_and_the_fix() {
        let err = section(
            "[password_submit]\ntimeout_ms = 5000\nstore = \"users.csv\"\nmin_password_length = 0\n\n[password_submit.block_page]\ntitle = \" \"\n\n[password_submit.lockout]\nmax_failures = 0\nwindow_secs = 0\n",
        )
        .unwrap_err();
        for expected in [
            "rules.toml:2:14: password_submit.timeout_ms: must be between 200 and 2000",
            "rules.toml:3:9: password_submit.store: must be a .toml, .jsonl or .ndjson file",
            "rules.toml:4:23: password_submit.min_password_length: must be between 1 and 256",
            "rules.toml:7:9: password_submit.block_page.title: is empty",
            "rules.toml:10:16: password_submit.lockout.max_failures: must be at least 1",
            "rules.toml:11:15: password_submit.lockout.window_secs: must be between 1 and 86400",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in\n{err}");
        }
        assert!(err.starts_with("rules.toml: 6 problem(s)"), "{err}");
    }

    #[test]
    fn type_errors_and_unknown_keys_carry_positions() {
        let cases = [
            (
                "[password_submit]\nfallback = \"allow\"\n",
                "rules.toml:2:12",
            ),
            (
                "[password_submit]\n\nprivate_key = \"hunter2\"\n",
                "rules.toml:3:15",
            ),
            (
                "[password_submit]\nunknwon_user = \"block\"\n",
                "rules.toml:2:1",
            ),
        ];
        for (text, position) in cases {
            let err = section(text).unwrap_err();
            assert!(err.contains(position), "{position}: {err}");
        }
        let err = section("[password_submit]\n\nprivate_key = \"hunter2\"\n").unwrap_err();
        assert!(err.contains("must be a secret reference"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
