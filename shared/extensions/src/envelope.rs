//! The request envelope every event shares (docs/protocols/extension-callbacks.md a.3), read
//! leniently per a.12: keys are matched ignoring ASCII case (Microsoft's payloads spell
//! `@odata.type` as `@odata.Type` and `email` as `EmailAddress`), unknown properties are ignored,
//! and optional objects may be absent or `null`.

use serde_json::{Map, Value};

use crate::events::EventKind;

/// Why a request body is not a callout we can answer. Every variant becomes a 400: such a body
/// cannot have come from Entra. Messages never quote values from the body beyond field names and
/// the event type, so they are safe to return and to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalloutError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("required field `{0}` is missing")]
    MissingField(&'static str),
    #[error("field `{field}` {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    #[error("unknown event type `{0}`")]
    UnknownEventType(String),
    #[error("event `{received}` was sent to the `{expected}` endpoint")]
    WrongEvent {
        expected: EventKind,
        received: EventKind,
    },
    #[error("`data.@odata.type` is `{found}` but event {kind} requires `{expected}`")]
    DataTypeMismatch {
        kind: EventKind,
        expected: &'static str,
        found: String,
    },
}

impl CalloutError {
    /// A stable, machine-readable code for the 400 body and logs.
    pub fn code(&self) -> &'static str {
        match self {
            CalloutError::NotJson(_) | CalloutError::NotAnObject => "malformed_json",
            CalloutError::MissingField(_) | CalloutError::InvalidField { .. } => "invalid_callout",
            CalloutError::UnknownEventType(_) => "unknown_event_type",
            CalloutError::WrongEvent { .. } | CalloutError::DataTypeMismatch { .. } => {
                "wrong_event_type"
            }
        }
    }
}

/// An application taking part in the authentication (`clientServicePrincipal` and
/// `resourceServicePrincipal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub id: Option<String>,
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    pub display_name: Option<String>,
}

/// `data.authenticationContext`: who is signing in to what, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthenticationContext {
    /// Per-authentication correlation id (shown in Entra sign-in logs); our idempotency and trace key.
    pub correlation_id: String,
    pub client_ip: Option<String>,
    pub locale: Option<String>,
    pub market: Option<String>,
    pub protocol: Option<String>,
    /// `signUp`/`SignIn`/...; present for email OTP only.
    pub request_type: Option<String>,
    pub client_service_principal: Option<ServicePrincipal>,
    pub resource_service_principal: Option<ServicePrincipal>,
}

/// A parsed callout: the common envelope plus the event-specific `data` members, still as JSON,
/// for the event's own parser. `Debug` leaves `data` out: it can hold one-time codes and encrypted
/// passwords, which must never reach a log.
#[derive(Clone)]
pub struct Callout {
    pub kind: EventKind,
    /// `/tenants/{tenantId}/applications/{appId}`; informational only, never used for authorization.
    pub source: Option<String>,
    pub tenant_id: String,
    pub listener_id: Option<String>,
    pub extension_id: Option<String>,
    pub context: AuthenticationContext,
    data: Map<String, Value>,
}

impl std::fmt::Debug for Callout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callout")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("tenant_id", &self.tenant_id)
            .field("listener_id", &self.listener_id)
            .field("extension_id", &self.extension_id)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Callout {
    /// Parses a request body. Accepts any of the five events; use [`Callout::parse_for`] at an
    /// endpoint that serves one event.
    pub fn parse(body: &[u8]) -> Result<Self, CalloutError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| CalloutError::NotJson(e.to_string()))?;
        let Value::Object(mut root) = value else {
            return Err(CalloutError::NotAnObject);
        };
        let type_value = required_str(&root, "type", "type")?;
        let kind = EventKind::from_request_type(type_value)
            .ok_or_else(|| CalloutError::UnknownEventType(truncate(type_value, 120)))?;
        let source = optional_str(&root, "source", "source")?;
        // Taken out of the tree, not copied: the body's data is most of the request.
        let data = match take(&mut root, "data") {
            Some(Value::Object(data)) => data,
            Some(Value::Null) | None => return Err(CalloutError::MissingField("data")),
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data",
                    problem: "must be an object".into(),
                });
            }
        };
        // The .NET library rejects a missing `@odata.type`; we accept it (the top-level `type`
        // already names the event, and the body is not signed either way) but refuse a
        // contradicting one. Pinned by a test on RequestMissingODataType.json.
        if let Some(found) = optional_str(&data, "@odata.type", "data.@odata.type")?
            && !found.eq_ignore_ascii_case(kind.callout_data_type())
        {
            return Err(CalloutError::DataTypeMismatch {
                kind,
                expected: kind.callout_data_type(),
                found: truncate(&found, 120),
            });
        }
        let tenant_id = required_str(&data, "tenantId", "data.tenantId")?.to_owned();
        let listener_id = optional_str(
            &data,
            "authenticationEventListenerId",
            "data.authenticationEventListenerId",
        )?;
        let extension_id = optional_str(
            &data,
            "customAuthenticationExtensionId",
            "data.customAuthenticationExtensionId",
        )?;
        let context = match get(&data, "authenticationContext") {
            Some(Value::Object(context)) => parse_context(context)?,
            Some(Value::Null) | None => {
                return Err(CalloutError::MissingField("data.authenticationContext"));
            }
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data.authenticationContext",
                    problem: "must be an object".into(),
                });
            }
        };
        Ok(Self {
            kind,
            source,
            tenant_id,
            listener_id,
            extension_id,
            context,
            data,
        })
    }

    /// Parses a body sent to the endpoint of `expected`; any other event is an error.
    pub fn parse_for(expected: EventKind, body: &[u8]) -> Result<Self, CalloutError> {
        let callout = Self::parse(body)?;
        if callout.kind != expected {
            return Err(CalloutError::WrongEvent {
                expected,
                received: callout.kind,
            });
        }
        Ok(callout)
    }

    /// The raw `data` object, for event-specific members.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// `data.authenticationContext` as raw JSON (e.g. for `user`).
    pub fn context_member(&self, name: &str) -> Option<&Value> {
        match get(&self.data, "authenticationContext") {
            Some(Value::Object(context)) => get(context, name).filter(|v| !v.is_null()),
            _ => None,
        }
    }
}

fn parse_context(context: &Map<String, Value>) -> Result<AuthenticationContext, CalloutError> {
    let correlation_id = required_str(
        context,
        "correlationId",
        "data.authenticationContext.correlationId",
    )?
    .to_owned();
    let client = match get(context, "client") {
        Some(Value::Object(client)) => Some(client),
        _ => None,
    };
    let client_field = |name: &str, path: &'static str| match client {
        Some(client) => optional_str(client, name, path),
        None => Ok(None),
    };
    Ok(AuthenticationContext {
        correlation_id,
        client_ip: client_field("ip", "data.authenticationContext.client.ip")?,
        locale: client_field("locale", "data.authenticationContext.client.locale")?,
        market: client_field("market", "data.authenticationContext.client.market")?,
        protocol: optional_str(context, "protocol", "data.authenticationContext.protocol")?,
        request_type: optional_str(
            context,
            "requestType",
            "data.authenticationContext.requestType",
        )?,
        client_service_principal: service_principal(
            context,
            "clientServicePrincipal",
            "data.authenticationContext.clientServicePrincipal",
        )?,
        resource_service_principal: service_principal(
            context,
            "resourceServicePrincipal",
            "data.authenticationContext.resourceServicePrincipal",
        )?,
    })
}

fn service_principal(
    object: &Map<String, Value>,
    name: &str,
    path: &'static str,
) -> Result<Option<ServicePrincipal>, CalloutError> {
    match get(object, name) {
        Some(Value::Object(sp)) => Ok(Some(ServicePrincipal {
            id: optional_str(sp, "id", path)?,
            app_id: optional_str(sp, "appId", path)?,
            app_display_name: optional_str(sp, "appDisplayName", path)?,
            display_name: optional_str(sp, "displayName", path)?,
        })),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(CalloutError::InvalidField {
            field: path,
            problem: "must be an object".into(),
        }),
    }
}

/// Looks a key up ignoring ASCII case (exact match first, as it is by far the common case).
pub fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Removes a key looked up as [`get`] does, returning its value.
fn take(object: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(value) = object.remove(key) {
        return Some(value);
    }
    let found = object.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    object.remove(&found)
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<&'a str, CalloutError> {
    match get(object, key) {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Null) | None => Err(CalloutError::MissingField(path)),
        Some(_) => Err(CalloutError::InvalidField {
            field: path,
            problem: "must be a string".into(),
        }),
    }
}

fn optional_str(
    object: &Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Option<String>, CalloutError> {
    match get(object, key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(CalloutError::InvalidField {
            field: path,
            problem: "must be a string".into(),
        }),
    }
}

fn truncate(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}
