//! The validation handshake (docs/protocols/change-notifications.md A.2): when a subscription is
//! created, Graph POSTs to each of its URLs with `?validationToken=…` and an empty or `text/plain`
//! body, and wants the token back, URL-decoded exactly once, as `text/plain` within 10 seconds. It
//! is detected from the query string alone, before any body parsing.

/// The query parameter that marks a validation request.
pub const VALIDATION_TOKEN_PARAMETER: &str = "validationToken";

/// The decoded validation token when `raw_query` (the query string as received, not decoded) holds
/// one. `+` reads as a space and `%XX` escapes are decoded, once: the form-encoding rules most HTTP
/// stacks apply, so a token decoded a second time (a known bug elsewhere) cannot happen here.
pub fn validation_token(raw_query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(raw_query?.as_bytes())
        .find(|(name, _)| name == VALIDATION_TOKEN_PARAMETER)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn every_constructed_handshake_case_decodes_once() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/change-notifications/validation-handshake.constructed.json");
        let cases: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let cases = cases["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            assert_eq!(
                validation_token(case["rawQueryString"].as_str()).as_deref(),
                case["expectedBody"].as_str(),
                "{}",
                case["name"]
            );
        }
    }

    #[test]
    fn other_parameters_and_empty_tokens() {
        assert_eq!(
            validation_token(Some("sub=users&validationToken=abc%2Bdef&x=1")).as_deref(),
            Some("abc+def")
        );
        assert_eq!(
            validation_token(Some("validationToken=")).as_deref(),
            Some("")
        );
        assert_eq!(validation_token(Some("validationtoken=abc")), None);
        assert_eq!(validation_token(Some("sub=users")), None);
        assert_eq!(validation_token(None), None);
    }
}
