//! Helpers for writing OData `$filter` expressions safely.
//!
//! String literals in `$filter` are single-quoted with `'` doubled (OData v4 ABNF `SQUOTE-in-string`);
//! building filters from user input without [`quote`] is an injection bug (`O'Brien` breaks the
//! query, `x' or '1' eq '1` widens it).

/// A string literal for `$filter`: `O'Brien` becomes `'O''Brien'`.
pub fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' {
            quoted.push('\'');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// `identities/any(c:c/issuerAssignedId eq '…' and c/issuer eq '…')`: the lookup of a customer by a
/// sign-in identity (graph-api.md A.8; Graph needs both issuer and issuerAssignedId).
pub fn identity_filter(issuer: &str, issuer_assigned_id: &str) -> String {
    format!(
        "identities/any(c:c/issuerAssignedId eq {} and c/issuer eq {})",
        quote(issuer_assigned_id),
        quote(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(quote("O'Brien"), "'O''Brien'");
        assert_eq!(quote("x' or '1' eq '1"), "'x'' or ''1'' eq ''1'");
        assert_eq!(quote(""), "''");
        assert_eq!(
            identity_filter("contoso.onmicrosoft.com", "a'b@example.com"),
            "identities/any(c:c/issuerAssignedId eq 'a''b@example.com' and c/issuer eq 'contoso.onmicrosoft.com')"
        );
    }
}
