//! A response-body check against Entra's contract (docs/protocols/extension-callbacks.md a.4 and
//! the per-event sections), independent of the builders that produce our answers: the `data`
//! wrapper, the event's response `@odata.type` in its documented casing, exactly one action of a
//! type allowed for the event, the action's required members, claims as strings or string arrays
//! within 3 KB, and the echoed `nonce` for passwordSubmit. Tests hold every answer we send to it,
//! and the Microsoft library's invalid response vectors show what it refuses.

use serde_json::Value;

use crate::events::EventKind;
use crate::token_issuance_start::MAX_CLAIMS_BYTES;

/// What makes a response body one Entra would reject (or mis-handle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConformanceError {
    #[error("the body must be an object with a `data` object (Entra error 1003003)")]
    NoDataObject,
    #[error("`data.@odata.type` must be `{expected}`, found {found}")]
    WrongResponseType {
        expected: &'static str,
        found: String,
    },
    #[error("`data.actions` must hold exactly one action, found {0} (Entra error 1003010)")]
    ActionCount(usize),
    #[error("action type {found} is not allowed for {kind} (Entra error 1003012)")]
    WrongActionType { kind: EventKind, found: String },
    #[error("the action is missing `{0}` or it has the wrong JSON type")]
    MissingMember(&'static str),
    #[error("claim `{0}` must be a string or an array of strings")]
    ClaimType(String),
    #[error("a claim name is empty (Entra error 1003026)")]
    EmptyClaimName,
    #[error("claims total {0} bytes, over 3 KB (Entra error 1003025)")]
    ClaimsTooLarge(usize),
    #[error("`data.nonce` must echo the request's nonce")]
    MissingNonce,
    #[error("unexpected member `{0}` (not part of the documented response)")]
    UnexpectedMember(String),
}

/// The documented action types of each event, in their documented casing.
pub fn allowed_actions(kind: EventKind) -> &'static [&'static str] {
    use crate::{
        attribute_collection_start as start, attribute_collection_submit as submit,
        email_otp_send as otp, password_submit as password, token_issuance_start as token,
    };
    match kind {
        EventKind::TokenIssuanceStart => &[token::PROVIDE_CLAIMS_FOR_TOKEN],
        EventKind::AttributeCollectionStart => &[
            start::CONTINUE_WITH_DEFAULT_BEHAVIOR,
            start::SET_PREFILL_VALUES,
            start::SHOW_BLOCK_PAGE,
        ],
        EventKind::AttributeCollectionSubmit => &[
            submit::CONTINUE_WITH_DEFAULT_BEHAVIOR,
            submit::MODIFY_ATTRIBUTE_VALUES,
            submit::SHOW_VALIDATION_ERROR,
            submit::SHOW_BLOCK_PAGE,
        ],
        EventKind::EmailOtpSend => &[otp::CONTINUE_WITH_DEFAULT_BEHAVIOR],
        EventKind::PasswordSubmit => &[
            password::MIGRATE_PASSWORD,
            password::UPDATE_PASSWORD,
            password::RETRY,
            password::BLOCK,
        ],
    }
}

/// Checks `body` as the answer to an event of `kind`.
pub fn check_response(kind: EventKind, body: &Value) -> Result<(), ConformanceError> {
    let root = body.as_object().ok_or(ConformanceError::NoDataObject)?;
    if let Some(extra) = root.keys().find(|key| *key != "data") {
        return Err(ConformanceError::UnexpectedMember(extra.clone()));
    }
    let data = root
        .get("data")
        .and_then(Value::as_object)
        .ok_or(ConformanceError::NoDataObject)?;
    let expected = kind.response_data_type();
    match data.get("@odata.type").and_then(Value::as_str) {
        Some(found) if found == expected => {}
        found => {
            return Err(ConformanceError::WrongResponseType {
                expected,
                found: found.map_or_else(|| "nothing".to_owned(), |f| format!("`{f}`")),
            });
        }
    }
    for key in data.keys() {
        let known = matches!(key.as_str(), "@odata.type" | "actions")
            || (kind == EventKind::PasswordSubmit && key == "nonce");
        if !known {
            return Err(ConformanceError::UnexpectedMember(format!("data.{key}")));
        }
    }
    if kind == EventKind::PasswordSubmit
        && data
            .get("nonce")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(ConformanceError::MissingNonce);
    }
    let actions = data
        .get("actions")
        .and_then(Value::as_array)
        .ok_or(ConformanceError::ActionCount(0))?;
    let [action] = actions.as_slice() else {
        return Err(ConformanceError::ActionCount(actions.len()));
    };
    let action = action
        .as_object()
        .ok_or(ConformanceError::MissingMember("@odata.type"))?;
    let action_type = action
        .get("@odata.type")
        .and_then(Value::as_str)
        .ok_or(ConformanceError::MissingMember("@odata.type"))?;
    if !allowed_actions(kind).contains(&action_type) {
        return Err(ConformanceError::WrongActionType {
            kind,
            found: action_type.to_owned(),
        });
    }
    let object = |name: &'static str| {
        action
            .get(name)
            .and_then(Value::as_object)
            .ok_or(ConformanceError::MissingMember(name))
    };
    let text = |name: &'static str| {
        action
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(ConformanceError::MissingMember(name))
    };
    match action_type.rsplit('.').next().unwrap_or_default() {
        "provideClaimsForToken" => check_claims(object("claims")?)?,
        "setPrefillValues" => {
            object("inputs")?;
        }
        "modifyAttributeValues" => {
            object("attributes")?;
        }
        "showValidationError" => {
            text("message")?;
            object("attributeErrors")?;
        }
        "showBlockPage" | "Block" => {
            text("message")?;
        }
        _ => {}
    }
    Ok(())
}

fn check_claims(claims: &serde_json::Map<String, Value>) -> Result<(), ConformanceError> {
    let mut size = 0;
    for (name, value) in claims {
        if name.is_empty() {
            return Err(ConformanceError::EmptyClaimName);
        }
        size += name.len();
        match value {
            Value::String(s) => size += s.len(),
            Value::Array(items) => {
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| ConformanceError::ClaimType(name.clone()))?;
                    size += s.len();
                }
            }
            _ => return Err(ConformanceError::ClaimType(name.clone())),
        }
    }
    if size > MAX_CLAIMS_BYTES {
        return Err(ConformanceError::ClaimsTooLarge(size));
    }
    Ok(())
}
