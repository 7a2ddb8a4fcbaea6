//! The one declarative rules file (TOML) that configures what every extension endpoint answers.
//!
//! Each function owns one top-level section (`[token_issuance_start]`, `[attribute_collection_start]`,
//! `[attribute_collection_submit]`, `[email_otp_send]`, `[password_submit]`, and the notification
//! worker's `[directory_reactions]`) and its own section type;
//! this module finds the section, deserializes it from the original text (so every error carries
//! the line and column), runs the section's own checks and renders every problem as
//! `rules.toml:12:5: token_issuance_start.claims[2].source: ...; fix: ...`.
//!
//! A missing file section means the function's documented defaults. Unknown top-level sections are
//! refused: a typo in a section name must not silently disable a rule set.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// Every section a rules file may have: one per event endpoint, and the directory reactions of the
/// notification worker.
pub const SECTIONS: [&str; 6] = [
    "token_issuance_start",
    "attribute_collection_start",
    "attribute_collection_submit",
    "email_otp_send",
    "password_submit",
    "directory_reactions",
];

/// The checks serde cannot do (regexes compile, ranges hold, references resolve), per section.
pub trait ValidateRules {
    /// Records every problem found; keep going after the first so the operator sees them all.
    fn validate(&self, report: &mut RulesReport);
}

/// One problem in the rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesProblem {
    /// Dotted path of the key, e.g. `token_issuance_start.claims[2].source`.
    pub key: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    pub message: String,
    /// What to write instead.
    pub fix: Option<String>,
}

/// Problems collected while validating one section, located in the file's text.
#[derive(Debug)]
pub struct RulesReport<'a> {
    text: &'a str,
    problems: Vec<RulesProblem>,
}

impl<'a> RulesReport<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            problems: Vec::new(),
        }
    }

    /// Records a problem at `span` (a byte range of the file, from `serde_spanned::Spanned`).
    pub fn error(
        &mut self,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        let position = span.map(|span| line_column(self.text, span.start));
        self.problems.push(RulesProblem {
            key: key.into(),
            position,
            message: message.into(),
            fix,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Why a rules file cannot be used. `Display` is the full, multi-line operator message.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(
        "cannot read rules file {path}: {source}; check the path given with --rules or ENTRA_HOOKS_RULES"
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", render(.origin, .problems))]
    Invalid {
        origin: String,
        problems: Vec<RulesProblem>,
    },
}

impl RulesError {
    /// The problems found (empty for a read error).
    pub fn problems(&self) -> &[RulesProblem] {
        match self {
            RulesError::Read { .. } => &[],
            RulesError::Invalid { problems, .. } => problems,
        }
    }
}

fn render(origin: &str, problems: &[RulesProblem]) -> String {
    let mut out = format!("{origin}: {} problem(s) in the rules file", problems.len());
    for problem in problems {
        out.push_str("\n  ");
        out.push_str(origin);
        if let Some((line, column)) = problem.position {
            out.push_str(&format!(":{line}:{column}"));
        }
        out.push_str(&format!(": {}: {}", problem.key, problem.message));
        if let Some(fix) = &problem.fix {
            out.push_str(&format!("; fix: {fix}"));
        }
    }
    out
}

/// A rules file's text, checked for syntax and section names.
#[derive(Debug, Clone)]
pub struct RulesFile {
    origin: String,
    text: String,
}

impl RulesFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(text, path.display().to_string())
    }

    /// Checks `text`; `origin` names it in messages (a file name).
    pub fn parse(text: impl Into<String>, origin: impl Into<String>) -> Result<Self, RulesError> {
        let file = Self {
            origin: origin.into(),
            text: text.into(),
        };
        let table: toml::Table =
            toml::from_str(&file.text).map_err(|e| file.toml_error("(document)", &e))?;
        let unknown: Vec<&String> = table
            .keys()
            .filter(|key| !SECTIONS.contains(&key.as_str()))
            .collect();
        if unknown.is_empty() {
            return Ok(file);
        }
        // Where each top-level key is written (its header or dotted key), from the parser's spans:
        // the first occurrence of the name in the text may be in a comment or a value.
        let key_starts: Vec<(String, usize)> = toml::de::DeTable::parse(&file.text)
            .map(|document| {
                document
                    .get_ref()
                    .iter()
                    .map(|(key, _)| (key.get_ref().to_string(), key.span().start))
                    .collect()
            })
            .unwrap_or_default();
        let unknown: Vec<RulesProblem> = unknown
            .into_iter()
            .map(|key| RulesProblem {
                key: key.clone(),
                position: key_starts
                    .iter()
                    .find(|(name, _)| name == key)
                    .map(|(_, at)| line_column(&file.text, *at)),
                message: "is not a rules section".into(),
                fix: Some(format!("use one of {}", SECTIONS.join(", "))),
            })
            .collect();
        Err(RulesError::Invalid {
            origin: file.origin.clone(),
            problems: unknown,
        })
    }

    /// The file's text as read (the playground shows and edits it).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// A file with no sections: every function runs on its defaults.
    pub fn empty() -> Self {
        Self {
            origin: "(no rules file)".into(),
            text: String::new(),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the file has section `name`: for functions that cannot run on defaults
    /// (password-submit needs its private key), so a host serving several functions can leave
    /// out those the file does not configure.
    pub fn has_section(&self, name: &str) -> bool {
        toml::from_str::<toml::Table>(&self.text).is_ok_and(|table| table.contains_key(name))
    }

    /// Deserializes and validates section `name` (one of [`SECTIONS`]); `T::default()` when absent.
    pub fn section<T>(&self, name: &'static str) -> Result<T, RulesError>
    where
        T: DeserializeOwned + Default + ValidateRules,
    {
        let deserializer =
            toml::de::Deserializer::parse(&self.text).map_err(|e| self.toml_error(name, &e))?;
        let section = SectionSeed::<T> {
            name,
            marker: std::marker::PhantomData,
        }
        .deserialize(deserializer)
        .map_err(|e| self.toml_error(name, &e))?
        .unwrap_or_default();
        let mut report = RulesReport::new(&self.text);
        section.validate(&mut report);
        if report.is_empty() {
            Ok(section)
        } else {
            Err(RulesError::Invalid {
                origin: self.origin.clone(),
                problems: report.problems,
            })
        }
    }

    fn toml_error(&self, section: &str, error: &toml::de::Error) -> RulesError {
        RulesError::Invalid {
            origin: self.origin.clone(),
            problems: vec![RulesProblem {
                key: section.to_owned(),
                position: error.span().map(|span| line_column(&self.text, span.start)),
                message: error.message().to_owned(),
                fix: None,
            }],
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Picks one top-level table out of the document and deserializes only it, in place, so spans
/// and error positions refer to the whole file.
struct SectionSeed<T> {
    name: &'static str,
    marker: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for SectionSeed<T> {
    type Value = Option<T>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for SectionSeed<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rules document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.name {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_spanned::Spanned;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default)]
        limit: Option<Spanned<u32>>,
        #[serde(default)]
        names: Vec<String>,
    }

    impl ValidateRules for Demo {
        fn validate(&self, report: &mut RulesReport) {
            if let Some(limit) = &self.limit
                && *limit.get_ref() > 10
            {
                report.error(
                    "token_issuance_start.limit",
                    Some(limit.span()),
                    "must be at most 10",
                    Some("limit = 10".into()),
                );
            }
        }
    }

    #[test]
    fn a_section_is_read_and_others_ignored() {
        let file = RulesFile::parse(
            "[email_otp_send]\nx = 1\n\n[token_issuance_start]\nlimit = 3\nnames = [\"a\"]\n",
            "rules.toml",
        )
        .unwrap();
        let demo: Demo = file.section("token_issuance_start").unwrap();
        assert_eq!(*demo.limit.unwrap().get_ref(), 3);
        assert_eq!(demo.names, vec!["a"]);
        let absent: Demo = file.section("password_submit").unwrap();
        assert!(absent.limit.is_none());
    }

    #[test]
    fn semantic_errors_name_the_line_and_the_fix() {
        let file =
            RulesFile::parse("\n[token_issuance_start]\nlimit = 30\n", "rules.toml").unwrap();
        let error = file.section::<Demo>("token_issuance_start").unwrap_err();
        assert_eq!(
            error.to_string(),
            "rules.toml: 1 problem(s) in the rules file\n  rules.toml:3:9: token_issuance_start.limit: must be at most 10; fix: limit = 10"
        );
    }

    #[test]
    fn type_errors_and_unknown_keys_carry_positions() {
        let file = RulesFile::parse("[token_issuance_start]\nlimit = \"x\"\n", "r.toml").unwrap();
        let error = file.section::<Demo>("token_issuance_start").unwrap_err();
        assert_eq!(error.problems()[0].position, Some((2, 9)), "{error}");

        let file = RulesFile::parse("[token_issuance_start]\n\nlimmit = 1\n", "r.toml").unwrap();
        let error = file.section::<Demo>("token_issuance_start").unwrap_err();
        let problem = &error.problems()[0];
        assert_eq!(problem.position.map(|p| p.0), Some(3), "{error}");
        assert!(problem.message.contains("limmit"), "{error}");
    }

    #[test]
    fn unknown_sections_and_bad_syntax_are_refused() {
        let error = RulesFile::parse("[token_issuance_strat]\n", "r.toml").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("token_issuance_strat: is not a rules section"),
            "{error}"
        );
        let error = RulesFile::parse("[token_issuance_start\n", "r.toml").unwrap_err();
        assert_eq!(
            error.problems()[0].position.map(|p| p.0),
            Some(1),
            "{error}"
        );
    }

    /// Found by tests/tests/fuzz_rules.rs: the position was the first occurrence of the name
    /// anywhere in the text, here inside the comment on line 1.
    #[test]
    fn an_unknown_section_is_located_at_its_header_not_at_an_earlier_mention() {
        let text = "# a comment naming tokens\n[token_issuance_start]\n\n[tokens]\nx = 1\n";
        let error = RulesFile::parse(text, "r.toml").unwrap_err();
        assert_eq!(error.problems()[0].key, "tokens");
        assert_eq!(error.problems()[0].position, Some((4, 2)), "{error}");
        assert!(error.to_string().contains("r.toml:4:2: tokens"), "{error}");
    }
}
