//! OnAttributeCollectionStart: the sign-up form is about to render, and we may prefill it, block
//! the sign-up, or let it render as configured (docs/protocols/extension-callbacks.md a.6).
//!
//! The `userSignUpInfo` reader (a.11) and the bare-value and block-page builders live here and are
//! shared with OnAttributeCollectionSubmit (a.7), whose payload has the same shape. Reading follows
//! a.12: attribute names and `@odata.type` values are matched ignoring ASCII case, the key may be
//! spelled `@odata.Type`, multi-values arrive as a comma-delimited string or as a JSON array, and
//! `identities`, `null` entries and unknown properties are tolerated.

use serde_json::{Map, Value, json};

use crate::envelope::{Callout, CalloutError, get};
use crate::events::EventKind;

/// "Render the attribute collection page as usual."
pub const CONTINUE_WITH_DEFAULT_BEHAVIOR: &str =
    "microsoft.graph.attributeCollectionStart.continueWithDefaultBehavior";
/// Prefill the form (`inputs`).
pub const SET_PREFILL_VALUES: &str = "microsoft.graph.attributeCollectionStart.setPrefillValues";
/// Stop the sign-up with a page (`title`, `message`).
pub const SHOW_BLOCK_PAGE: &str = "microsoft.graph.attributeCollectionStart.showBlockPage";

/// `@odata.type` of a string attribute (also used for multi-valued attributes).
pub const STRING_DIRECTORY_ATTRIBUTE_VALUE: &str = "microsoft.graph.stringDirectoryAttributeValue";
/// `@odata.type` of an integer attribute.
pub const INT64_DIRECTORY_ATTRIBUTE_VALUE: &str = "microsoft.graph.int64DirectoryAttributeValue";
/// `@odata.type` of a boolean attribute.
pub const BOOLEAN_DIRECTORY_ATTRIBUTE_VALUE: &str =
    "microsoft.graph.booleanDirectoryAttributeValue";

/// A parsed attributeCollectionStart callout. There is no `user`: the account does not exist yet.
#[derive(Debug, Clone)]
pub struct AttributeCollectionStartRequest {
    pub callout: Callout,
    /// The attributes with their default values (most have none yet) and the identity the user
    /// is signing up with.
    pub user_sign_up_info: UserSignUpInfo,
}

impl AttributeCollectionStartRequest {
    /// Parses a body sent to the attributeCollectionStart endpoint; any other event is an error.
    pub fn parse(body: &[u8]) -> Result<Self, CalloutError> {
        let callout = Callout::parse_for(EventKind::AttributeCollectionStart, body)?;
        let user_sign_up_info = UserSignUpInfo::from_callout(&callout)?;
        Ok(Self {
            callout,
            user_sign_up_info,
        })
    }
}

/// `data.userSignUpInfo` (a.11): what the sign-up form holds and how the user signs in.
/// Absent or `null` reads as empty (a.12 rule 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSignUpInfo {
    pub attributes: SignUpAttributes,
    /// Empty when Entra leaves `identities` out (the woodgrove submit capture, a.7).
    pub identities: Vec<SignUpIdentity>,
}

impl UserSignUpInfo {
    /// The email address on the form. Entra's captures call it `EmailAddress` at start and
    /// `email` at submit (a.6, a.7), so both names are tried, ignoring case.
    pub fn email(&self) -> Option<&str> {
        ["email", "EmailAddress"]
            .into_iter()
            .find_map(|name| self.attributes.get(name).and_then(AttributeValue::as_str))
            .filter(|email| !email.is_empty())
    }

    /// Reads `data.userSignUpInfo` of an attribute-collection callout.
    pub(crate) fn from_callout(callout: &Callout) -> Result<Self, CalloutError> {
        let info = match get(callout.data(), "userSignUpInfo") {
            Some(Value::Object(info)) => info,
            Some(Value::Null) | None => return Ok(Self::default()),
            Some(_) => return Err(not_an_object("data.userSignUpInfo")),
        };
        let attributes = match get(info, "attributes") {
            Some(Value::Object(attributes)) => SignUpAttributes::parse(attributes)?,
            Some(Value::Null) | None => SignUpAttributes::default(),
            Some(_) => return Err(not_an_object("data.userSignUpInfo.attributes")),
        };
        let identities = match get(info, "identities") {
            Some(Value::Array(identities)) => identities
                .iter()
                .filter(|identity| !identity.is_null())
                .map(SignUpIdentity::parse)
                .collect::<Result<_, _>>()?,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data.userSignUpInfo.identities",
                    problem: "must be an array".into(),
                });
            }
        };
        Ok(Self {
            attributes,
            identities,
        })
    }
}

/// `userSignUpInfo.attributes`: attribute name to typed value, in the order Entra sent them.
/// Names are looked up ignoring ASCII case because Entra's own captures vary the casing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignUpAttributes {
    entries: Vec<(String, AttributeValue)>,
}

impl SignUpAttributes {
    fn parse(attributes: &Map<String, Value>) -> Result<Self, CalloutError> {
        let mut entries = Vec::with_capacity(attributes.len());
        for (name, entry) in attributes {
            match entry {
                Value::Object(entry) => entries.push((name.clone(), AttributeValue::parse(entry))),
                // a.12 rule 4: a `null` entry is an attribute without a value to report.
                Value::Null => {}
                _ => {
                    return Err(CalloutError::InvalidField {
                        field: "data.userSignUpInfo.attributes",
                        problem: "every attribute must be an object".into(),
                    });
                }
            }
        }
        Ok(Self { entries })
    }

    /// The attribute called `name`: an exact match first, then one ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, value)| value)
    }

    /// Every attribute with the name exactly as Entra sent it.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttributeValue)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The directory type of an attribute value (`@odata.type`, a.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeKind {
    /// A JSON string; multi-valued attributes are strings too.
    String,
    /// A JSON number.
    Int64,
    /// A JSON boolean.
    Boolean,
    /// A type none of Microsoft's payloads has shown so far (a.11 marks the list UNCERTAIN), kept
    /// verbatim: refusing it would fail every sign-up for one attribute we may not even read.
    Other(String),
}

impl AttributeKind {
    /// Recognises an `@odata.type` value, ignoring ASCII case (a.12 rule 1).
    pub fn from_odata_type(value: &str) -> Self {
        if value.eq_ignore_ascii_case(STRING_DIRECTORY_ATTRIBUTE_VALUE) {
            AttributeKind::String
        } else if value.eq_ignore_ascii_case(INT64_DIRECTORY_ATTRIBUTE_VALUE) {
            AttributeKind::Int64
        } else if value.eq_ignore_ascii_case(BOOLEAN_DIRECTORY_ATTRIBUTE_VALUE) {
            AttributeKind::Boolean
        } else {
            AttributeKind::Other(value.to_owned())
        }
    }

    /// The documented `@odata.type` literal (or the unrecognised one as received).
    pub fn odata_type(&self) -> &str {
        match self {
            AttributeKind::String => STRING_DIRECTORY_ATTRIBUTE_VALUE,
            AttributeKind::Int64 => INT64_DIRECTORY_ATTRIBUTE_VALUE,
            AttributeKind::Boolean => BOOLEAN_DIRECTORY_ATTRIBUTE_VALUE,
            AttributeKind::Other(other) => other,
        }
    }

    /// The kind a value without `@odata.type` most plausibly has.
    fn infer(value: &Value) -> Self {
        match value {
            Value::Bool(_) => AttributeKind::Boolean,
            Value::Number(_) => AttributeKind::Int64,
            _ => AttributeKind::String,
        }
    }
}

/// One `userSignUpInfo.attributes` entry: `{"@odata.type", "value", "attributeType"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeValue {
    /// From `@odata.type` (any key casing); inferred from `value` when Entra leaves it out.
    pub kind: AttributeKind,
    /// The value as sent; `null` when absent (attributes start without values).
    pub value: Value,
    /// `builtIn` or `directorySchemaExtension` so far.
    pub attribute_type: Option<String>,
}

impl AttributeValue {
    fn parse(entry: &Map<String, Value>) -> Self {
        let value = get(entry, "value").cloned().unwrap_or(Value::Null);
        let kind = match get(entry, "@odata.type").and_then(Value::as_str) {
            Some(odata_type) => AttributeKind::from_odata_type(odata_type),
            None => AttributeKind::infer(&value),
        };
        let attribute_type = get(entry, "attributeType")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self {
            kind,
            value,
            attribute_type,
        }
    }

    /// The value when it is a JSON string (including a comma-delimited multi-value).
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }

    /// The value when it is a JSON integer.
    pub fn as_i64(&self) -> Option<i64> {
        self.value.as_i64()
    }

    /// The value when it is a JSON boolean.
    pub fn as_bool(&self) -> Option<bool> {
        self.value.as_bool()
    }

    /// The selected values of a multi-valued (checkbox / multi-select) attribute. Current docs
    /// send a comma-delimited string (`"Alumni,Faculty"`), the 2023 reference a JSON array
    /// (`["Alumni", "Faculty"]`); both read the same (a.11). An empty string or `null` is no
    /// selection; non-string array elements and non-string values yield nothing.
    pub fn values(&self) -> Vec<&str> {
        match &self.value {
            Value::String(s) if s.is_empty() => Vec::new(),
            Value::String(s) => s.split(',').collect(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether nothing was entered: `null`, an empty string or an empty array.
    pub fn is_empty(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(items) => items.is_empty(),
            _ => false,
        }
    }
}

/// One `userSignUpInfo.identities` entry. Observed `signInType` values: `email` (issuer = tenant
/// domain), `federated` (issuer `mail` for email OTP, `google.com`, ...), `userPrincipalName`,
/// `userName` (a.11). Members of another JSON type than string read as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignUpIdentity {
    pub sign_in_type: Option<String>,
    pub issuer: Option<String>,
    pub issuer_assigned_id: Option<String>,
}

impl SignUpIdentity {
    fn parse(identity: &Value) -> Result<Self, CalloutError> {
        let Value::Object(identity) = identity else {
            return Err(CalloutError::InvalidField {
                field: "data.userSignUpInfo.identities",
                problem: "every identity must be an object".into(),
            });
        };
        let text = |key: &str| {
            get(identity, key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Self {
            sign_in_type: text("signInType"),
            issuer: text("issuer"),
            issuer_assigned_id: text("issuerAssignedId"),
        })
    }
}

fn not_an_object(field: &'static str) -> CalloutError {
    CalloutError::InvalidField {
        field,
        problem: "must be an object".into(),
    }
}

/// A value we send for an attribute (`inputs` of setPrefillValues, `attributes` of
/// modifyAttributeValues): a bare JSON value, not the request's `{"@odata.type", "value"}`
/// wrapper, whose JSON type must match the attribute's type (a.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BareValue {
    /// A string attribute.
    String(String),
    /// An int64 attribute (a JSON number).
    Int64(i64),
    /// A boolean attribute (a JSON boolean).
    Boolean(bool),
    /// A multi-valued attribute, sent as one comma-delimited string (the current documented form).
    /// No element may be empty or contain a comma: the encoding could not carry it.
    MultiValue(Vec<String>),
}

impl BareValue {
    fn to_json(&self, attribute: &str) -> Result<Value, AttributeActionError> {
        Ok(match self {
            BareValue::String(s) => Value::String(s.clone()),
            BareValue::Int64(n) => Value::from(*n),
            BareValue::Boolean(b) => Value::Bool(*b),
            BareValue::MultiValue(values) => {
                if values.iter().any(|v| v.is_empty() || v.contains(',')) {
                    return Err(AttributeActionError::InvalidMultiValue {
                        attribute: attribute.to_owned(),
                    });
                }
                Value::String(values.join(","))
            }
        })
    }
}

impl From<&str> for BareValue {
    fn from(value: &str) -> Self {
        BareValue::String(value.to_owned())
    }
}

impl From<String> for BareValue {
    fn from(value: String) -> Self {
        BareValue::String(value)
    }
}

impl From<i64> for BareValue {
    fn from(value: i64) -> Self {
        BareValue::Int64(value)
    }
}

impl From<i32> for BareValue {
    fn from(value: i32) -> Self {
        BareValue::Int64(value.into())
    }
}

impl From<bool> for BareValue {
    fn from(value: bool) -> Self {
        BareValue::Boolean(value)
    }
}

impl From<Vec<String>> for BareValue {
    fn from(values: Vec<String>) -> Self {
        BareValue::MultiValue(values)
    }
}

impl From<Vec<&str>> for BareValue {
    fn from(values: Vec<&str>) -> Self {
        BareValue::MultiValue(values.into_iter().map(str::to_owned).collect())
    }
}

/// Attribute name to bare value, for setPrefillValues and modifyAttributeValues. Entra ignores
/// names that are not on the form (it "can't add new attributes"). Names are matched ignoring
/// ASCII case like everywhere else in this crate, so setting `City` after `city` replaces it
/// (keeping the later spelling) instead of sending two keys Entra could not tell apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeValues {
    entries: Vec<(String, BareValue)>,
}

impl AttributeValues {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`, replacing an earlier value of the same name (ignoring ASCII case).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<BareValue>) {
        let name = name.into();
        let value = value.into();
        match self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(slot) => *slot = (name, value),
            None => self.entries.push((name, value)),
        }
    }

    /// [`AttributeValues::insert`] for building in one expression.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<BareValue>) -> Self {
        self.insert(name, value);
        self
    }

    /// The value set for `name` (ignoring ASCII case).
    pub fn get(&self, name: &str) -> Option<&BareValue> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &BareValue)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The JSON dictionary, or why Entra would not apply it.
    pub(crate) fn to_json(&self) -> Result<Map<String, Value>, AttributeActionError> {
        if self.entries.is_empty() {
            return Err(AttributeActionError::NoAttributeValues);
        }
        self.entries
            .iter()
            .map(|(name, value)| {
                if name.trim().is_empty() {
                    return Err(AttributeActionError::EmptyAttributeName);
                }
                Ok((name.clone(), value.to_json(name)?))
            })
            .collect()
    }
}

/// The showBlockPage action of both attribute-collection events: the sign-up stops on a page with
/// an optional `title` and a `message`. We always send a message: the default text exists only in
/// the 2023 reference, and a block page without a reason helps no one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowBlockPage {
    title: Option<String>,
    message: String,
}

impl ShowBlockPage {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            title: None,
            message: message.into(),
        }
    }

    /// Adds the page title (present in the 2025 docs).
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The action object with the event's own action type.
    pub(crate) fn to_action(
        &self,
        action_type: &'static str,
    ) -> Result<Map<String, Value>, AttributeActionError> {
        let mut action = Map::new();
        action.insert("@odata.type".into(), action_type.into());
        if let Some(title) = &self.title {
            if title.trim().is_empty() {
                return Err(AttributeActionError::EmptyTitle);
            }
            action.insert("title".into(), title.clone().into());
        }
        if self.message.trim().is_empty() {
            return Err(AttributeActionError::EmptyMessage);
        }
        action.insert("message".into(), self.message.clone().into());
        Ok(action)
    }
}

/// An attribute-collection response that Entra would reject or misapply. It is a bug on our
/// side, caught before sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeActionError {
    #[error("an attribute name is empty")]
    EmptyAttributeName,
    #[error("no attribute values were given; answer continueWithDefaultBehavior instead")]
    NoAttributeValues,
    #[error(
        "multi-valued attribute `{attribute}` has an empty value or one containing a comma, which \
         the comma-delimited encoding cannot carry"
    )]
    InvalidMultiValue { attribute: String },
    #[error("the message shown to the user is empty")]
    EmptyMessage,
    #[error("the page title is empty; leave it out instead")]
    EmptyTitle,
    #[error("the error message for attribute `{attribute}` is empty")]
    EmptyAttributeError { attribute: String },
}

/// The one action an attributeCollectionStart response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeCollectionStartAction {
    /// Render the form as configured.
    ContinueWithDefaultBehavior,
    /// Prefill the form; values for attributes not on the form are ignored by Entra.
    SetPrefillValues(AttributeValues),
    /// Stop the sign-up.
    ShowBlockPage(ShowBlockPage),
}

impl AttributeCollectionStartAction {
    /// The action's `@odata.type`, for logs.
    pub fn action_type(&self) -> &'static str {
        match self {
            AttributeCollectionStartAction::ContinueWithDefaultBehavior => {
                CONTINUE_WITH_DEFAULT_BEHAVIOR
            }
            AttributeCollectionStartAction::SetPrefillValues(_) => SET_PREFILL_VALUES,
            AttributeCollectionStartAction::ShowBlockPage(_) => SHOW_BLOCK_PAGE,
        }
    }

    /// The complete response body, or why it would be rejected by Entra.
    pub fn to_response(&self) -> Result<Value, AttributeActionError> {
        let action = match self {
            AttributeCollectionStartAction::ContinueWithDefaultBehavior => {
                json!({ "@odata.type": CONTINUE_WITH_DEFAULT_BEHAVIOR })
            }
            AttributeCollectionStartAction::SetPrefillValues(values) => json!({
                "@odata.type": SET_PREFILL_VALUES,
                "inputs": values.to_json()?,
            }),
            AttributeCollectionStartAction::ShowBlockPage(page) => {
                Value::Object(page.to_action(SHOW_BLOCK_PAGE)?)
            }
        };
        Ok(json!({
            "data": {
                "@odata.type": EventKind::AttributeCollectionStart.response_data_type(),
                "actions": [action],
            }
        }))
    }
}
