//! OnAttributeCollectionSubmit: the user submitted the sign-up form, and we may accept it, change
//! values, send the user back with validation errors, or block the sign-up
//! (docs/protocols/extension-callbacks.md a.7). The request has the shape of
//! attributeCollectionStart, with the user's input in `userSignUpInfo` ("the password isn't
//! sent"), so the reader and the value builders are those of [`crate::attribute_collection_start`].

use serde_json::{Map, Value, json};

use crate::attribute_collection_start::{
    AttributeActionError, AttributeValues, ShowBlockPage, UserSignUpInfo,
};
use crate::envelope::{Callout, CalloutError};
use crate::events::EventKind;

/// Accept the input as submitted.
pub const CONTINUE_WITH_DEFAULT_BEHAVIOR: &str =
    "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior";
/// Change submitted values (`attributes`) and continue without telling the user.
pub const MODIFY_ATTRIBUTE_VALUES: &str =
    "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues";
/// Keep the user on the form with a page message and per-attribute messages.
pub const SHOW_VALIDATION_ERROR: &str =
    "microsoft.graph.attributeCollectionSubmit.showValidationError";
/// Stop the sign-up with a page (`title`, `message`).
pub const SHOW_BLOCK_PAGE: &str = "microsoft.graph.attributeCollectionSubmit.showBlockPage";

/// A parsed attributeCollectionSubmit callout. There is no `user`: the account is created after
/// this event.
#[derive(Debug, Clone)]
pub struct AttributeCollectionSubmitRequest {
    pub callout: Callout,
    /// What the user entered; `identities` may be absent (woodgrove capture, a.7).
    pub user_sign_up_info: UserSignUpInfo,
}

impl AttributeCollectionSubmitRequest {
    /// Parses a body sent to the attributeCollectionSubmit endpoint; any other event is an error.
    pub fn parse(body: &[u8]) -> Result<Self, CalloutError> {
        let callout = Callout::parse_for(EventKind::AttributeCollectionSubmit, body)?;
        let user_sign_up_info = UserSignUpInfo::from_callout(&callout)?;
        Ok(Self {
            callout,
            user_sign_up_info,
        })
    }
}

/// The showValidationError action: a page-level `message` and `attributeErrors` (attribute name
/// to the message shown next to that field). The user stays on the form. Setting an attribute's
/// error twice (names compared ignoring ASCII case) replaces the earlier message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowValidationError {
    message: String,
    attribute_errors: Vec<(String, String)>,
}

impl ShowValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            attribute_errors: Vec::new(),
        }
    }

    /// Sets the message shown next to attribute `name`.
    pub fn insert(&mut self, name: impl Into<String>, message: impl Into<String>) {
        let name = name.into();
        let message = message.into();
        match self
            .attribute_errors
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(slot) => *slot = (name, message),
            None => self.attribute_errors.push((name, message)),
        }
    }

    /// [`ShowValidationError::insert`] for building in one expression.
    pub fn with(mut self, name: impl Into<String>, message: impl Into<String>) -> Self {
        self.insert(name, message);
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn attribute_errors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attribute_errors
            .iter()
            .map(|(n, m)| (n.as_str(), m.as_str()))
    }

    fn to_action(&self) -> Result<Value, AttributeActionError> {
        if self.message.trim().is_empty() {
            return Err(AttributeActionError::EmptyMessage);
        }
        let attribute_errors = self
            .attribute_errors
            .iter()
            .map(|(name, message)| {
                if name.trim().is_empty() {
                    return Err(AttributeActionError::EmptyAttributeName);
                }
                if message.trim().is_empty() {
                    return Err(AttributeActionError::EmptyAttributeError {
                        attribute: name.clone(),
                    });
                }
                Ok((name.clone(), Value::String(message.clone())))
            })
            .collect::<Result<Map<String, Value>, _>>()?;
        Ok(json!({
            "@odata.type": SHOW_VALIDATION_ERROR,
            "message": self.message,
            "attributeErrors": attribute_errors,
        }))
    }
}

/// The one action an attributeCollectionSubmit response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeCollectionSubmitAction {
    /// Accept the input as submitted.
    ContinueWithDefaultBehavior,
    /// Replace submitted values; sign-up continues without notifying the user.
    ModifyAttributeValues(AttributeValues),
    /// Send the user back to the form.
    ShowValidationError(ShowValidationError),
    /// Stop the sign-up.
    ShowBlockPage(ShowBlockPage),
}

impl AttributeCollectionSubmitAction {
    /// The action's `@odata.type`, for logs.
    pub fn action_type(&self) -> &'static str {
        match self {
            AttributeCollectionSubmitAction::ContinueWithDefaultBehavior => {
                CONTINUE_WITH_DEFAULT_BEHAVIOR
            }
            AttributeCollectionSubmitAction::ModifyAttributeValues(_) => MODIFY_ATTRIBUTE_VALUES,
            AttributeCollectionSubmitAction::ShowValidationError(_) => SHOW_VALIDATION_ERROR,
            AttributeCollectionSubmitAction::ShowBlockPage(_) => SHOW_BLOCK_PAGE,
        }
    }

    /// The complete response body, or why it would be rejected by Entra.
    pub fn to_response(&self) -> Result<Value, AttributeActionError> {
        let action = match self {
            AttributeCollectionSubmitAction::ContinueWithDefaultBehavior => {
                json!({ "@odata.type": CONTINUE_WITH_DEFAULT_BEHAVIOR })
            }
            AttributeCollectionSubmitAction::ModifyAttributeValues(values) => json!({
                "@odata.type": MODIFY_ATTRIBUTE_VALUES,
                "attributes": values.to_json()?,
            }),
            AttributeCollectionSubmitAction::ShowValidationError(error) => error.to_action()?,
            AttributeCollectionSubmitAction::ShowBlockPage(page) => {
                Value::Object(page.to_action(SHOW_BLOCK_PAGE)?)
            }
        };
        Ok(json!({
            "data": {
                "@odata.type": EventKind::AttributeCollectionSubmit.response_data_type(),
                "actions": [action],
            }
        }))
    }
}
