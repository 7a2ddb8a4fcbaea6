//! Property-based fuzzing of the notification payload parsers (issue #10 item 4, FUZZING.md):
//! `NotificationBatch::parse` (wire), `DecryptionKeys::decrypt_json` (rich notifications) and
//! `handshake::validation_token` (the validation handshake's query string).
//!
//! Batches are seeded from Graph's examples in `tests/vectors/change-notifications`; every item is
//! judged alone (a bad item never takes a good one down), and a body that is not a JSON object
//! with a `value` array is refused. Encrypted content is sealed here the way Graph seals it and
//! then broken one check at a time; each class must get exactly its `DecryptError`.

use std::path::PathBuf;
use std::sync::OnceLock;

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{KeySize, OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PrivateDecryptingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use entra_fuzzing::mutate::{apply_bytes, apply_json, arb_json, byte_edits, json_edits};
use entra_fuzzing::{MemoryBound, bounded, brief, run};
use entra_notifications::decrypt::{DecryptError, DecryptionKeys};
use entra_notifications::handshake::validation_token;
use entra_notifications::wire::{BatchError, EncryptedContent, Item, NotificationBatch};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

entra_fuzzing::counting_allocator!();

const MEMORY: MemoryBound = MemoryBound {
    per_input_byte: 128,
    fixed: 64 * 1024,
};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/change-notifications")
}

fn vector(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(vectors().join(name)).unwrap()).unwrap()
}

/// The notification batches among the vectors.
fn batch_seeds() -> Vec<Value> {
    ["notification.basic.json", "notification.lifecycle.json"]
        .iter()
        .map(|name| vector(name))
        .chain(std::iter::once(json!({
            "value": [vector("generated-vector.json")["encryptedContent"].clone()],
            "validationTokens": ["eyJ0eXAiOiJKV1QifQ.e30.c2ln"],
        })))
        .collect()
}

/// What one item must become, judged from its JSON the way the documentation states it.
fn classify(item: &Value) -> &'static str {
    let Some(object) = item.as_object() else {
        return "malformed";
    };
    let text = |key: &str| object.get(key).is_some_and(Value::is_string);
    let optional_text = |key: &str| object.get(key).is_none_or(|v| v.is_null() || v.is_string());
    if object.contains_key("lifecycleEvent") {
        let ok = text("subscriptionId")
            && text("lifecycleEvent")
            && ["subscriptionExpirationDateTime", "tenantId", "clientState"]
                .iter()
                .all(|k| optional_text(k));
        return if ok { "lifecycle" } else { "malformed" };
    }
    let change_type = object
        .get("changeType")
        .and_then(Value::as_str)
        .is_some_and(|c| ["created", "updated", "deleted"].contains(&c));
    let null_or_text = |v: &Value| v.is_null() || v.is_string();
    // serde reads a struct from an array too, member by member in declaration order.
    let resource_data_ok = match object.get("resourceData") {
        None | Some(Value::Null) => true,
        Some(Value::Object(data)) => ["@odata.type", "@odata.id", "id", "eventTime"]
            .iter()
            .all(|k| data.get(*k).is_none_or(null_or_text)),
        Some(Value::Array(items)) => items.len() <= 5 && items.iter().take(4).all(null_or_text),
        Some(_) => false,
    };
    let encrypted_ok = match object.get("encryptedContent") {
        None | Some(Value::Null) => true,
        Some(Value::Object(content)) => {
            [
                "data",
                "dataSignature",
                "dataKey",
                "encryptionCertificateId",
            ]
            .iter()
            .all(|k| content.get(*k).is_some_and(Value::is_string))
                && content
                    .get("encryptionCertificateThumbprint")
                    .is_none_or(null_or_text)
        }
        Some(Value::Array(items)) => {
            (4..=5).contains(&items.len())
                && items.iter().take(4).all(Value::is_string)
                && items.get(4).is_none_or(null_or_text)
        }
        Some(_) => false,
    };
    let ok = text("subscriptionId")
        && change_type
        && text("resource")
        && [
            "id",
            "subscriptionExpirationDateTime",
            "clientState",
            "tenantId",
        ]
        .iter()
        .all(|k| optional_text(k))
        && resource_data_ok
        && encrypted_ok;
    if ok { "change" } else { "malformed" }
}

/// Nesting levels of arrays and objects.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::Change(_) => "change",
        Item::Lifecycle(_) => "lifecycle",
        Item::Malformed(_) => "malformed",
    }
}

fn parse(body: &[u8]) -> Result<Result<NotificationBatch, BatchError>, TestCaseError> {
    bounded(body.len(), MEMORY, || NotificationBatch::parse(body))
}

/// Items a fuzzer would send: the seeds' items with edits, and anything at all.
fn items() -> impl Strategy<Value = Vec<Value>> {
    let seed_items: Vec<Value> = batch_seeds()
        .iter()
        .flat_map(|batch| batch["value"].as_array().unwrap().clone())
        .collect();
    let item = prop_oneof![
        3 => select(seed_items.clone()),
        4 => (select(seed_items), json_edits()).prop_map(|(item, edits)| apply_json(&item, &edits)),
        1 => arb_json(),
    ];
    proptest::collection::vec(item, 0..6)
}

#[test]
fn every_item_is_judged_alone_by_its_documented_shape() {
    run(
        "notifications: batch items",
        file!(),
        256,
        (items(), proptest::collection::vec(arb_json(), 0..3)),
        |(items, tokens)| {
            let body =
                serde_json::to_vec(&json!({"value": items, "validationTokens": tokens})).unwrap();
            let depth = 2 + items.iter().chain(&tokens).map(depth).max().unwrap_or(0);
            let got = parse(&body)?;
            if depth > 127 {
                // serde_json's nesting limit (128 levels) stops the whole body.
                prop_assert!(matches!(got, Err(BatchError::NotJson(_))));
                return Ok(());
            }
            let batch = got.expect("a JSON object with a value array is a batch");
            prop_assert_eq!(batch.items.len(), items.len());
            for (item, parsed) in items.iter().zip(&batch.items) {
                prop_assert_eq!(kind(parsed), classify(item), "item {}", brief(item));
            }
            let strings: Vec<String> = tokens
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            prop_assert_eq!(batch.validation_tokens, strings);
            Ok(())
        },
    );
}

#[test]
fn bodies_that_are_not_a_batch_are_refused() {
    run(
        "notifications: non-batch bodies",
        file!(),
        256,
        prop_oneof![
            // Not an object (an object is wrapped in an array).
            arb_json().prop_map(|v| if v.is_object() {
                (json!([v]), true)
            } else {
                (v, true)
            }),
            // An object without a `value` array (or with `value: null`).
            (arb_json(), any::<bool>()).prop_map(|(v, null)| {
                let mut object = match v {
                    Value::Object(object) => object,
                    other => [("other".to_owned(), other)].into_iter().collect(),
                };
                object.remove("value");
                object.remove("validationTokens");
                if null {
                    object.insert("value".into(), Value::Null);
                }
                (Value::Object(object), false)
            }),
        ],
        |(body, not_an_object)| {
            let text = serde_json::to_vec(&body).unwrap();
            let got = parse(&text)?;
            // Not an object: no batch at all (serde could read a struct from an array).
            prop_assert!(
                got.is_err(),
                "accepted {} (not an object: {})",
                brief(&body),
                not_an_object
            );
            if !not_an_object {
                prop_assert!(matches!(got, Err(BatchError::NoValue)));
            }
            Ok(())
        },
    );
}

#[test]
fn mutated_bodies_never_panic() {
    let seeds: Vec<Vec<u8>> = batch_seeds()
        .iter()
        .map(|b| serde_json::to_vec(b).unwrap())
        .collect();
    run(
        "notifications: raw byte mutations",
        file!(),
        256,
        (select(seeds), byte_edits()),
        |(seed, edits)| {
            let body = apply_bytes(&seed, &edits);
            if let Err(error) = parse(&body)? {
                prop_assert!(error.to_string().len() < 300);
            }
            Ok(())
        },
    );
}

struct Keys {
    keys: DecryptionKeys,
    public: OaepPublicEncryptingKey,
}

const CERTIFICATE_ID: &str = "fuzz-certificate";

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<Pkcs8V1Der>::as_der(&key).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let mut keys = DecryptionKeys::new();
        keys.insert_pem(CERTIFICATE_ID, &pem).unwrap();
        Keys {
            public: OaepPublicEncryptingKey::new(key.public_key()).unwrap(),
            keys,
        }
    })
}

/// Signs `data` and wraps `symmetric` as Graph does (`data` already encrypted, or not).
fn seal_raw(symmetric: &[u8], data: &[u8]) -> EncryptedContent {
    let public = &keys().public;
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA1_MGF1SHA1, symmetric, &mut wrapped, None)
        .unwrap();
    let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, symmetric), data);
    EncryptedContent {
        data: STANDARD.encode(data),
        data_signature: STANDARD.encode(signature.as_ref()),
        data_key: STANDARD.encode(wrapped),
        encryption_certificate_id: CERTIFICATE_ID.to_owned(),
        encryption_certificate_thumbprint: None,
    }
}

/// AES-256-CBC with IV = key[0..16] and PKCS#7, then [`seal_raw`].
fn seal(symmetric: &[u8; 32], plaintext: &[u8]) -> EncryptedContent {
    let cipher =
        PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, symmetric).unwrap())
            .unwrap();
    let iv: [u8; 16] = symmetric[..16].try_into().unwrap();
    let mut data = plaintext.to_vec();
    cipher
        .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap();
    seal_raw(symmetric, &data)
}

#[derive(Debug, Clone)]
enum Sealed {
    Genuine {
        resource: Value,
        thumbprint: Option<String>,
    },
    UnknownCertificate(String),
    NotBase64 {
        field: usize,
        junk: String,
    },
    KeyUnwrap(Vec<u8>),
    KeyLength(usize),
    SignatureMismatch(Vec<u8>),
    /// Ciphertext that is not whole blocks, signed correctly.
    Padding(Vec<u8>),
    NotUtf8(Vec<u8>),
    NotJson(String),
}

fn sealed() -> impl Strategy<Value = Sealed> {
    prop_oneof![
        3 => (arb_json(), proptest::option::of("[0-9A-Fa-f]{0,40}"))
            .prop_map(|(resource, thumbprint)| Sealed::Genuine { resource, thumbprint }),
        1 => ".{0,40}".prop_filter("not ours", |id| id != CERTIFICATE_ID).prop_map(Sealed::UnknownCertificate),
        2 => (0usize..3, "[^A-Za-z0-9+/= \t\r\n]{1,3}").prop_map(|(field, junk)| Sealed::NotBase64 { field, junk }),
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Sealed::KeyUnwrap),
        1 => (0usize..150).prop_filter("not 32", |n| *n != 32).prop_map(Sealed::KeyLength),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Sealed::SignatureMismatch),
        1 => proptest::collection::vec(any::<u8>(), 1..100)
            .prop_filter("not whole blocks", |d| d.len() % 16 != 0)
            .prop_map(Sealed::Padding),
        1 => proptest::collection::vec(any::<u8>(), 1..64)
            .prop_filter("not UTF-8", |b| std::str::from_utf8(b).is_err())
            .prop_map(Sealed::NotUtf8),
        1 => "[^\\[{\"0-9tfn -]{1,20}".prop_map(Sealed::NotJson),
    ]
}

fn build(case: &Sealed, symmetric: &[u8; 32]) -> (EncryptedContent, Result<Value, DecryptError>) {
    let genuine = json!({"id": "a3d1c8e2", "displayName": "Casey"});
    match case {
        Sealed::Genuine {
            resource,
            thumbprint,
        } => {
            let text = resource.to_string();
            let mut content = seal(symmetric, text.as_bytes());
            // Without a certificate we cannot cross-check, so any thumbprint is taken as is.
            content.encryption_certificate_thumbprint = thumbprint.clone();
            // What serde_json reads back from that text (floats need not round-trip exactly).
            (content, Ok(serde_json::from_str(&text).unwrap()))
        }
        Sealed::UnknownCertificate(id) => {
            let mut content = seal(symmetric, genuine.to_string().as_bytes());
            content.encryption_certificate_id = id.clone();
            (content, Err(DecryptError::UnknownCertificate(id.clone())))
        }
        Sealed::NotBase64 { field, junk } => {
            let mut content = seal(symmetric, genuine.to_string().as_bytes());
            let (text, name) = match field {
                0 => (&mut content.data, "data"),
                1 => (&mut content.data_signature, "dataSignature"),
                _ => (&mut content.data_key, "dataKey"),
            };
            let middle = text.len() / 2;
            text.insert_str(middle, junk);
            (content, Err(DecryptError::NotBase64(name)))
        }
        Sealed::KeyUnwrap(bytes) => {
            let mut content = seal(symmetric, genuine.to_string().as_bytes());
            content.data_key = STANDARD.encode(bytes);
            (content, Err(DecryptError::KeyUnwrap))
        }
        Sealed::KeyLength(len) => {
            let short = vec![9u8; *len];
            let content = seal_raw(&short, b"0123456789abcdef");
            (content, Err(DecryptError::KeyLength(*len)))
        }
        Sealed::SignatureMismatch(bytes) => {
            let mut content = seal(symmetric, genuine.to_string().as_bytes());
            content.data_signature = STANDARD.encode(bytes);
            (content, Err(DecryptError::SignatureMismatch))
        }
        Sealed::Padding(data) => (seal_raw(symmetric, data), Err(DecryptError::Padding)),
        Sealed::NotUtf8(bytes) => (seal(symmetric, bytes), Err(DecryptError::NotUtf8)),
        Sealed::NotJson(text) => (
            seal(symmetric, text.as_bytes()),
            Err(DecryptError::NotJson(String::new())),
        ),
    }
}

#[test]
fn sealed_content_gets_the_documented_error_per_class() {
    run(
        "notifications: rich-notification decryption",
        file!(),
        64,
        (sealed(), any::<[u8; 32]>()),
        |(case, symmetric)| {
            let (content, expected) = build(&case, &symmetric);
            let size = content.data.len() + content.data_key.len() + content.data_signature.len();
            let got = bounded(size, MEMORY, || keys().keys.decrypt_json(&content))?;
            match (&got, &expected) {
                (Err(DecryptError::NotJson(_)), Err(DecryptError::NotJson(_))) => {}
                _ => prop_assert_eq!(&got, &expected, "{}", brief(&case)),
            }
            Ok(())
        },
    );
}

#[test]
fn mutated_content_never_decrypts_to_something_else() {
    let resource = json!({"id": "a3d1c8e2", "displayName": "Casey"});
    let content = seal(&[7u8; 32], resource.to_string().as_bytes());
    let seed = serde_json::to_value(&content).unwrap();
    run(
        "notifications: encrypted content mutations",
        file!(),
        64,
        prop_oneof![json_edits().prop_map(move |edits| apply_json(&seed, &edits)),],
        |mutated| {
            let Ok(content) = serde_json::from_value::<EncryptedContent>(mutated) else {
                return Ok(());
            };
            let size = content.data.len() + content.data_key.len() + content.data_signature.len();
            if let Ok(value) = bounded(size, MEMORY, || keys().keys.decrypt_json(&content))? {
                // HMAC over the data with the wrapped key: only the genuine resource comes out.
                prop_assert_eq!(value, resource.clone());
            }
            Ok(())
        },
    );
}

#[test]
fn validation_tokens_decode_exactly_once() {
    run(
        "notifications: validation handshake",
        file!(),
        256,
        (
            ".{0,200}",
            proptest::collection::vec(("[a-zA-Z]{1,8}", ".{0,20}"), 0..3),
            proptest::collection::vec(any::<u8>(), 0..200),
        ),
        |(token, others, junk)| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &others {
                if name != "validationToken" {
                    query.append_pair(name, value);
                }
            }
            query.append_pair("validationToken", &token);
            let query = query.finish();
            let got = bounded(query.len(), MEMORY, || validation_token(Some(&query)))?;
            prop_assert_eq!(got.as_deref(), Some(token.as_str()));
            // Anything at all: no panic, and a token only when the parameter is there.
            let junk = String::from_utf8_lossy(&junk);
            let got = validation_token(Some(&junk));
            if !junk.contains("validationToken") && !junk.contains(['%', '+']) {
                prop_assert_eq!(got, None);
            }
            Ok(())
        },
    );
}
