//! Message templates: text with `{placeholder}`s, checked when the rules file is loaded and
//! rendered per call. `{{` and `}}` stand for literal braces. Values are HTML-escaped when they
//! go into an HTML body.

use std::fmt;

/// What a template may say. Only what Entra tells us or the rules file configures: the code's
/// lifetime, for instance, is not in the callout (spec a.8), so there is no `{minutes}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{code}`: the one-time code.
    Code,
    /// `{email}` (alias `{identifier}`, Entra's name): the address the code goes to.
    Email,
    /// `{app_name}`: the rules' `app_name`, else the client application's display name.
    AppName,
}

impl Placeholder {
    /// Every name a template may use.
    pub const NAMES: [&'static str; 4] = ["code", "email", "identifier", "app_name"];

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "code" => Some(Placeholder::Code),
            "email" | "identifier" => Some(Placeholder::Email),
            "app_name" => Some(Placeholder::AppName),
            _ => None,
        }
    }
}

/// Why a template cannot be used; the message completes "subject ..." / "text ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Placeholder),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// The values a template is rendered with.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    pub code: &'a str,
    pub email: &'a str,
    pub app_name: &'a str,
}

impl Template {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|(_, next)| *next == '{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().is_some_and(|(_, next)| *next == '}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = &source[at + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(TemplateError(
                            "has a `{` that is never closed; write `{{` for a literal brace"
                                .to_owned(),
                        ));
                    };
                    let name = &rest[..end];
                    let field = Placeholder::from_name(name.trim()).ok_or_else(|| {
                        TemplateError(format!(
                            "uses the unknown placeholder {{{}}}; use one of {}",
                            name.chars().take(40).collect::<String>(),
                            Placeholder::NAMES
                                .iter()
                                .map(|n| format!("{{{n}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Field(field));
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(TemplateError(
                        "has a `}` without a matching `{`; write `}}` for a literal brace"
                            .to_owned(),
                    ));
                }
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// A template shipped in the code: parsed like any other, and if it were ever malformed
    /// (a test pins that it is not) shown as literal text rather than failing a call.
    pub fn built_in(source: &'static str) -> Self {
        Self::parse(source).unwrap_or_else(|_| Self {
            pieces: vec![Piece::Text(source.to_owned())],
        })
    }

    /// Whether the template uses `placeholder`.
    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.pieces.contains(&Piece::Field(placeholder))
    }

    /// The text with every placeholder replaced; values HTML-escaped when `html`.
    pub fn render(&self, values: Values<'_>, html: bool) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => {
                    let value = match field {
                        Placeholder::Code => values.code,
                        Placeholder::Email => values.email,
                        Placeholder::AppName => values.app_name,
                    };
                    if html {
                        escape_html(value, &mut out);
                    } else {
                        out.push_str(value);
                    }
                }
            }
        }
        out
    }
}

fn escape_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: Values<'static> = Values {
        code: "12345678",
        email: "a@example.com",
        app_name: "Tom & Jerry's <App>",
    };

    #[test]
    fn placeholders_and_escaped_braces_render() {
        let template =
            Template::parse("{app_name}: {code} for {email} {{literal}} { code }").unwrap();
        assert_eq!(
            template.render(VALUES, false),
            "Tom & Jerry's <App>: 12345678 for a@example.com {literal} 12345678"
        );
        assert_eq!(
            Template::parse("<b>{app_name}</b> {identifier}")
                .unwrap()
                .render(VALUES, true),
            "<b>Tom &amp; Jerry&#39;s &lt;App&gt;</b> a@example.com"
        );
        assert!(template.uses(Placeholder::Code));
        assert!(!Template::parse("no code").unwrap().uses(Placeholder::Code));
        assert_eq!(
            Template::parse("ünï {code}").unwrap().render(VALUES, false),
            "ünï 12345678"
        );
    }

    #[test]
    fn bad_templates_say_what_to_write() {
        let unknown = Template::parse("Code: {otp}").unwrap_err().to_string();
        assert!(unknown.contains("unknown placeholder {otp}"), "{unknown}");
        assert!(
            unknown.contains("{code}, {email}, {identifier}, {app_name}"),
            "{unknown}"
        );
        assert!(
            Template::parse("{code")
                .unwrap_err()
                .to_string()
                .contains("never closed")
        );
        assert!(
            Template::parse("a } b")
                .unwrap_err()
                .to_string()
                .contains("`}}`")
        );
    }
}
