//! Property-based fuzzing of the password-submit JWE (`encryptedPasswordContext`) through
//! `PasswordContextDecryptor::decrypt` (issue #10 item 4, FUZZING.md).
//!
//! JWEs are made the way Entra makes them (`entra_sandbox::password_context`) for a key generated
//! here, then changed one segment or one plaintext claim at a time; each class must get exactly the
//! documented `PasswordContextError`. Raw byte mutations of genuine JWEs must never decrypt (the
//! JWE is authenticated), never panic, and allocate within a bound proportional to the input.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_fuzzing::mutate::{apply_bytes, arb_json, byte_edits};
use entra_fuzzing::{MemoryBound, bounded, brief, run};
use entra_platform::SecretValue;
use entra_sandbox::password_context::{
    ContentEncryption, KeyManagement, PasswordContextKey, encrypt_jwe, unsigned_jwt,
};
use password_submit::{PasswordContextDecryptor, PasswordContextError};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

entra_fuzzing::counting_allocator!();

const MEMORY: MemoryBound = MemoryBound {
    per_input_byte: 64,
    fixed: 64 * 1024,
};

struct Keys {
    ours: PasswordContextKey,
    other: PasswordContextKey,
    decryptor: PasswordContextDecryptor,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ours = PasswordContextKey::generate().unwrap();
        let decryptor =
            PasswordContextDecryptor::from_pem(&SecretValue::new(ours.private_key_pem())).unwrap();
        Keys {
            other: PasswordContextKey::generate().unwrap(),
            ours,
            decryptor,
        }
    })
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decrypt(
    jwe: &str,
) -> Result<Result<(String, String, String), PasswordContextError>, TestCaseError> {
    let keys = keys();
    bounded(jwe.len(), MEMORY, || {
        keys.decryptor.decrypt(jwe).map(|context| {
            (
                context.username().to_owned(),
                context.password().expose().to_owned(),
                context.nonce().to_owned(),
            )
        })
    })
}

fn algs() -> impl Strategy<Value = (KeyManagement, ContentEncryption)> {
    (
        select(KeyManagement::ACCEPTED.to_vec()),
        select(ContentEncryption::ALL.to_vec()),
    )
}

/// The claims of a genuine plaintext.
#[derive(Debug, Clone)]
struct Claims {
    username: String,
    password: String,
    nonce: String,
    extra: Vec<(String, Value)>,
}

fn claims() -> impl Strategy<Value = Claims> {
    (
        ".{0,40}".prop_filter("not blank", |u| !u.trim().is_empty()),
        ".{0,64}",
        "[0-9a-f-]{1,36}",
        proptest::collection::vec(("x_[a-z]{1,8}", arb_json()), 0..3),
    )
        .prop_map(|(username, password, nonce, extra)| Claims {
            username,
            password,
            nonce,
            extra,
        })
}

impl Claims {
    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("user-password".into(), json!(self.password));
        map.insert("username".into(), json!(self.username));
        map.insert("nonce".into(), json!(self.nonce));
        map.extend(self.extra.iter().cloned());
        map
    }
}

/// How the claims are wrapped in the plaintext: all three forms are accepted.
#[derive(Debug, Clone, Copy)]
enum Wrapping {
    UnsignedJwt,
    SignedJwt,
    BareJson,
}

fn wrap(claims: &Map<String, Value>, wrapping: Wrapping) -> String {
    let object = Value::Object(claims.clone());
    match wrapping {
        Wrapping::UnsignedJwt => unsigned_jwt(&object),
        Wrapping::SignedJwt => format!("{}c2lnbmF0dXJl", unsigned_jwt(&object)),
        Wrapping::BareJson => format!("  {object}\n"),
    }
}

fn seal(
    alg: KeyManagement,
    enc: ContentEncryption,
    header: &Map<String, Value>,
    plaintext: &[u8],
) -> String {
    encrypt_jwe(keys().ours.certificate_pem(), alg, enc, header, plaintext).unwrap()
}

/// One class of `encryptedPasswordContext` and the verdict it must get.
#[derive(Debug, Clone)]
enum Case {
    Genuine {
        claims: Claims,
        wrapping: Wrapping,
        header: Vec<(String, Value)>,
    },
    Parts(usize),
    HeaderNotBase64(String),
    HeaderNotObject(Value),
    HeaderMember {
        name: &'static str,
        value: Value,
    },
    /// A segment that is not base64url (1 key, 2 IV, 3 ciphertext, 4 tag).
    SegmentNotBase64 {
        segment: usize,
        junk: String,
    },
    IvLength(usize),
    TagLength(usize),
    /// One bit flipped in a segment (0 header, 1 key, 2 IV, 3 ciphertext, 4 tag); a flipped
    /// header that still parses fails the authentication like the rest.
    BitFlip {
        segment: usize,
        at: usize,
        bit: u8,
    },
    WrongRecipient,
    KeyLength(usize),
    Plaintext(Plaintext),
}

#[derive(Debug, Clone)]
enum Plaintext {
    NotUtf8(Vec<u8>),
    NotJwtNorJson(String),
    TooManyParts(usize),
    JwtHeader(String),
    JwtPayload(String),
    ClaimsNotObject(Value),
    Missing(&'static str),
    Retyped(&'static str, Value),
    Blank(&'static str, String),
}

fn plaintext() -> impl Strategy<Value = Plaintext> {
    let claim = || select(vec!["user-password", "username", "nonce"]);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..64)
            .prop_filter("not UTF-8", |b| std::str::from_utf8(b).is_err())
            .prop_map(Plaintext::NotUtf8),
        "[^.{ \t\n\r]{0,40}".prop_map(Plaintext::NotJwtNorJson),
        (4usize..9).prop_map(Plaintext::TooManyParts),
        prop_oneof![
            "[^.{]*[^A-Za-z0-9_.{-][^.{]*",
            arb_json()
                .prop_filter("not an object", |v| !v.is_object())
                .prop_map(|v| b64(v.to_string())),
        ]
        .prop_map(Plaintext::JwtHeader),
        "[^.]*[^A-Za-z0-9_.-][^.]*".prop_map(Plaintext::JwtPayload),
        arb_json()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(Plaintext::ClaimsNotObject),
        claim().prop_map(Plaintext::Missing),
        (
            claim(),
            arb_json().prop_filter("not a string", |v| !v.is_string())
        )
            .prop_map(|(c, v)| Plaintext::Retyped(c, v)),
        (select(vec!["username", "nonce"]), "[ \t\n\r]{0,4}")
            .prop_map(|(c, blank)| Plaintext::Blank(c, blank)),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        4 => (
            claims(),
            select(vec![Wrapping::UnsignedJwt, Wrapping::SignedJwt, Wrapping::BareJson]),
            proptest::collection::vec(("(x_[a-z]{1,8}|kid|cty|typ)", arb_json()), 0..3),
        )
            .prop_map(|(claims, wrapping, header)| Case::Genuine { claims, wrapping, header }),
        1 => select(vec![1usize, 2, 3, 4, 6, 7, 10]).prop_map(Case::Parts),
        1 => "[^A-Za-z0-9_.-]{1,4}".prop_map(Case::HeaderNotBase64),
        1 => arb_json().prop_filter("not an object", |v| !v.is_object()).prop_map(Case::HeaderNotObject),
        3 => (
            select(vec!["alg", "enc", "zip", "crit"]),
            prop_oneof![
                arb_json(),
                select(vec!["RSA1_5", "dir", "RSA-OAEP-384", "A192GCM", "rsa-oaep", "a256gcm", "DEF", ""])
                    .prop_map(|s| json!(s)),
            ],
        )
            .prop_map(|(name, value)| Case::HeaderMember { name, value }),
        2 => (1usize..5, "[^A-Za-z0-9_.-]{1,3}").prop_map(|(segment, junk)| Case::SegmentNotBase64 { segment, junk }),
        1 => (0usize..64).prop_filter("wrong", |n| *n != 12 && *n != 16).prop_map(Case::IvLength),
        1 => (0usize..64).prop_filter("wrong", |n| *n != 16 && *n != 32).prop_map(Case::TagLength),
        3 => (0usize..5, any::<usize>(), 0u8..8).prop_map(|(segment, at, bit)| Case::BitFlip { segment, at, bit }),
        1 => Just(Case::WrongRecipient),
        1 => (0usize..600).prop_filter("wrong", |n| *n != 256).prop_map(Case::KeyLength),
        5 => plaintext().prop_map(Case::Plaintext),
    ]
}

/// RFC 7518 5.1: the IV and tag lengths of each content encryption.
fn iv_len(enc: ContentEncryption) -> usize {
    match enc {
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => 12,
        _ => 16,
    }
}

fn tag_len(enc: ContentEncryption) -> usize {
    match enc {
        ContentEncryption::A256CbcHs512 => 32,
        _ => 16,
    }
}

fn malformed(part: &'static str) -> PasswordContextError {
    PasswordContextError::MalformedJwe { part }
}

fn invalid_plaintext(problem: &'static str) -> PasswordContextError {
    PasswordContextError::InvalidPlaintext { problem }
}

type Verdict = Result<(String, String, String), PasswordContextError>;

/// The JWE of `case` and its verdict.
fn build(case: &Case, alg: KeyManagement, enc: ContentEncryption) -> (String, Verdict) {
    let genuine = Claims {
        username: "Casey@Contoso.com".into(),
        password: "Pa$$w0rd".into(),
        nonce: "b3c1e3a2-5f0e-4a7b-9a61-1d2f3e4a5b6c".into(),
        extra: Vec::new(),
    };
    let ok = |c: &Claims| Ok((c.username.clone(), c.password.clone(), c.nonce.clone()));
    let sealed = || {
        seal(
            alg,
            enc,
            &Map::new(),
            wrap(&genuine.json(), Wrapping::UnsignedJwt).as_bytes(),
        )
    };
    let with_segment = |jwe: &str, segment: usize, text: &str| {
        let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        parts[segment] = text.to_owned();
        parts.join(".")
    };
    match case {
        Case::Genuine {
            claims,
            wrapping,
            header,
        } => {
            let header: Map<String, Value> = header.iter().cloned().collect();
            let jwe = seal(
                alg,
                enc,
                &header,
                wrap(&claims.json(), *wrapping).as_bytes(),
            );
            (jwe, ok(claims))
        }
        Case::Parts(count) => {
            let jwe = sealed();
            let parts: Vec<&str> = jwe.split('.').collect();
            let changed: Vec<&str> = parts.iter().copied().cycle().take(*count).collect();
            (
                changed.join("."),
                Err(PasswordContextError::NotCompactJwe { parts: *count }),
            )
        }
        Case::HeaderNotBase64(junk) => {
            let jwe = sealed();
            // In the middle: junk at the very start could be whitespace, which is trimmed.
            let header = jwe.split('.').next().unwrap();
            let (left, right) = header.split_at(header.len() / 2);
            (
                with_segment(&jwe, 0, &format!("{left}{junk}{right}")),
                Err(malformed("protected header")),
            )
        }
        Case::HeaderNotObject(value) => (
            with_segment(&sealed(), 0, &b64(value.to_string())),
            Err(malformed("protected header")),
        ),
        Case::HeaderMember { name, value } => {
            let mut header = Map::new();
            header.insert((*name).to_owned(), value.clone());
            // `encrypt_jwe` lets an `alg`/`enc` member replace the real one in the header only.
            let jwe = seal(
                alg,
                enc,
                &header,
                wrap(&genuine.json(), Wrapping::UnsignedJwt).as_bytes(),
            );
            let text = value.as_str();
            let verdict = match *name {
                "alg" => match text {
                    None => Err(malformed("protected header")),
                    Some(a) if KeyManagement::ACCEPTED.iter().any(|k| k.name() == a) => {
                        if a == alg.name() {
                            ok(&genuine)
                        } else {
                            // Unwrapped with the other OAEP digest: nothing opens.
                            Err(PasswordContextError::Undecryptable)
                        }
                    }
                    Some(a) => Err(PasswordContextError::UnsupportedKeyManagement {
                        alg: a.chars().take(32).collect(),
                    }),
                },
                "enc" => match text {
                    None => Err(malformed("protected header")),
                    Some(e) if ContentEncryption::ALL.iter().any(|c| c.name() == e) => {
                        let claimed = ContentEncryption::ALL
                            .into_iter()
                            .find(|c| c.name() == e)
                            .unwrap();
                        if claimed == enc {
                            ok(&genuine)
                        } else if iv_len(claimed) != iv_len(enc) {
                            // Segment lengths are checked against the claimed algorithm first.
                            Err(malformed("initialization vector"))
                        } else if tag_len(claimed) != tag_len(enc) {
                            Err(malformed("authentication tag"))
                        } else {
                            Err(PasswordContextError::Undecryptable)
                        }
                    }
                    Some(e) => Err(PasswordContextError::UnsupportedContentEncryption {
                        enc: e.chars().take(32).collect(),
                    }),
                },
                name => Err(PasswordContextError::UnsupportedHeader {
                    name: if name == "zip" { "zip" } else { "crit" },
                }),
            };
            (jwe, verdict)
        }
        Case::SegmentNotBase64 { segment, junk } => {
            let jwe = sealed();
            let original = jwe.split('.').nth(*segment).unwrap().to_owned();
            let middle = original.len() / 2;
            let mut broken = original.clone();
            broken.insert_str(middle, junk);
            let part = [
                "",
                "encrypted key",
                "initialization vector",
                "ciphertext",
                "authentication tag",
            ][*segment];
            (with_segment(&jwe, *segment, &broken), Err(malformed(part)))
        }
        Case::IvLength(len) => (
            with_segment(&sealed(), 2, &b64(vec![7u8; *len])),
            Err(malformed("initialization vector")),
        ),
        Case::TagLength(len) => (
            with_segment(&sealed(), 4, &b64(vec![7u8; *len])),
            Err(malformed("authentication tag")),
        ),
        Case::BitFlip { segment, at, bit } => {
            let jwe = sealed();
            let text = jwe.split('.').nth(*segment).unwrap();
            let mut bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
            if bytes.is_empty() {
                return (jwe, ok(&genuine));
            }
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            let verdict = if *segment == 0 {
                // The header must still parse to reach the authentication check.
                match serde_json::from_slice::<Map<String, Value>>(&bytes) {
                    Ok(header)
                        if header.get("alg") == Some(&json!(alg.name()))
                            && header.get("enc") == Some(&json!(enc.name()))
                            && !header.contains_key("zip")
                            && !header.contains_key("crit") =>
                    {
                        Err(PasswordContextError::Undecryptable)
                    }
                    // Other header verdicts are covered by HeaderMember.
                    _ => {
                        return (
                            String::new(),
                            Err(PasswordContextError::NotCompactJwe { parts: 1 }),
                        );
                    }
                }
            } else {
                Err(PasswordContextError::Undecryptable)
            };
            (with_segment(&jwe, *segment, &b64(bytes)), verdict)
        }
        Case::WrongRecipient => {
            let jwe = encrypt_jwe(
                keys().other.certificate_pem(),
                alg,
                enc,
                &Map::new(),
                wrap(&genuine.json(), Wrapping::UnsignedJwt).as_bytes(),
            )
            .unwrap();
            (jwe, Err(PasswordContextError::Undecryptable))
        }
        Case::KeyLength(len) => (
            with_segment(&sealed(), 1, &b64(vec![1u8; *len])),
            Err(PasswordContextError::Undecryptable),
        ),
        Case::Plaintext(plaintext) => {
            let (bytes, verdict) = plaintext_case(plaintext, &genuine);
            (seal(alg, enc, &Map::new(), &bytes), verdict)
        }
    }
}

fn plaintext_case(plaintext: &Plaintext, genuine: &Claims) -> (Vec<u8>, Verdict) {
    let header = b64(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(Value::Object(genuine.json()).to_string());
    match plaintext {
        Plaintext::NotUtf8(bytes) => (bytes.clone(), Err(invalid_plaintext("not UTF-8 text"))),
        Plaintext::NotJwtNorJson(text) => (
            text.clone().into_bytes(),
            Err(invalid_plaintext("neither a JWT nor a JSON object")),
        ),
        Plaintext::TooManyParts(n) => {
            let mut parts = vec![header.clone(), payload.clone()];
            parts.resize(*n, "e30".to_owned());
            (
                parts.join(".").into_bytes(),
                Err(invalid_plaintext("neither a JWT nor a JSON object")),
            )
        }
        Plaintext::JwtHeader(text) => (
            format!("{text}.{payload}.").into_bytes(),
            Err(invalid_plaintext("a JWT with an invalid header")),
        ),
        Plaintext::JwtPayload(text) => (
            format!("{header}.{text}.").into_bytes(),
            Err(invalid_plaintext("a JWT with an invalid payload")),
        ),
        Plaintext::ClaimsNotObject(value) => (
            format!("{header}.{}.", b64(value.to_string())).into_bytes(),
            Err(invalid_plaintext("not a JSON object of claims")),
        ),
        Plaintext::Missing(claim) => {
            let mut claims = genuine.json();
            claims.remove(*claim);
            (
                unsigned_jwt(&Value::Object(claims)).into_bytes(),
                Err(PasswordContextError::MissingClaim { claim }),
            )
        }
        Plaintext::Retyped(claim, value) => {
            let mut claims = genuine.json();
            claims.insert((*claim).to_owned(), value.clone());
            let verdict = if value.is_null() {
                PasswordContextError::MissingClaim { claim }
            } else {
                PasswordContextError::InvalidClaim {
                    claim,
                    problem: "is not a string",
                }
            };
            (
                unsigned_jwt(&Value::Object(claims)).into_bytes(),
                Err(verdict),
            )
        }
        Plaintext::Blank(claim, blank) => {
            let mut claims = genuine.json();
            claims.insert((*claim).to_owned(), json!(blank));
            (
                unsigned_jwt(&Value::Object(claims)).into_bytes(),
                Err(PasswordContextError::InvalidClaim {
                    claim,
                    problem: "is empty",
                }),
            )
        }
    }
}

#[test]
fn structured_jwes_get_the_documented_error_per_class() {
    run(
        "password JWE: structured classes",
        file!(),
        64,
        (case(), algs()),
        |(case, (alg, enc))| {
            let (jwe, expected) = build(&case, alg, enc);
            if jwe.is_empty() {
                return Ok(());
            }
            let got = decrypt(&jwe)?;
            prop_assert_eq!(&got, &expected, "{}", brief(&case));
            if let Err(error) = &got {
                prop_assert_eq!(error.code(), expected.unwrap_err().code());
            }
            Ok(())
        },
    );
}

/// Genuine JWEs of every algorithm pair, to mutate.
fn seeds() -> Vec<(String, Claims)> {
    let claims = Claims {
        username: "Casey@Contoso.com".into(),
        password: "Pa$$w0rd, with ünïcode".into(),
        nonce: "b3c1e3a2-5f0e-4a7b-9a61-1d2f3e4a5b6c".into(),
        extra: Vec::new(),
    };
    let mut seeds = Vec::new();
    for alg in KeyManagement::ACCEPTED {
        for enc in ContentEncryption::ALL {
            let jwe = seal(
                alg,
                enc,
                &Map::new(),
                wrap(&claims.json(), Wrapping::UnsignedJwt).as_bytes(),
            );
            seeds.push((jwe, claims.clone()));
        }
    }
    seeds
}

#[test]
fn mutated_jwes_never_decrypt() {
    let seeds = seeds();
    run(
        "password JWE: raw byte mutations",
        file!(),
        64,
        (select(seeds), byte_edits()),
        |((jwe, claims), edits)| {
            let mutated = apply_bytes(jwe.as_bytes(), &edits);
            let text = String::from_utf8_lossy(&mutated);
            let got = decrypt(&text)?;
            if text.trim() == jwe {
                prop_assert_eq!(got, Ok((claims.username, claims.password, claims.nonce)));
            } else {
                // Authenticated encryption, canonical base64url: any other text fails, with a
                // message that carries no key material and at most 32 characters of the header.
                let error = got.expect_err("an altered JWE decrypted");
                prop_assert!(error.to_string().len() < 300);
            }
            Ok(())
        },
    );
}
