//! Where the legacy system's credentials come from: the [`LegacyCredentialStore`] port and the
//! shipped adapter, [`LegacyUserTable`], a file exported from the legacy system and loaded once
//! at start.
//!
//! The file is TOML (`.toml`) or JSON Lines (`.jsonl` / `.ndjson`, one object per line, for large
//! exports). Each record is `username`, `hash` (see [`crate::legacy_hash`]) and the optional
//! flags `disabled` (answer Block) and `must_change` (answer UpdatePassword):
//!
//! ```toml
//! [[users]]
//! username = "casey@contoso.com"
//! hash = "$2b$12$..."
//! must_change = true
//! ```
//!
//! Usernames are matched case-insensitively (they are mostly email addresses) after trimming;
//! two records for the same user are a load error, so the table can never answer ambiguously.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::legacy_hash::{HashFormatError, LegacyHash};

/// What the legacy system knows about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyCredential {
    pub hash: LegacyHash,
    /// The account is disabled in the legacy system: sign-in is blocked.
    pub disabled: bool,
    /// The legacy system required a password change at next sign-in: the user resets.
    pub must_change: bool,
}

/// A store failure (I/O, a remote legacy system down). The message goes to the log only.
#[derive(Debug, thiserror::Error)]
#[error("legacy credential store: {0}")]
pub struct StoreError(pub Box<dyn std::error::Error + Send + Sync>);

/// Port for the legacy credential source. Implement it to read another system (a database, a
/// directory, an API returning hashes); the handler runs `lookup` under the call budget.
#[async_trait]
pub trait LegacyCredentialStore: Send + Sync {
    /// The credential of `username` (as typed, not normalised), or `None` if the legacy system
    /// has no such account. Matching rules (case, aliases) are the store's business.
    async fn lookup(&self, username: &str) -> Result<Option<LegacyCredential>, StoreError>;
}

/// The key usernames are matched on: trimmed, Unicode lower case.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Why a user table cannot be loaded: the file, the line when known, what is wrong and the fix.
#[derive(Debug, thiserror::Error)]
pub enum UserTableError {
    #[error("cannot read legacy user table {path}: {source}; check password_submit.store")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "legacy user table {path} must end in .toml, .jsonl or .ndjson; rename it or export it in one of those formats"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        origin: String,
        line: Option<usize>,
        message: String,
    },
}

/// One record of the table file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRecord {
    username: String,
    hash: String,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    must_change: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTable {
    #[serde(default)]
    users: Vec<Spanned<UserRecord>>,
}

/// The shipped store: an in-memory map from normalised username to credential, read from a file
/// exported from the legacy system (see the module docs for the format).
#[derive(Clone, Default)]
pub struct LegacyUserTable {
    users: HashMap<String, LegacyCredential>,
}

impl fmt::Debug for LegacyUserTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyUserTable")
            .field("users", &self.users.len())
            .finish()
    }
}

impl LegacyUserTable {
    /// Reads `path`, choosing the format by extension (`.toml`, `.jsonl`, `.ndjson`). Every hash
    /// is parsed now, so a bad record fails the start with its line number.
    pub fn load(path: &Path) -> Result<Self, UserTableError> {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Format::Toml,
            Some("jsonl" | "ndjson") => Format::JsonLines,
            _ => {
                return Err(UserTableError::UnknownFormat {
                    path: path.to_owned(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|source| UserTableError::Read {
            path: path.to_owned(),
            source,
        })?;
        let origin = path.display().to_string();
        match format {
            Format::Toml => Self::parse_toml(&text, &origin),
            Format::JsonLines => Self::parse_json_lines(&text, &origin),
        }
    }

    /// Parses the TOML form; `origin` names the text in errors.
    pub fn parse_toml(text: &str, origin: &str) -> Result<Self, UserTableError> {
        let invalid = |line, message| UserTableError::Invalid {
            origin: origin.to_owned(),
            line,
            message,
        };
        let table: TomlTable = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            invalid(line, e.message().to_owned())
        })?;
        let mut builder = Builder::default();
        for record in table.users {
            let line = line_of(text, record.span().start);
            builder
                .add(record.into_inner())
                .map_err(|message| invalid(Some(line), message))?;
        }
        Ok(builder.finish())
    }

    /// Parses the JSON Lines form (blank lines ignored); `origin` names the text in errors.
    pub fn parse_json_lines(text: &str, origin: &str) -> Result<Self, UserTableError> {
        let mut builder = Builder::default();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let invalid = |message| UserTableError::Invalid {
                origin: origin.to_owned(),
                line: Some(index + 1),
                message,
            };
            let record: UserRecord = serde_json::from_str(line).map_err(|e| {
                // serde_json's message may quote the input; keep only its category.
                invalid(format!(
                    "not a user record ({:?} at column {}); expected {{\"username\": ..., \"hash\": ...}}",
                    e.classify(),
                    e.column()
                ))
            })?;
            builder.add(record).map_err(invalid)?;
        }
        Ok(builder.finish())
    }

    /// A table from records built in code (tests, custom loaders).
    pub fn from_credentials(
        credentials: impl IntoIterator<Item = (String, LegacyCredential)>,
    ) -> Self {
        Self {
            users: credentials
                .into_iter()
                .map(|(username, credential)| (normalize_username(&username), credential))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The credential of `username`, matched case-insensitively.
    pub fn get(&self, username: &str) -> Option<&LegacyCredential> {
        self.users.get(&normalize_username(username))
    }
}

#[async_trait]
impl LegacyCredentialStore for LegacyUserTable {
    async fn lookup(&self, username: &str) -> Result<Option<LegacyCredential>, StoreError> {
        Ok(self.get(username).cloned())
    }
}

enum Format {
    Toml,
    JsonLines,
}

#[derive(Default)]
struct Builder {
    users: HashMap<String, LegacyCredential>,
}

impl Builder {
    fn add(&mut self, record: UserRecord) -> Result<(), String> {
        let key = normalize_username(&record.username);
        if key.is_empty() {
            return Err("username is empty".into());
        }
        let hash = LegacyHash::parse(&record.hash)
            .map_err(|e: HashFormatError| format!("hash of {key}: {e}"))?;
        if self.users.contains_key(&key) {
            return Err(format!(
                "{key} appears twice (usernames are compared case-insensitively); keep one record"
            ));
        }
        self.users.insert(
            key,
            LegacyCredential {
                hash,
                disabled: record.disabled,
                must_change: record.must_change,
            },
        );
        Ok(())
    }

    fn finish(self) -> LegacyUserTable {
        LegacyUserTable { users: self.users }
    }
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PBKDF2: &str =
        "$pbkdf2-sha256$29000$AQIDBAUGBwgJCgsMDQ4PEA$iRBkQ1El5j2Ll8eLrDcBT5JZZOmzYlGHf7YryTIcZ7Y";

    #[tokio::test]
    async fn toml_table_matches_usernames_case_insensitively() {
        let text = format!(
            "[[users]]\nusername = \"Casey@Contoso.com\"\nhash = \"{PBKDF2}\"\n\n[[users]]\nusername = \"old@contoso.com\"\nhash = \"{PBKDF2}\"\ndisabled = true\nmust_change = true\n"
        );
        let table = LegacyUserTable::parse_toml(&text, "users.toml").unwrap();
        assert_eq!(table.len(), 2);
        let casey = table.lookup("  casey@CONTOSO.com ").await.unwrap().unwrap();
        assert!(!casey.disabled && !casey.must_change);
        assert!(casey.hash.verify(b"correct horse battery staple"));
        let old = table.get("OLD@contoso.com").unwrap();
        assert!(old.disabled && old.must_change);
        assert!(table.lookup("nobody@contoso.com").await.unwrap().is_none());
    }

    #[test]
    fn json_lines_table_skips_blank_lines() {
        let text = format!(
            "{{\"username\": \"a@x.org\", \"hash\": \"{PBKDF2}\"}}\n\n{{\"username\": \"b@x.org\", \"hash\": \"{PBKDF2}\", \"must_change\": true}}\n"
        );
        let table = LegacyUserTable::parse_json_lines(&text, "users.jsonl").unwrap();
        assert_eq!(table.len(), 2);
        assert!(table.get("B@X.ORG").unwrap().must_change);
    }

    #[test]
    fn bad_records_fail_with_their_line() {
        let toml_cases = [
            (
                format!(
                    "[[users]]\nusername = \"a@x.org\"\nhash = \"{PBKDF2}\"\n\n[[users]]\nusername = \"A@X.org\"\nhash = \"{PBKDF2}\"\n"
                ),
                "users.toml:5: a@x.org appears twice",
            ),
            (
                "[[users]]\nusername = \"a@x.org\"\nhash = \"md5:abc\"\n".to_owned(),
                "users.toml:1: hash of a@x.org: unknown hash format",
            ),
            (
                format!("[[users]]\nusername = \" \"\nhash = \"{PBKDF2}\"\n"),
                "users.toml:1: username is empty",
            ),
            (
                format!("[[users]]\nusername = \"a\"\nhash = \"{PBKDF2}\"\nlocked = true\n"),
                "users.toml:4: unknown field `locked`",
            ),
        ];
        for (text, expected) in toml_cases {
            let err = LegacyUserTable::parse_toml(&text, "users.toml").unwrap_err();
            assert!(err.to_string().starts_with(expected), "{err}");
        }
        let err = LegacyUserTable::parse_json_lines(
            &format!(
                "{{\"username\": \"a\", \"hash\": \"{PBKDF2}\"}}\n{{\"username\": \"secret-pw\"\n"
            ),
            "users.jsonl",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("users.jsonl:2: not a user record"), "{err}");
        assert!(!err.contains("secret-pw"), "{err}");
    }

    #[test]
    fn files_are_chosen_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("users.toml");
        std::fs::write(
            &toml,
            format!("[[users]]\nusername = \"a\"\nhash = \"{PBKDF2}\"\n"),
        )
        .unwrap();
        assert_eq!(LegacyUserTable::load(&toml).unwrap().len(), 1);
        let jsonl = dir.path().join("users.ndjson");
        std::fs::write(
            &jsonl,
            format!("{{\"username\": \"a\", \"hash\": \"{PBKDF2}\"}}\n"),
        )
        .unwrap();
        assert_eq!(LegacyUserTable::load(&jsonl).unwrap().len(), 1);
        let csv = dir.path().join("users.csv");
        assert!(matches!(
            LegacyUserTable::load(&csv),
            Err(UserTableError::UnknownFormat { .. })
        ));
        assert!(matches!(
            LegacyUserTable::load(&dir.path().join("missing.toml")),
            Err(UserTableError::Read { .. })
        ));
    }
}
