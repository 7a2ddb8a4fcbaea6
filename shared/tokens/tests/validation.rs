//! Extension-callback and Graph-notification validation against real tokens from the sandbox
//! tenant (real RSA keys, discovery and JWKS over loopback HTTP).

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{eager_options, extension_policy, extension_validator, graph_validator};
use entra_sandbox::{IssuerKind, Sandbox, SigningAlgorithm};
use entra_tokens::{
    ENTRA_EXTENSION_CALLER_APP_ID, GRAPH_CHANGE_TRACKING_APP_ID, KeySet, KeySetOptions,
    MAX_TOKEN_BYTES, TokenRejection, TokenValidator, TokenVersion,
};
use serde_json::{Value, json};

const OTHER_TENANT: &str = "84bd8158-6d4d-4958-8b9f-9d6445542f95";

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn decode_json(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// Replaces the header of a signed token (the signature no longer matches, which must not matter
/// for checks that happen before signature verification).
fn with_header(token: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let parts = segments(token);
    let mut header = decode_json(&parts[0]);
    edit(header.as_object_mut().unwrap());
    format!("{}.{}.{}", encode_json(&header), parts[1], parts[2])
}

/// Flips one character in the middle of a segment.
fn flip_char(segment: &str) -> String {
    let mut chars: Vec<char> = segment.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn genuine_v2_extension_token_is_accepted() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, KeySetOptions::default());
    let builder = sandbox.extension_token();
    let expected_claims = builder.claims().clone();
    let token = builder.sign();

    let caller = validator.validate(&token).await.unwrap();
    assert_eq!(caller.tenant_id(), sandbox.tenant_id());
    assert_eq!(caller.authorized_party(), ENTRA_EXTENSION_CALLER_APP_ID);
    assert_eq!(caller.audience(), sandbox.config().extension_app_id);
    assert_eq!(caller.version(), TokenVersion::V2);
    assert_eq!(
        caller.object_id(),
        expected_claims["oid"].as_str(),
        "oid is surfaced"
    );
    let exp = expected_claims["exp"].as_u64().unwrap();
    assert_eq!(
        caller.expires_at(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(exp)
    );
    assert_eq!(caller.claims(), &expected_claims);

    let header = decode_json(&segments(&token)[0]);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], sandbox.active_kid());
}

#[tokio::test]
async fn genuine_v1_extension_token_is_accepted() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, KeySetOptions::default());
    let caller = validator
        .validate(&sandbox.extension_token_v1().sign())
        .await
        .unwrap();
    assert_eq!(caller.version(), TokenVersion::V1);
    assert_eq!(caller.authorized_party(), ENTRA_EXTENSION_CALLER_APP_ID);
    assert_eq!(caller.audience(), sandbox.config().extension_app_id_uri);
    assert_eq!(caller.claims()["iss"], sandbox.issuer(IssuerKind::StsV1));
}

#[tokio::test]
async fn accepted_variants() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, KeySetOptions::default());
    let app_id = sandbox.config().extension_app_id.clone();
    let cases: Vec<(&str, String)> = vec![
        (
            "workforce v2 issuer",
            sandbox.extension_token().issuer(IssuerKind::LoginV2).sign(),
        ),
        (
            "expired within the 300 s skew",
            sandbox.extension_token().expires_in(-120).sign(),
        ),
        (
            "nbf within the 300 s skew",
            sandbox.extension_token().not_before_in(120).sign(),
        ),
        (
            "ver '2' (library alias)",
            sandbox.extension_token().claim("ver", "2").sign(),
        ),
        (
            "ver 'ver1' (library alias)",
            sandbox.extension_token_v1().claim("ver", "ver1").sign(),
        ),
        (
            "v1 with client-id audience",
            sandbox.extension_token_v1().claim("aud", app_id).sign(),
        ),
        (
            "azp in upper case (library compares ignoring case)",
            sandbox
                .extension_token()
                .claim("azp", ENTRA_EXTENSION_CALLER_APP_ID.to_uppercase())
                .sign(),
        ),
        (
            "no nbf (optional)",
            sandbox.extension_token().without_claim("nbf").sign(),
        ),
        (
            "no idtyp (undocumented for this flow)",
            sandbox.extension_token().without_claim("idtyp").sign(),
        ),
    ];
    for (name, token) in cases {
        if let Err(rejection) = validator.validate(&token).await {
            panic!("{name}: rejected as {}", rejection.kind());
        }
    }
}

#[tokio::test]
async fn bad_token_corpus_is_rejected_with_the_expected_kind() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, eager_options());
    let tid = sandbox.tenant_id().to_owned();
    let name = sandbox.config().tenant_name.clone();
    let good = sandbox.extension_token().sign();
    let parts = segments(&good);

    let tampered_payload = {
        let mut claims = decode_json(&parts[1]);
        claims["oid"] = json!("00000000-0000-0000-0000-000000000000");
        format!("{}.{}.{}", parts[0], encode_json(&claims), parts[2])
    };
    let oversized = sandbox
        .extension_token()
        .claim("pad", "x".repeat(MAX_TOKEN_BYTES))
        .sign();

    let corpus: Vec<(&str, String, &str)> = vec![
        // algorithm
        (
            "PS256 (valid RSA-PSS signature)",
            sandbox
                .extension_token()
                .algorithm(SigningAlgorithm::Ps256)
                .sign(),
            "algorithm_not_allowed",
        ),
        (
            "alg none",
            sandbox
                .extension_token()
                .algorithm(SigningAlgorithm::None)
                .sign(),
            "algorithm_not_allowed",
        ),
        (
            "HS256 keyed with the public key",
            sandbox
                .extension_token()
                .algorithm(SigningAlgorithm::Hs256WithPublicKey)
                .sign(),
            "algorithm_not_allowed",
        ),
        (
            "ES256 header",
            with_header(&good, |h| {
                h.insert("alg".into(), json!("ES256"));
            }),
            "algorithm_not_allowed",
        ),
        (
            "alg RS256 in lower case",
            with_header(&good, |h| {
                h.insert("alg".into(), json!("rs256"));
            }),
            "algorithm_not_allowed",
        ),
        // issuer
        (
            "issuer of another tenant",
            sandbox
                .extension_token()
                .claim(
                    "iss",
                    format!("https://{OTHER_TENANT}.ciamlogin.com/{OTHER_TENANT}/v2.0"),
                )
                .sign(),
            "wrong_issuer",
        ),
        (
            "multi-tenant template issuer",
            sandbox
                .extension_token()
                .claim("iss", "https://login.microsoftonline.com/{tenantid}/v2.0")
                .sign(),
            "wrong_issuer",
        ),
        (
            "http scheme issuer",
            sandbox
                .extension_token()
                .claim("iss", format!("http://{tid}.ciamlogin.com/{tid}/v2.0"))
                .sign(),
            "wrong_issuer",
        ),
        (
            "issuer with trailing slash",
            sandbox
                .extension_token()
                .claim("iss", format!("https://{tid}.ciamlogin.com/{tid}/v2.0/"))
                .sign(),
            "wrong_issuer",
        ),
        (
            "documented domain-name CIAM issuer (real tokens use the tenant id)",
            sandbox
                .extension_token()
                .claim("iss", format!("https://{name}.ciamlogin.com/{tid}/v2.0"))
                .sign(),
            "wrong_issuer",
        ),
        (
            "v1 issuer on a v2 token",
            sandbox.extension_token().issuer(IssuerKind::StsV1).sign(),
            "wrong_issuer",
        ),
        (
            "v2 issuer on a v1 token",
            sandbox
                .extension_token_v1()
                .issuer(IssuerKind::CiamV2)
                .sign(),
            "wrong_issuer",
        ),
        (
            "missing issuer",
            sandbox.extension_token().without_claim("iss").sign(),
            "missing_claim",
        ),
        // audience
        (
            "audience of another app",
            sandbox
                .extension_token()
                .claim("aud", "00000003-0000-0000-c000-000000000000")
                .sign(),
            "wrong_audience",
        ),
        (
            "missing audience",
            sandbox.extension_token().without_claim("aud").sign(),
            "missing_claim",
        ),
        (
            "audience as an array",
            sandbox
                .extension_token()
                .claim("aud", json!([sandbox.config().extension_app_id]))
                .sign(),
            "invalid_claim",
        ),
        // authorized party
        (
            "azp of another client (troubleshooting token)",
            sandbox
                .extension_token()
                .claim("azp", sandbox.config().extension_app_id.clone())
                .sign(),
            "wrong_authorized_party",
        ),
        (
            "missing azp",
            sandbox.extension_token().without_claim("azp").sign(),
            "missing_claim",
        ),
        (
            "v2 token naming the caller in appid instead of azp",
            sandbox
                .extension_token()
                .without_claim("azp")
                .claim("appid", ENTRA_EXTENSION_CALLER_APP_ID)
                .sign(),
            "missing_claim",
        ),
        (
            "v1 with another appid",
            sandbox
                .extension_token_v1()
                .claim("appid", GRAPH_CHANGE_TRACKING_APP_ID)
                .sign(),
            "wrong_authorized_party",
        ),
        (
            "v1 without appid",
            sandbox.extension_token_v1().without_claim("appid").sign(),
            "missing_claim",
        ),
        (
            "azp as a number",
            sandbox.extension_token().claim("azp", 42).sign(),
            "invalid_claim",
        ),
        // tenant
        (
            "tid of another tenant",
            sandbox.extension_token().claim("tid", OTHER_TENANT).sign(),
            "wrong_tenant",
        ),
        (
            "missing tid",
            sandbox.extension_token().without_claim("tid").sign(),
            "missing_claim",
        ),
        // version
        (
            "missing ver",
            sandbox.extension_token().without_claim("ver").sign(),
            "missing_claim",
        ),
        (
            "unknown ver",
            sandbox.extension_token().claim("ver", "3.0").sign(),
            "unsupported_version",
        ),
        // app-only
        (
            "delegated token (scp)",
            sandbox
                .extension_token()
                .claim("scp", "user_impersonation")
                .sign(),
            "not_app_only",
        ),
        (
            "idtyp user",
            sandbox.extension_token().claim("idtyp", "user").sign(),
            "not_app_only",
        ),
        // lifetime
        (
            "expired beyond the skew",
            sandbox.extension_token().expires_in(-301 - 60).sign(),
            "expired",
        ),
        (
            "nbf beyond the skew",
            sandbox.extension_token().not_before_in(301 + 60).sign(),
            "not_yet_valid",
        ),
        (
            "missing exp",
            sandbox.extension_token().without_claim("exp").sign(),
            "missing_claim",
        ),
        (
            "exp as a string (unusable, so treated as missing)",
            sandbox.extension_token().claim("exp", "4102444800").sign(),
            "missing_claim",
        ),
        // keys and signature
        (
            "unknown kid",
            sandbox.extension_token().kid("not-a-published-kid").sign(),
            "unknown_key",
        ),
        (
            "untrusted key under the active kid",
            sandbox
                .extension_token()
                .algorithm(SigningAlgorithm::Rs256UntrustedKey)
                .sign(),
            "bad_signature",
        ),
        (
            "untrusted key under its own kid",
            sandbox
                .extension_token()
                .algorithm(SigningAlgorithm::Rs256UntrustedKey)
                .kid("attacker-key")
                .sign(),
            "unknown_key",
        ),
        (
            "missing kid",
            with_header(&good, |h| {
                h.remove("kid");
            }),
            "missing_kid",
        ),
        ("tampered payload", tampered_payload, "bad_signature"),
        (
            "tampered signature",
            format!("{}.{}.{}", parts[0], parts[1], flip_char(&parts[2])),
            "bad_signature",
        ),
        (
            "signature truncated",
            // 342 -> 336 characters: still canonical base64url, 252 bytes.
            good[..good.len() - 6].to_owned(),
            "bad_signature",
        ),
        (
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            "bad_signature",
        ),
        (
            "header from another token (kid swap)",
            with_header(&good, |h| {
                h.insert(
                    "kid".into(),
                    json!(format!("{}x", h["kid"].as_str().unwrap())),
                );
            }),
            "unknown_key",
        ),
        // structure
        (
            "truncated inside the payload",
            good[..parts[0].len() + 20].to_owned(),
            "malformed",
        ),
        ("garbage", "definitely not a token".to_owned(), "malformed"),
        ("empty", String::new(), "malformed"),
        (
            "two segments",
            format!("{}.{}", parts[0], parts[1]),
            "malformed",
        ),
        ("four segments", format!("{good}.{}", parts[2]), "malformed"),
        (
            "non-JSON header",
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode("hello"),
                parts[1],
                parts[2]
            ),
            "malformed",
        ),
        (
            "header is a JSON array",
            format!(
                "{}.{}.{}",
                encode_json(&json!(["RS256"])),
                parts[1],
                parts[2]
            ),
            "malformed",
        ),
        (
            // Found by tests/fuzz_tokens.rs: serde read the array as the header struct and judged
            // its `alg`, answering algorithm_not_allowed.
            "header is a JSON array with one element per header member",
            format!(
                "{}.{}.{}",
                encode_json(&json!(["none", "kid", null])),
                parts[1],
                parts[2]
            ),
            "malformed",
        ),
        (
            "header without alg",
            with_header(&good, |h| {
                h.remove("alg");
            }),
            "malformed",
        ),
        (
            "header with a critical extension",
            with_header(&good, |h| {
                h.insert("crit".into(), json!(["exp"]));
            }),
            "malformed",
        ),
        (
            "padded base64 header",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            "malformed",
        ),
        (
            "non-JSON payload",
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode("hello"),
                parts[2]
            ),
            "bad_signature",
        ),
        ("oversized", oversized, "too_large"),
    ];
    assert!(corpus.len() >= 25);

    let mut failures = Vec::new();
    for (name, token, expected) in &corpus {
        match validator.validate(token).await {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(rejection) => {
                if rejection.kind() != *expected {
                    failures.push(format!(
                        "{name}: expected {expected}, got {}",
                        rejection.kind()
                    ));
                }
                assert_no_token_material(&rejection, token);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Rejection messages are logged: they must carry nothing taken from the token.
fn assert_no_token_material(rejection: &TokenRejection, token: &str) {
    let shown = format!("{rejection} {rejection:?}");
    if !token.is_empty() {
        assert!(!shown.contains(token), "{shown}");
    }
    for part in token.split('.').filter(|part| part.len() >= 8) {
        assert!(!shown.contains(part), "{shown}");
        let tail = &part[part.len() - 8..];
        assert!(!shown.contains(tail), "{shown}");
    }
    if let Ok(header) = URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap_or_default())
        && let Ok(header) = serde_json::from_slice::<Value>(&header)
        && let Some(kid) = header["kid"].as_str()
    {
        assert!(!shown.contains(kid), "kid leaked: {shown}");
    }
}

#[tokio::test]
async fn authorization_header_parsing() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, KeySetOptions::default());
    let token = sandbox.extension_token().sign();

    for accepted in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER  {token}"),
        format!("Bearer\t{token}"),
        format!(" Bearer {token} "),
    ] {
        validator
            .validate_authorization_header(Some(&accepted))
            .await
            .unwrap_or_else(|r| panic!("{accepted:.12}: {}", r.kind()));
    }

    let rejected: Vec<(Option<String>, &str)> = vec![
        (None, "missing_bearer"),
        (Some(String::new()), "missing_bearer"),
        (Some(token.clone()), "missing_bearer"),
        (Some("Bearer".into()), "missing_bearer"),
        (Some("Bearer ".into()), "missing_bearer"),
        (Some(format!("Basic {token}")), "missing_bearer"),
        (Some(format!("Bearertoken {token}")), "missing_bearer"),
        (Some(format!("Bearer {token} extra")), "malformed"),
    ];
    for (value, expected) in rejected {
        let rejection = validator
            .validate_authorization_header(value.as_deref())
            .await
            .unwrap_err();
        assert_eq!(rejection.kind(), expected, "{value:?}");
        assert_no_token_material(&rejection, &token);
    }
}

#[tokio::test]
async fn ciam_only_policy_refuses_the_workforce_issuer() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
    let validator = TokenValidator::new(
        extension_policy(&sandbox).without_workforce_v2_issuer(),
        keys,
    );
    validator
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap();
    let rejection = validator
        .validate(&sandbox.extension_token().issuer(IssuerKind::LoginV2).sign())
        .await
        .unwrap_err();
    assert_eq!(rejection, TokenRejection::WrongIssuer);
}

#[tokio::test]
async fn leeway_is_configurable() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
    let strict = TokenValidator::new(extension_policy(&sandbox).with_leeway(Duration::ZERO), keys);
    let rejection = strict
        .validate(&sandbox.extension_token().expires_in(-120).sign())
        .await
        .unwrap_err();
    assert_eq!(rejection, TokenRejection::Expired);
    let rejection = strict
        .validate(&sandbox.extension_token().not_before_in(120).sign())
        .await
        .unwrap_err();
    assert_eq!(rejection, TokenRejection::NotYetValid);
}

#[tokio::test]
async fn authorized_party_override_admits_the_troubleshooting_token() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let app_id = sandbox.config().extension_app_id.clone();
    let token = sandbox
        .extension_token()
        .claim("azp", app_id.clone())
        .sign();
    let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
    let validator = TokenValidator::new(
        extension_policy(&sandbox).with_authorized_party(app_id.clone()),
        keys,
    );
    let caller = validator.validate(&token).await.unwrap();
    assert_eq!(caller.authorized_party(), app_id);
    // ...and the genuine Entra caller is then the wrong party.
    let rejection = validator
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap_err();
    assert_eq!(rejection, TokenRejection::WrongAuthorizedParty);
}

#[tokio::test]
async fn graph_policy_accepts_notification_tokens_only() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = graph_validator(&sandbox);
    let our_app = sandbox.config().graph_client_id.clone();

    let caller = validator
        .validate(&sandbox.graph_notification_token(&our_app).sign())
        .await
        .unwrap();
    assert_eq!(caller.authorized_party(), GRAPH_CHANGE_TRACKING_APP_ID);
    assert_eq!(caller.version(), TokenVersion::V1);
    assert_eq!(caller.tenant_id(), sandbox.tenant_id());
    assert_eq!(caller.audience(), our_app);

    // Graph v2 form (issue #317): login.microsoftonline.com issuer, azp instead of appid.
    let v2 = sandbox
        .graph_notification_token(&our_app)
        .issuer(IssuerKind::LoginV2)
        .claim("ver", "2.0")
        .without_claim("appid")
        .claim("azp", GRAPH_CHANGE_TRACKING_APP_ID)
        .sign();
    let caller = validator.validate(&v2).await.unwrap();
    assert_eq!(caller.version(), TokenVersion::V2);
    assert_eq!(caller.authorized_party(), GRAPH_CHANGE_TRACKING_APP_ID);

    let rejected: Vec<(&str, String, &str)> = vec![
        (
            "extension token for our app (Entra is not Graph)",
            sandbox
                .extension_token()
                .issuer(IssuerKind::LoginV2)
                .claim("aud", our_app.clone())
                .sign(),
            "wrong_authorized_party",
        ),
        (
            "extension token as sent (CIAM issuer)",
            sandbox.extension_token().sign(),
            "wrong_issuer",
        ),
        (
            "notification token for another app",
            sandbox
                .graph_notification_token("8e460676-ae3f-4b1e-8790-ee0fb5d6148f")
                .sign(),
            "wrong_audience",
        ),
        (
            "neither appid nor azp",
            sandbox
                .graph_notification_token(&our_app)
                .without_claim("appid")
                .sign(),
            "missing_claim",
        ),
        (
            "appid Graph but azp another app",
            sandbox
                .graph_notification_token(&our_app)
                .claim("azp", ENTRA_EXTENSION_CALLER_APP_ID)
                .sign(),
            "wrong_authorized_party",
        ),
        (
            "unexpected tenant",
            sandbox
                .graph_notification_token(&our_app)
                .claim("iss", format!("https://sts.windows.net/{OTHER_TENANT}/"))
                .claim("tid", OTHER_TENANT)
                .sign(),
            "wrong_issuer",
        ),
        (
            "tid disagrees with the issuer",
            sandbox
                .graph_notification_token(&our_app)
                .claim("tid", OTHER_TENANT)
                .sign(),
            "wrong_tenant",
        ),
        (
            "CIAM issuer is not a Graph issuer",
            sandbox
                .graph_notification_token(&our_app)
                .issuer(IssuerKind::CiamV2)
                .claim("ver", "2.0")
                .sign(),
            "wrong_issuer",
        ),
        (
            "alg none",
            sandbox
                .graph_notification_token(&our_app)
                .algorithm(SigningAlgorithm::None)
                .sign(),
            "algorithm_not_allowed",
        ),
    ];
    for (name, token, expected) in rejected {
        let kind = validator.validate(&token).await.map(|_| ()).unwrap_err();
        assert_eq!(kind.kind(), expected, "{name}");
    }
}

#[tokio::test]
async fn graph_policy_serves_several_tenants() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let our_app = sandbox.config().graph_client_id.clone();
    let keys = KeySet::new(sandbox.common_discovery_url(), reqwest::Client::new());
    let policy = entra_tokens::CallerPolicy::graph_notification(
        vec![OTHER_TENANT.to_owned(), sandbox.tenant_id().to_uppercase()],
        vec![our_app.clone()],
    );
    let validator = TokenValidator::new(policy, keys);
    validator
        .validate(&sandbox.graph_notification_token(&our_app).sign())
        .await
        .unwrap();
    let other = sandbox
        .graph_notification_token(&our_app)
        .claim("iss", format!("https://sts.windows.net/{OTHER_TENANT}/"))
        .claim("tid", OTHER_TENANT)
        .sign();
    let caller = validator.validate(&other).await.unwrap();
    assert_eq!(caller.tenant_id(), OTHER_TENANT);
}

/// RFC 7519: NumericDate claims are JSON numbers. A correctly signed token whose `iat`, `exp` or
/// `nbf` is a string (or any other non-number) is refused, naming the claim.
#[tokio::test]
async fn lifetime_claims_that_are_not_json_numbers_are_refused() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, KeySetOptions::default());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases: Vec<(&str, Value)> = vec![
        ("iat", json!(now.to_string())),
        ("iat", json!(true)),
        ("nbf", json!((now - 60).to_string())),
        ("nbf", json!(null)),
        ("exp", json!((now + 600).to_string())),
        ("exp", json!([now + 600])),
    ];
    for (claim, value) in cases {
        let token = sandbox.extension_token().claim(claim, value.clone()).sign();
        let rejection = validator.validate(&token).await.unwrap_err();
        // jsonwebtoken already refuses a non-numeric `exp` (as absent, or the claims as malformed);
        // `iat` and `nbf` reach our own check, which names the claim.
        if claim == "exp" {
            assert!(
                ["invalid_claim", "missing_claim", "malformed"].contains(&rejection.kind()),
                "{claim} = {value}: {rejection:?}"
            );
        } else {
            assert_eq!(
                rejection.kind(),
                "invalid_claim",
                "{claim} = {value}: {rejection:?}"
            );
            assert!(
                format!("{rejection:?}").contains(claim),
                "{claim} = {value}: {rejection:?}"
            );
        }
    }
    // Numbers, integral or not, are still fine.
    let token = sandbox
        .extension_token()
        .claim("iat", json!(now as f64 + 0.5))
        .sign();
    validator.validate(&token).await.unwrap();
}
