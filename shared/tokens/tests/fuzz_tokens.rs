//! Property-based fuzzing of bearer-token validation (issue #10 item 4, FUZZING.md).
//!
//! Tokens are signed for real with an RSA-2048 key generated here and published by a loopback JWKS
//! host, so a mutated header or claim is judged by the validator's own checks and not merely by a
//! broken signature. Every structured case knows the exact [`TokenRejection`] its class must get
//! (or that it must be accepted); raw byte mutations of genuine tokens must never be accepted, and
//! no case may panic or allocate more than a bound proportional to the token's size.
//!
//! Case counts: `FUZZ_CASES` (or `PROPTEST_CASES`) overrides the short default; `scripts/fuzz`
//! runs the long pass.

mod common;

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::KeyHost;
use entra_fuzzing::mutate::{apply_bytes, arb_json, byte_edits};
use entra_fuzzing::{MemoryBound, bounded, brief, run};
use entra_tokens::{
    CallerPolicy, ENTRA_EXTENSION_CALLER_APP_ID, KeySet, MAX_TOKEN_BYTES, TokenRejection,
    TokenValidator,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

entra_fuzzing::counting_allocator!();

const TENANT: &str = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93";
const AUDIENCE: &str = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13";
const KID: &str = "fuzz-rs256";
/// Published with `alg` PS256: RS256 tokens naming it are a key mismatch.
const KID_PS256: &str = "fuzz-ps256";
/// Published as an EC key: unusable for RS256.
const KID_EC: &str = "fuzz-ec";
/// Published as a 1024-bit RSA key: below the 2048-bit floor.
const KID_SHORT: &str = "fuzz-rsa1024";
const KNOWN_KIDS: [&str; 4] = [KID, KID_PS256, KID_EC, KID_SHORT];

/// Generous: a token is at most 16 KiB and its JSON a few times that; key lookups are cached.
const MEMORY: MemoryBound = MemoryBound {
    per_input_byte: 48,
    fixed: 256 * 1024,
};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    validator: TokenValidator,
    key: KeyPair,
    _host: KeyHost,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One validator and one JWKS host for the whole binary; cases run on a current-thread runtime so
/// the allocation count of a case is the validator's own.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
        let jwks = json!({"keys": [
            {"kty": "RSA", "use": "sig", "kid": KID, "alg": "RS256",
             "n": b64(&public.n), "e": b64(&public.e)},
            {"kty": "RSA", "use": "sig", "kid": KID_PS256, "alg": "PS256",
             "n": b64(&public.n), "e": b64(&public.e)},
            {"kty": "EC", "use": "sig", "kid": KID_EC, "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "RSA", "use": "sig", "kid": KID_SHORT,
             "n": b64(&public.n[..128]), "e": b64(&public.e)},
        ]});
        let host = runtime.block_on(KeyHost::start(jwks.to_string()));
        let keys = KeySet::new(host.discovery_url(), reqwest::Client::new());
        let policy = CallerPolicy::extension_callback(TENANT, vec![AUDIENCE.to_owned()]);
        let validator = TokenValidator::new(policy, keys);
        let published = runtime.block_on(validator.key_set().warm()).unwrap();
        assert_eq!(published, 2, "two RSA keys fit RS256 by shape");
        Fixture {
            runtime,
            validator,
            key,
            _host: host,
        }
    })
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

fn genuine_header() -> Map<String, Value> {
    let Value::Object(header) = json!({"typ": "JWT", "alg": "RS256", "kid": KID}) else {
        unreachable!()
    };
    header
}

/// The claims Entra sends a custom authentication extension (v2), valid for an hour.
fn genuine_claims() -> Map<String, Value> {
    let now = now();
    let Value::Object(claims) = json!({
        "aud": AUDIENCE,
        "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "azp": ENTRA_EXTENSION_CALLER_APP_ID,
        "azpacr": "1",
        "idtyp": "app",
        "oid": "a3d1c8e2-5b4f-4e6a-8c9d-0f1e2d3c4b5a",
        "sub": "a3d1c8e2-5b4f-4e6a-8c9d-0f1e2d3c4b5a",
        "tid": TENANT,
        "ver": "2.0",
    }) else {
        unreachable!()
    };
    claims
}

/// `header.payload.signature` over the given segment texts, signed RS256 with the fixture key.
fn sign_segments(header: &str, payload: &str) -> String {
    let message = format!("{header}.{payload}");
    let key = &fixture().key;
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{message}.{}", b64(signature))
}

fn sign(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    sign_segments(
        &b64(Value::Object(header.clone()).to_string()),
        &b64(Value::Object(claims.clone()).to_string()),
    )
}

fn validate(token: &str) -> Result<Result<(), TokenRejection>, TestCaseError> {
    let fixture = fixture();
    bounded(token.len(), MEMORY, || {
        fixture
            .runtime
            .block_on(fixture.validator.validate(token))
            .map(|caller| {
                assert!(caller.tenant_id().eq_ignore_ascii_case(TENANT));
                assert_eq!(caller.audience(), AUDIENCE);
                assert!(
                    caller
                        .authorized_party()
                        .eq_ignore_ascii_case(ENTRA_EXTENSION_CALLER_APP_ID)
                );
            })
    })
}

/// A JSON value of any type but the ones `keep` accepts.
fn json_except(keep: fn(&Value) -> bool) -> impl Strategy<Value = Value> {
    arb_json().prop_filter("another JSON type", move |v| !keep(v))
}

/// One class of token and the verdict the class must get.
#[derive(Debug, Clone)]
enum Case {
    /// Genuine, with extra non-standard header members and extra claims.
    Genuine {
        header: Vec<(String, Value)>,
        claims: Vec<(String, Value)>,
    },
    /// `exp`/`nbf` inside the 300 s skew, float lifetimes, casing of azp: still accepted.
    Tolerated(&'static str, Value),
    Alg(Value),
    AlgMissing,
    KidMissing,
    Kid(String),
    Crit(Value),
    HeaderMemberRetyped(&'static str, Value),
    ClaimRemoved(&'static str),
    ClaimSet(&'static str, Value),
    Scp(Value),
    TooLarge(usize),
    EmptySignature,
    /// A different signature that is valid base64url.
    ForeignSignature(Vec<u8>),
    /// A segment with a character outside base64url, or a length base64 cannot have.
    BadBase64 {
        segment: usize,
        junk: String,
    },
    /// A header or payload that decodes but is not a JSON object.
    NotAnObject {
        segment: usize,
        json: Value,
    },
    Segments(usize),
}

fn claim_names() -> impl Strategy<Value = &'static str> {
    select(vec![
        "aud", "iss", "iat", "nbf", "exp", "azp", "idtyp", "oid", "tid", "ver", "sub",
    ])
}

fn case() -> impl Strategy<Value = Case> {
    let extra_name = "x_[a-z]{1,8}";
    prop_oneof![
        4 => (
            proptest::collection::vec((extra_name, arb_json()), 0..4),
            proptest::collection::vec((extra_name, arb_json()), 0..4),
        )
            .prop_map(|(header, claims)| Case::Genuine { header, claims }),
        2 => prop_oneof![
            (-240i64..240).prop_map(|d| Case::Tolerated("exp", json!(now() + d))),
            (-3600i64..240).prop_map(|d| Case::Tolerated("nbf", json!(now() + d))),
            (60.0f64..86_400.0).prop_map(|d| Case::Tolerated("exp", json!(now() as f64 + d))),
            Just(Case::Tolerated(
                "azp",
                json!(ENTRA_EXTENSION_CALLER_APP_ID.to_uppercase())
            )),
            select(vec!["2", "ver2", "VER2", "2.0"])
                .prop_map(|v| Case::Tolerated("ver", json!(v))),
        ],
        3 => prop_oneof![
            "[A-Za-z0-9]{0,8}".prop_filter("not RS256", |a| a != "RS256").prop_map(|a| Case::Alg(json!(a))),
            select(vec!["none", "HS256", "PS256", "ES256", "rs256", "RS256 ", "RS512", ""])
                .prop_map(|a| Case::Alg(json!(a))),
        ],
        1 => Just(Case::AlgMissing),
        1 => json_except(|v| v.is_string() || v.is_null()).prop_map(Case::Alg),
        1 => Just(Case::KidMissing),
        2 => prop_oneof![
            ".{0,40}".prop_filter("unpublished", |k| !KNOWN_KIDS.contains(&k.as_str())).prop_map(Case::Kid),
            select(vec![KID_PS256, KID_EC, KID_SHORT]).prop_map(|k| Case::Kid(k.to_owned())),
        ],
        1 => json_except(Value::is_null).prop_map(Case::Crit),
        1 => (
            select(vec!["typ", "cty", "jku", "x5u", "x5t", "x5t#S256", "kid", "url", "nonce"]),
            json_except(|v| v.is_string() || v.is_null()),
        )
            .prop_map(|(name, value)| Case::HeaderMemberRetyped(name, value)),
        3 => claim_names().prop_map(Case::ClaimRemoved),
        6 => (claim_names(), arb_json()).prop_map(|(name, value)| Case::ClaimSet(name, value)),
        3 => (claim_names(), ".{0,48}").prop_map(|(name, value)| Case::ClaimSet(name, json!(value))),
        2 => prop_oneof![
            (301i64..100_000_000).prop_map(|d| Case::ClaimSet("exp", json!(now() - 60 - d))),
            (301i64..100_000_000).prop_map(|d| Case::ClaimSet("nbf", json!(now() + d))),
            select(vec![json!(u64::MAX), json!(i64::MIN), json!(-1), json!(1e300), json!(-0.5)])
                .prop_map(|v| Case::ClaimSet("exp", v)),
        ],
        1 => arb_json().prop_map(Case::Scp),
        1 => (0usize..4096).prop_map(Case::TooLarge),
        1 => Just(Case::EmptySignature),
        1 => proptest::collection::vec(any::<u8>(), 1..512).prop_map(Case::ForeignSignature),
        2 => (0usize..3, "[^A-Za-z0-9_-]{1,3}").prop_map(|(segment, junk)| Case::BadBase64 { segment, junk }),
        1 => (0usize..2, json_except(Value::is_object))
            .prop_map(|(segment, json)| Case::NotAnObject { segment, json }),
        1 => select(vec![1usize, 2, 4, 5, 7]).prop_map(Case::Segments),
    ]
}

/// What a lifetime claim of this value gets from jsonwebtoken and then from our `admit`.
fn lifetime_verdict(claim: &'static str, value: &Value) -> Option<TokenRejection> {
    let as_date = value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f.round() as u64)
        })
        .filter(|_| value.is_number());
    let now = u64::try_from(now()).unwrap();
    match (claim, as_date) {
        // jsonwebtoken requires `exp` as a u64-representable NumericDate: anything else counts as
        // absent (pinned by tests/validation.rs "exp as a string").
        ("exp", None) => Some(TokenRejection::MissingClaim { claim: "exp" }),
        ("exp", Some(exp)) if exp.saturating_add(300) < now => Some(TokenRejection::Expired),
        // Past jsonwebtoken, `exp` must still be a time we can represent.
        ("exp", Some(exp)) => SystemTime::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(exp))
            .is_none()
            .then_some(TokenRejection::InvalidClaim { claim: "exp" }),
        ("nbf", None) => Some(TokenRejection::InvalidClaim { claim: "nbf" }),
        ("nbf", Some(nbf)) if nbf > now + 300 => Some(TokenRejection::NotYetValid),
        ("iat", _) if !value.is_number() => Some(TokenRejection::InvalidClaim { claim: "iat" }),
        _ => None,
    }
}

fn non_empty_container(value: &Value) -> bool {
    match value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => !members.is_empty(),
        _ => false,
    }
}

/// The verdict for genuine claims with `name` set to `value` (everything else genuine).
fn claim_verdict(name: &'static str, value: &Value) -> Option<TokenRejection> {
    let text = value.as_str();
    let issuer = format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0");
    let workforce = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let v1_issuer = format!("https://sts.windows.net/{TENANT}/");
    let any_of = |accepted: &[&str]| match value {
        Value::Array(items) => items
            .iter()
            .any(|item| item.as_str().is_some_and(|s| accepted.contains(&s))),
        _ => false,
    };
    match name {
        // jsonwebtoken reads `exp`, `nbf` and `sub` straight from the payload text and swallows a
        // type error there without skipping the rest of the value; for a non-empty array or
        // object the rest of the payload then fails to parse, so the token is `Malformed` rather
        // than the claim invalid. (A quirk of jsonwebtoken 11, noted in FUZZING.md; still a refusal.)
        // `sub` is read as a string, which leaves even an empty array or object unread.
        "exp" | "nbf" if non_empty_container(value) => Some(TokenRejection::Malformed),
        "sub" if value.is_array() || value.is_object() => Some(TokenRejection::Malformed),
        "sub" => None,
        "exp" | "nbf" | "iat" => lifetime_verdict(name, value),
        // `iss` and `aud` pass jsonwebtoken first: a string or an array of strings is read (an
        // array naming an accepted value passes it), anything else counts as absent.
        "iss" | "aud" => {
            let accepted: Vec<&str> = if name == "iss" {
                vec![&issuer, &workforce, &v1_issuer]
            } else {
                vec![AUDIENCE]
            };
            let wrong = if name == "iss" {
                TokenRejection::WrongIssuer
            } else {
                TokenRejection::WrongAudience
            };
            let is_string_array = value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string));
            match text {
                Some(text) if !accepted.contains(&text) => Some(wrong),
                // ver 2.0 with the v1 issuer: trusted issuer, wrong version.
                Some(text) if text == v1_issuer => Some(TokenRejection::WrongIssuer),
                Some(_) => None,
                None if is_string_array && any_of(&accepted) => {
                    Some(TokenRejection::InvalidClaim { claim: name })
                }
                None if is_string_array => Some(wrong),
                None => Some(TokenRejection::MissingClaim { claim: name }),
            }
        }
        "ver" => match text {
            Some(v)
                if ["2.0", "2", "ver2"]
                    .iter()
                    .any(|x| v.eq_ignore_ascii_case(x)) =>
            {
                None
            }
            // v1 markers: the v2 issuer is then not an issuer of that version.
            Some(v)
                if ["1.0", "1", "ver1"]
                    .iter()
                    .any(|x| v.eq_ignore_ascii_case(x)) =>
            {
                Some(TokenRejection::WrongIssuer)
            }
            Some(_) => Some(TokenRejection::UnsupportedVersion),
            None => Some(TokenRejection::InvalidClaim { claim: "ver" }),
        },
        "tid" => match text {
            Some(t) if t.eq_ignore_ascii_case(TENANT) => None,
            Some(_) => Some(TokenRejection::WrongTenant),
            None => Some(TokenRejection::InvalidClaim { claim: "tid" }),
        },
        "azp" => match text {
            Some(p) if p.eq_ignore_ascii_case(ENTRA_EXTENSION_CALLER_APP_ID) => None,
            Some(_) => Some(TokenRejection::WrongAuthorizedParty),
            None => Some(TokenRejection::InvalidClaim { claim: "azp" }),
        },
        "idtyp" => match text {
            Some("app") => None,
            Some(_) => Some(TokenRejection::NotAppOnly),
            None => Some(TokenRejection::InvalidClaim { claim: "idtyp" }),
        },
        "oid" => (!value.is_string()).then_some(TokenRejection::InvalidClaim { claim: "oid" }),
        _ => unreachable!("{name}"),
    }
}

/// Mints the token of `case` and states its verdict; past the size cap nothing else is looked at.
fn mint(case: &Case) -> (String, Result<(), TokenRejection>) {
    let (token, verdict) = mint_unchecked(case);
    if token.len() > MAX_TOKEN_BYTES {
        return (token, Err(TokenRejection::TooLarge));
    }
    (token, verdict)
}

fn mint_unchecked(case: &Case) -> (String, Result<(), TokenRejection>) {
    let mut header = genuine_header();
    let mut claims = genuine_claims();
    let verdict = match case {
        Case::Genuine {
            header: extra_header,
            claims: extra_claims,
        } => {
            header.extend(extra_header.iter().cloned());
            claims.extend(extra_claims.iter().cloned());
            Ok(())
        }
        Case::Tolerated(name, value) => {
            claims.insert((*name).to_owned(), value.clone());
            Ok(())
        }
        Case::Alg(alg) => {
            header.insert("alg".into(), alg.clone());
            Err(if alg.is_string() {
                TokenRejection::AlgorithmNotAllowed
            } else {
                TokenRejection::Malformed
            })
        }
        Case::AlgMissing => {
            header.remove("alg");
            Err(TokenRejection::Malformed)
        }
        Case::KidMissing => {
            header.remove("kid");
            Err(TokenRejection::MissingKeyId)
        }
        Case::Kid(kid) => {
            header.insert("kid".into(), json!(kid));
            Err(if KNOWN_KIDS.contains(&kid.as_str()) {
                TokenRejection::KeyMismatch
            } else {
                TokenRejection::UnknownKey
            })
        }
        Case::Crit(crit) => {
            header.insert("crit".into(), crit.clone());
            Err(TokenRejection::Malformed)
        }
        Case::HeaderMemberRetyped(name, value) => {
            header.insert((*name).to_owned(), value.clone());
            Err(TokenRejection::Malformed)
        }
        Case::ClaimRemoved(name) => {
            claims.remove(*name);
            Err(match *name {
                "sub" => return (sign(&header, &claims), Ok(())),
                "exp" | "iss" | "aud" | "ver" | "tid" | "azp" => {
                    TokenRejection::MissingClaim { claim: name }
                }
                // Optional: lifetime extras, app-only marker and object id.
                _ => return (sign(&header, &claims), Ok(())),
            })
        }
        Case::ClaimSet(name, value) => {
            claims.insert((*name).to_owned(), value.clone());
            claim_verdict(name, value).map_or(Ok(()), Err)
        }
        Case::Scp(scp) => {
            claims.insert("scp".into(), scp.clone());
            Err(TokenRejection::NotAppOnly)
        }
        Case::TooLarge(extra) => {
            claims.insert("pad".into(), json!("x".repeat(MAX_TOKEN_BYTES + extra)));
            Err(TokenRejection::TooLarge)
        }
        Case::EmptySignature => {
            let token = sign(&header, &claims);
            let unsigned = &token[..=token.rfind('.').unwrap()];
            return (unsigned.to_owned(), Err(TokenRejection::BadSignature));
        }
        Case::ForeignSignature(bytes) => {
            let token = sign(&header, &claims);
            let message = &token[..token.rfind('.').unwrap()];
            return (
                format!("{message}.{}", b64(bytes)),
                Err(TokenRejection::BadSignature),
            );
        }
        Case::BadBase64 { segment, junk } => {
            let token = sign(&header, &claims);
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            let middle = parts[*segment].len() / 2;
            parts[*segment].insert_str(middle, junk);
            let token = if *segment == 2 {
                parts.join(".")
            } else {
                // Sign the broken segments so only the base64 is wrong.
                sign_segments(&parts[0], &parts[1])
            };
            // Not base64url, or (with a dot) not three segments: never a compact JWS.
            return (token, Err(TokenRejection::Malformed));
        }
        Case::NotAnObject { segment, json } => {
            let text = json.to_string();
            let token = if *segment == 0 {
                sign_segments(&b64(text), &b64(Value::Object(claims).to_string()))
            } else {
                sign_segments(&b64(Value::Object(header).to_string()), &b64(text))
            };
            return (token, Err(TokenRejection::Malformed));
        }
        Case::Segments(count) => {
            let token = sign(&header, &claims);
            let parts: Vec<&str> = token.split('.').collect();
            let token = match count {
                1 => parts[0].to_owned(),
                2 => parts[..2].join("."),
                n => {
                    let mut more = parts.clone();
                    more.resize(*n, parts[2]);
                    more.join(".")
                }
            };
            return (token, Err(TokenRejection::Malformed));
        }
    };
    (sign(&header, &claims), verdict)
}

#[test]
fn structured_tokens_get_the_documented_verdict_per_class() {
    run("tokens: structured classes", file!(), 192, case(), |case| {
        let (token, expected) = mint(&case);
        let verdict = validate(&token)?;
        prop_assert_eq!(verdict, expected, "case {}", brief(&case));
        Ok(())
    });
}

/// How an `Authorization` header may carry a token; the verdict is the token's own or
/// `MissingBearer`.
#[derive(Debug, Clone)]
enum Carrier {
    Absent,
    Bearer { scheme: String, gap: String },
    OtherScheme(String),
    SchemeOnly(String),
}

fn carrier() -> impl Strategy<Value = Carrier> {
    prop_oneof![
        1 => Just(Carrier::Absent),
        4 => (
            select(vec!["Bearer", "bearer", "BEARER", "bEaReR"]),
            "[ \t]{1,3}",
        )
            .prop_map(|(scheme, gap)| Carrier::Bearer { scheme: scheme.to_owned(), gap }),
        2 => "[A-Za-z:]{0,10}"
            .prop_filter("not bearer", |s| !s.eq_ignore_ascii_case("bearer"))
            .prop_map(Carrier::OtherScheme),
        1 => "[ \t]{0,2}(Bearer|bearer)[ \t]{0,3}".prop_map(Carrier::SchemeOnly),
    ]
}

#[test]
fn authorization_headers_carry_the_token_verdict_or_missing_bearer() {
    let fixture = fixture();
    run(
        "tokens: Authorization header",
        file!(),
        128,
        (carrier(), case()),
        |(carrier, case)| {
            let (token, verdict) = mint(&case);
            let (header, expected) = match &carrier {
                Carrier::Absent => (None, Err(TokenRejection::MissingBearer)),
                Carrier::Bearer { scheme, gap } => (Some(format!("{scheme}{gap}{token}")), verdict),
                Carrier::OtherScheme(scheme) => (
                    Some(format!("{scheme} {token}")),
                    Err(TokenRejection::MissingBearer),
                ),
                Carrier::SchemeOnly(text) => {
                    (Some(text.clone()), Err(TokenRejection::MissingBearer))
                }
            };
            let len = header.as_ref().map_or(0, String::len);
            let got = bounded(len, MEMORY, || {
                fixture.runtime.block_on(
                    fixture
                        .validator
                        .validate_authorization_header(header.as_deref()),
                )
            })?
            .map(|_| ());
            prop_assert_eq!(got, expected, "carrier {:?} case {}", carrier, brief(&case));
            Ok(())
        },
    );
}

/// Genuine tokens to mutate: plain, with a few extra claims, near the size limit.
fn seeds() -> Vec<Vec<u8>> {
    let mut claims = genuine_claims();
    let plain = sign(&genuine_header(), &claims);
    claims.insert("roles".into(), json!(["a", "b", "ü"]));
    let extra = sign(&genuine_header(), &claims);
    claims.insert("pad".into(), json!("x".repeat(MAX_TOKEN_BYTES / 2)));
    let big = sign(&genuine_header(), &claims);
    [plain, extra, big].map(String::into_bytes).to_vec()
}

#[test]
fn mutated_genuine_tokens_are_never_accepted() {
    let seeds = seeds();
    run(
        "tokens: raw byte mutations",
        file!(),
        256,
        (select(seeds), byte_edits()),
        |(seed, edits)| {
            let mutated = apply_bytes(&seed, &edits);
            let token = String::from_utf8_lossy(&mutated);
            let verdict = validate(&token)?;
            if token.as_bytes() == seed.as_slice() {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                // The signature covers every byte and base64url has one spelling per value, so
                // any edit is refused; the message is a fixed text, never the token.
                let rejection = verdict.expect_err("an edited token was accepted");
                let message = rejection.to_string();
                prop_assert!(message.len() < 100);
                prop_assert!(token.len() < 8 || !message.contains(&*token));
            }
            Ok(())
        },
    );
}
