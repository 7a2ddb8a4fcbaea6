//! Property-based fuzzing of the callout parsers of the five events (issue #10 item 4,
//! FUZZING.md): `Callout::parse`, `Callout::parse_for` and each event's typed request parser,
//! through their public entry points only.
//!
//! Seeds are Microsoft's request payloads in `tests/vectors/extension-callbacks`. Structured cases
//! change one thing of a seed (drop, null or retype a field, swap the event, break the JSON, nest
//! deeply, grow a string) and must get exactly the documented [`CalloutError`]; key casing and
//! unknown members must not matter. Raw byte and JSON mutations must never panic, must allocate
//! within a bound proportional to the body, and must keep the parsers consistent with each other.

mod common;

use common::vector;
use entra_extensions::{
    AttributeCollectionStartRequest, AttributeCollectionSubmitRequest, Callout, CalloutError,
    EmailOtpSendRequest, EventKind, PasswordSubmitRequest, TokenIssuanceStartRequest,
};
use entra_fuzzing::mutate::{apply_bytes, apply_json, arb_json, byte_edits, json_edits, recase};
use entra_fuzzing::{MemoryBound, bounded, brief, run};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

entra_fuzzing::counting_allocator!();

/// A JSON tree costs tens of bytes per input byte, and the envelope keeps a copy of `data`.
const MEMORY: MemoryBound = MemoryBound {
    per_input_byte: 128,
    fixed: 64 * 1024,
};

/// Every request vector of the five events.
const SEEDS: [(EventKind, &str); 12] = [
    (
        EventKind::TokenIssuanceStart,
        "docs/tokenIssuanceStart.request.json",
    ),
    (
        EventKind::TokenIssuanceStart,
        "microsoft-samples/OnTokenIssuanceStart.json",
    ),
    (EventKind::TokenIssuanceStart, "azure-sdk/ValidRequest.json"),
    (
        EventKind::TokenIssuanceStart,
        "azure-sdk/RequestMissingSource.json",
    ),
    (
        EventKind::TokenIssuanceStart,
        "azure-sdk/RequestMissingODataType.json",
    ),
    (
        EventKind::AttributeCollectionStart,
        "docs/attributeCollectionStart.request.json",
    ),
    (
        EventKind::AttributeCollectionStart,
        "microsoft-samples/OnAttributeCollectionStart.json",
    ),
    (
        EventKind::AttributeCollectionSubmit,
        "docs/attributeCollectionSubmit.request.json",
    ),
    (
        EventKind::AttributeCollectionSubmit,
        "microsoft-samples/OnAttributeCollectionSubmit.json",
    ),
    (EventKind::EmailOtpSend, "docs/emailOtpSend.request.json"),
    (
        EventKind::EmailOtpSend,
        "microsoft-samples/OnEmailOtpSend.json",
    ),
    (
        EventKind::PasswordSubmit,
        "docs/passwordSubmit.request.json",
    ),
];

#[derive(Clone)]
struct Seed {
    kind: EventKind,
    name: &'static str,
    bytes: Vec<u8>,
    json: Value,
}

impl std::fmt::Debug for Seed {
    /// The vector's name; its bytes are in the repository.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn seeds() -> Vec<Seed> {
    SEEDS
        .iter()
        .map(|(kind, name)| {
            let bytes = vector(name);
            let json = serde_json::from_slice(&bytes).unwrap();
            Seed {
                kind: *kind,
                name,
                bytes,
                json,
            }
        })
        .collect()
}

/// The typed parser of `kind` (each goes through `Callout::parse_for`).
fn parse_typed(kind: EventKind, body: &[u8]) -> Result<Callout, CalloutError> {
    match kind {
        EventKind::TokenIssuanceStart => TokenIssuanceStartRequest::parse(body).map(|r| r.callout),
        EventKind::AttributeCollectionStart => {
            AttributeCollectionStartRequest::parse(body).map(|r| r.callout)
        }
        EventKind::AttributeCollectionSubmit => {
            AttributeCollectionSubmitRequest::parse(body).map(|r| r.callout)
        }
        EventKind::EmailOtpSend => EmailOtpSendRequest::parse(body).map(|r| r.callout),
        EventKind::PasswordSubmit => PasswordSubmitRequest::parse(body).map(|r| r.callout),
    }
}

/// Runs every parser on `body` within the memory bound and checks they agree:
/// typed Ok => `parse_for` Ok => `parse` Ok of that kind; messages stay short (values are never
/// echoed beyond 120 characters). Returns the typed parser's verdict for `kind`.
fn parse_all(kind: EventKind, body: &[u8]) -> Result<Result<Callout, CalloutError>, TestCaseError> {
    let (any, for_kind, typed) = bounded(body.len(), MEMORY, || {
        (
            Callout::parse(body),
            Callout::parse_for(kind, body),
            parse_typed(kind, body),
        )
    })?;
    for result in [&any, &for_kind, &typed] {
        if let Err(error) = result {
            prop_assert!(
                error.to_string().chars().count() < 400,
                "long message: {}",
                brief(&error.to_string())
            );
        }
    }
    if typed.is_ok() {
        prop_assert!(
            for_kind.is_ok(),
            "typed Ok but parse_for {:?}",
            for_kind.err()
        );
    }
    match (&any, &for_kind) {
        (Ok(callout), Ok(_)) => prop_assert_eq!(callout.kind, kind),
        (Ok(callout), Err(error)) => prop_assert_eq!(
            error,
            &CalloutError::WrongEvent {
                expected: kind,
                received: callout.kind
            }
        ),
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (Err(error), Ok(_)) => prop_assert!(false, "parse_for Ok but parse {error:?}"),
    }
    Ok(typed)
}

#[test]
fn every_seed_parses_with_its_typed_parser() {
    for seed in seeds() {
        let callout =
            parse_typed(seed.kind, &seed.bytes).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
        assert_eq!(callout.kind, seed.kind, "{}", seed.name);
    }
}

/// The case-insensitive key of `object` that matches `key` (what the parsers look up).
fn key_of(object: &Map<String, Value>, key: &str) -> Option<String> {
    if object.contains_key(key) {
        return Some(key.to_owned());
    }
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// The object holding the last key of `path` (keys looked up ignoring case), created if absent.
fn parent_mut<'a>(root: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let (_, parents) = path.split_last()?;
    let mut node = root;
    for step in parents {
        let object = node.as_object_mut()?;
        let key = key_of(object, step)?;
        node = object.get_mut(&key)?;
    }
    node.as_object_mut()
}

/// Sets (`Some`) or removes (`None`) the member at `path`; false when its parent is missing.
fn set(root: &mut Value, path: &[&str], value: Option<Value>) -> bool {
    let last = path[path.len() - 1];
    let Some(parent) = parent_mut(root, path) else {
        return false;
    };
    let existing = key_of(parent, last);
    if let Some(key) = &existing {
        parent.remove(key);
    }
    if let Some(value) = value {
        parent.insert(existing.unwrap_or_else(|| last.to_owned()), value);
    }
    true
}

fn get<'a>(root: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(root, |node, step| {
        let object = node.as_object()?;
        object.get(&key_of(object, step)?)
    })
}

/// One thing changed in a seed, and what the class must get.
#[derive(Debug, Clone)]
enum Case {
    /// Keys re-cased (anywhere) and unknown members added: still accepted.
    Lenient {
        bits: Vec<u64>,
        extra: Vec<(String, Value)>,
    },
    /// The top-level `type` re-cased: still accepted.
    TypeRecased(u64),
    Truncated(usize),
    InvalidUtf8 {
        at: usize,
        bytes: Vec<u8>,
    },
    NotAnObject(Value),
    /// A required member dropped or `null`.
    Required {
        path: &'static str,
        null: bool,
    },
    /// A string or object member given a value of another JSON type.
    Retyped {
        path: &'static str,
        value: Value,
    },
    UnknownEvent(String),
    OtherEvent(usize),
    DataTypeMismatch(String),
    /// Optional members dropped or `null`: still accepted.
    Optional {
        path: &'static str,
        null: bool,
    },
    /// Nesting in an unknown member, within (Ok) or beyond (NotJson) serde_json's 128 levels.
    Nested(usize),
    HugeString(usize),
    /// Event-specific: an empty required string.
    Empty(&'static str),
}

/// Members every event requires, as dotted paths.
const REQUIRED: [&str; 5] = [
    "type",
    "data",
    "data.tenantId",
    "data.authenticationContext",
    "data.authenticationContext.correlationId",
];

/// Optional string (s) and object (o) members of the envelope and the events.
const OPTIONAL: [&str; 8] = [
    "source",
    "data.@odata.type",
    "data.authenticationEventListenerId",
    "data.customAuthenticationExtensionId",
    "data.authenticationContext.protocol",
    "data.authenticationContext.client",
    "data.authenticationContext.clientServicePrincipal",
    "data.userSignUpInfo",
];

const RETYPED: [&str; 17] = [
    "type",
    "source",
    "data",
    "data.@odata.type",
    "data.tenantId",
    "data.authenticationEventListenerId",
    "data.customAuthenticationExtensionId",
    "data.authenticationContext",
    "data.authenticationContext.correlationId",
    "data.authenticationContext.protocol",
    "data.authenticationContext.client.ip",
    "data.authenticationContext.clientServicePrincipal",
    "data.authenticationContext.user",
    "data.otpContext",
    "data.encryptedPasswordContext",
    "data.userSignUpInfo",
    "data.userSignUpInfo.identities",
];

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => (
            proptest::collection::vec(any::<u64>(), 0..64),
            proptest::collection::vec(("x_[a-z]{1,8}", arb_json()), 0..4),
        )
            .prop_map(|(bits, extra)| Case::Lenient { bits, extra }),
        1 => any::<u64>().prop_map(Case::TypeRecased),
        2 => any::<usize>().prop_map(Case::Truncated),
        1 => (any::<usize>(), select(vec![
            vec![0xffu8], vec![0xc0, 0x80], vec![0xed, 0xa0, 0x80], vec![0xe2, 0x82], vec![0xf8, 0x88, 0x80, 0x80, 0x80],
        ])).prop_map(|(at, bytes)| Case::InvalidUtf8 { at, bytes }),
        1 => arb_json().prop_filter("not an object", |v| !v.is_object()).prop_map(Case::NotAnObject),
        3 => (select(REQUIRED.to_vec()), any::<bool>()).prop_map(|(path, null)| Case::Required { path, null }),
        4 => (select(RETYPED.to_vec()), arb_json()).prop_map(|(path, value)| Case::Retyped { path, value }),
        2 => ".{0,200}".prop_map(Case::UnknownEvent),
        2 => (0usize..5).prop_map(Case::OtherEvent),
        2 => ".{0,200}".prop_map(Case::DataTypeMismatch),
        2 => (select(OPTIONAL.to_vec()), any::<bool>()).prop_map(|(path, null)| Case::Optional { path, null }),
        1 => prop_oneof![1usize..=126, 127usize..5000].prop_map(Case::Nested),
        1 => (0usize..(1 << 20)).prop_map(Case::HugeString),
        1 => select(vec![
            "data.otpContext.identifier",
            "data.otpContext.oneTimeCode",
            "data.encryptedPasswordContext",
        ]).prop_map(Case::Empty),
    ]
}

fn invalid(field: &'static str, problem: &str) -> CalloutError {
    CalloutError::InvalidField {
        field,
        problem: problem.into(),
    }
}

/// The verdict of the typed parser of `kind` for `value` at `path` of a valid seed, `None` when
/// the seed has no place for it (the case then says nothing).
fn retyped_verdict(
    kind: EventKind,
    path: &'static str,
    value: &Value,
) -> Option<Result<(), CalloutError>> {
    let object_member = matches!(
        path,
        "data"
            | "data.authenticationContext"
            | "data.authenticationContext.clientServicePrincipal"
            | "data.authenticationContext.user"
            | "data.otpContext"
            | "data.userSignUpInfo"
    );
    let event_member = match path {
        "data.authenticationContext.user" => {
            Some(&[EventKind::TokenIssuanceStart, EventKind::PasswordSubmit][..])
        }
        "data.otpContext" => Some(&[EventKind::EmailOtpSend][..]),
        "data.encryptedPasswordContext" => Some(&[EventKind::PasswordSubmit][..]),
        "data.userSignUpInfo" | "data.userSignUpInfo.identities" => Some(
            &[
                EventKind::AttributeCollectionStart,
                EventKind::AttributeCollectionSubmit,
            ][..],
        ),
        _ => None,
    };
    if event_member.is_some_and(|kinds| !kinds.contains(&kind)) {
        // Another event's member is an unknown member here.
        return Some(Ok(()));
    }
    if path == "data.userSignUpInfo.identities" {
        return Some(match value {
            Value::Null => Ok(()),
            Value::Array(items) if items.iter().all(|i| i.is_object() || i.is_null()) => Ok(()),
            Value::Array(_) => Err(invalid(path, "every identity must be an object")),
            _ => Err(invalid(path, "must be an array")),
        });
    }
    if object_member {
        return match value {
            // A replaced object: only absence and type are judged here.
            Value::Object(_) => None,
            Value::Null => match path {
                "data" | "data.authenticationContext" | "data.otpContext" => {
                    Some(Err(CalloutError::MissingField(path)))
                }
                _ => Some(Ok(())),
            },
            _ => Some(Err(invalid(path, "must be an object"))),
        };
    }
    // String members.
    match value {
        Value::String(text) => match path {
            "type" | "data.@odata.type" | "data.encryptedPasswordContext" => None,
            _ if text.is_empty() => None,
            _ => Some(Ok(())),
        },
        Value::Null => match path {
            "type" | "data.tenantId" | "data.authenticationContext.correlationId" => {
                Some(Err(CalloutError::MissingField(path)))
            }
            "data.encryptedPasswordContext" => Some(Err(CalloutError::MissingField(path))),
            _ => Some(Ok(())),
        },
        _ => Some(Err(invalid(path, "must be a string"))),
    }
}

/// Applies `case` to `seed`; the body and the verdict of the seed event's typed parser (`None`:
/// not judged, only the shared invariants apply).
fn build(seed: &Seed, case: &Case) -> (Vec<u8>, Option<Result<(), CalloutError>>) {
    let kind = seed.kind;
    let mut json = seed.json.clone();
    let to_body = |json: &Value| serde_json::to_vec(json).unwrap();
    let verdict = match case {
        Case::Lenient { bits, extra } => {
            recase_keys(&mut json, bits, &mut 0);
            if let Some(data) = json.as_object_mut() {
                data.extend(extra.iter().cloned());
            }
            Some(Ok(()))
        }
        Case::TypeRecased(bits) => {
            set(
                &mut json,
                &["type"],
                Some(json!(recase(kind.request_type(), *bits))),
            );
            Some(Ok(()))
        }
        Case::Truncated(at) => {
            // Cut before the closing brace: never a complete JSON text.
            let end = seed.bytes.iter().rposition(|b| *b == b'}').unwrap();
            let body = seed.bytes[..at % end].to_vec();
            return (body, Some(Err(not_json())));
        }
        Case::InvalidUtf8 { at, bytes } => {
            // Right after a quote: inside a string (not UTF-8) or outside one (not JSON).
            let quotes: Vec<usize> = seed
                .bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'"')
                .map(|(i, _)| i)
                .collect();
            let at = quotes[at % quotes.len()] + 1;
            let mut body = seed.bytes.clone();
            body.splice(at..at, bytes.iter().copied());
            return (body, Some(Err(not_json())));
        }
        Case::NotAnObject(value) => return (to_body(value), Some(Err(CalloutError::NotAnObject))),
        Case::Required { path, null } => {
            let steps: Vec<&str> = split(path);
            set(&mut json, &steps, null.then_some(Value::Null));
            Some(Err(CalloutError::MissingField(path)))
        }
        Case::Retyped { path, value } => {
            // A member the seed lacks is added; it is judged the same way where it is known.
            if !set(&mut json, &split(path), Some(value.clone())) {
                return (to_body(&json), None);
            }
            retyped_verdict(kind, path, value)
        }
        Case::UnknownEvent(name) => {
            if EventKind::from_request_type(name).is_some() {
                return (to_body(&json), None);
            }
            set(&mut json, &["type"], Some(json!(name)));
            Some(Err(CalloutError::UnknownEventType(
                name.chars().take(120).collect(),
            )))
        }
        Case::OtherEvent(index) => {
            let other = EventKind::ALL[*index];
            set(&mut json, &["type"], Some(json!(other.request_type())));
            if other == kind {
                Some(Ok(()))
            } else if let Some(found) = get(&json, &["data", "@odata.type"]).and_then(Value::as_str)
            {
                // The seed's own `@odata.type` now contradicts the event named.
                Some(Err(CalloutError::DataTypeMismatch {
                    kind: other,
                    expected: other.callout_data_type(),
                    found: found.chars().take(120).collect(),
                }))
            } else {
                Some(Err(CalloutError::WrongEvent {
                    expected: kind,
                    received: other,
                }))
            }
        }
        Case::DataTypeMismatch(found) => {
            set(&mut json, &["data", "@odata.type"], Some(json!(found)));
            if found.eq_ignore_ascii_case(kind.callout_data_type()) {
                Some(Ok(()))
            } else {
                Some(Err(CalloutError::DataTypeMismatch {
                    kind,
                    expected: kind.callout_data_type(),
                    found: found.chars().take(120).collect(),
                }))
            }
        }
        Case::Optional { path, null } => {
            set(&mut json, &split(path), null.then_some(Value::Null));
            Some(Ok(()))
        }
        Case::Nested(depth) => {
            let mut body = to_body(&json);
            let nest = format!(",\"x_nest\":{}{}}}", "[".repeat(*depth), "]".repeat(*depth));
            let end = body.iter().rposition(|b| *b == b'}').unwrap();
            body.splice(end.., nest.into_bytes());
            // serde_json fails on its 128th level; the root object is the first.
            let verdict = if *depth < 127 {
                Ok(())
            } else {
                Err(not_json())
            };
            return (body, Some(verdict));
        }
        Case::HugeString(len) => {
            set(&mut json, &["x_huge"], Some(json!("é".repeat(*len / 2))));
            Some(Ok(()))
        }
        Case::Empty(path) => {
            let steps = split(path);
            if get(&json, &steps).is_none() {
                return (to_body(&json), None);
            }
            set(&mut json, &steps, Some(json!("")));
            let field: &'static str = path;
            Some(Err(invalid(field, "must not be empty")))
        }
    };
    (to_body(&json), verdict)
}

fn not_json() -> CalloutError {
    CalloutError::NotJson(String::new())
}

fn split(path: &'static str) -> Vec<&'static str> {
    // `@odata.type` is one key.
    match path {
        "data.@odata.type" => vec!["data", "@odata.type"],
        _ => path.split('.').collect(),
    }
}

/// Flips the ASCII case of keys, one `u64` of bits per key in document order (cycling).
fn recase_keys(value: &mut Value, bits: &[u64], counter: &mut usize) {
    match value {
        Value::Object(map) => {
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut child) in entries {
                recase_keys(&mut child, bits, counter);
                let new_key = if bits.is_empty() {
                    key
                } else {
                    *counter += 1;
                    recase(&key, bits[*counter % bits.len()])
                };
                // Two keys that differ only in case (none in the seeds) would collide: keep both.
                if map.contains_key(&new_key) {
                    map.insert(new_key.to_ascii_lowercase() + "_", child);
                } else {
                    map.insert(new_key, child);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| recase_keys(item, bits, counter)),
        _ => {}
    }
}

/// `NotJson` carries serde's message; the class is what is asserted.
fn same_class(got: &Result<(), CalloutError>, expected: &Result<(), CalloutError>) -> bool {
    match (got, expected) {
        (Err(CalloutError::NotJson(_)), Err(CalloutError::NotJson(_))) => true,
        _ => got == expected,
    }
}

#[test]
fn structured_callouts_get_the_documented_error_per_class() {
    let seeds = seeds();
    run(
        "callouts: structured classes",
        file!(),
        256,
        (select(seeds), case()),
        |(seed, case)| {
            let (body, expected) = build(&seed, &case);
            let got = parse_all(seed.kind, &body)?.map(|_| ());
            if let Some(expected) = expected {
                prop_assert!(
                    same_class(&got, &expected),
                    "{} {}: got {:?}, expected {:?}",
                    seed.name,
                    brief(&case),
                    got.as_ref().map_err(brief),
                    expected.as_ref().map_err(brief),
                );
                if let Err(error) = &got {
                    prop_assert_eq!(error.code(), expected.unwrap_err().code());
                }
            }
            Ok(())
        },
    );
}

#[test]
fn byte_mutations_never_panic_and_parsers_agree() {
    let seeds = seeds();
    run(
        "callouts: raw byte mutations",
        file!(),
        256,
        (select(seeds), byte_edits()),
        |(seed, edits)| {
            let body = apply_bytes(&seed.bytes, &edits);
            let _verdict = parse_all(seed.kind, &body)?;
            Ok(())
        },
    );
}

#[test]
fn json_mutations_never_panic_and_parsers_agree() {
    let seeds = seeds();
    run(
        "callouts: JSON mutations",
        file!(),
        256,
        (select(seeds), json_edits()),
        |(seed, edits)| {
            let body = serde_json::to_vec(&apply_json(&seed.json, &edits)).unwrap();
            let _verdict = parse_all(seed.kind, &body)?;
            Ok(())
        },
    );
}
