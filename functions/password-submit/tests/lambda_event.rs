//! Handler tests through the Lambda event path: an API Gateway HTTP API (v2) event, as lambda_http
//! receives it in AWS, converted with `lambda_http::request::from_str` and routed by the function's
//! own router. Tokens are real, signed by the simulated tenant, whose JWKS is fetched over
//! loopback; password contexts are real JWEs minted by the sandbox as Entra would.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use entra_extensions::EventKind;
use entra_extensions::testing::{
    assert_bad_tokens_refused, assert_error, assert_foreign_bodies_refused, invoke_lambda_event,
    sandbox_guard,
};
use entra_sandbox::Sandbox;
use entra_sandbox::password_context::{
    ContentEncryption, KeyManagement, PasswordContextKey, encrypt_password_context,
};
use password_submit::{PATH, PasswordSubmit, router};
use serde_json::{Value, json};

fn app(sandbox: &Sandbox, key: &PasswordContextKey, rules_body: &str) -> axum::Router {
    let state = PasswordSubmit::new(sandbox_guard(sandbox), migration(key, rules_body));
    router(Arc::new(state), 64 * 1024)
}

struct Setup {
    sandbox: Sandbox,
    key: PasswordContextKey,
    token: String,
}

async fn setup() -> Setup {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    Setup {
        sandbox,
        key: PasswordContextKey::generate().unwrap(),
        token,
    }
}

impl Setup {
    fn app(&self) -> axum::Router {
        app(&self.sandbox, &self.key, "timeout_ms = 2000\n")
    }

    fn body(&self, jwe: Option<&str>) -> String {
        docs_request(self.sandbox.tenant_id(), jwe).to_string()
    }

    async fn call(&self, jwe: Option<&str>) -> (u16, Value, http::HeaderMap) {
        let answer = invoke_lambda_event(self.app(), PATH, Some(&self.token), self.body(jwe)).await;
        (answer.status, answer.json, answer.headers)
    }
}

/// The documented request with a real context for a correct password gets exactly the
/// documented MigratePassword response, with the decrypted nonce in place of the placeholder.
#[tokio::test]
async fn correct_password_gets_the_documented_migrate_response() {
    let setup = setup().await;
    let jwe = context_jwe(&setup.key, "casey@contoso.com", "Casey-pw-1");
    let (status, json, headers) = setup.call(Some(&jwe)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(headers["content-type"], "application/json");
    let mut expected = read_vector("passwordSubmit.response.MigratePassword.json");
    assert_eq!(expected["data"]["nonce"], "{nonce-value-from-external-id}");
    expected["data"]["nonce"] = json!(NONCE);
    assert_eq!(json, expected);
}

/// The docs vector carries the placeholder `{5-part-JWE}`, which no key opens. Real Entra never
/// sends it, so it is a client error: 400 with a stable code, not an action.
#[tokio::test]
async fn the_docs_placeholder_context_is_a_400() {
    let setup = setup().await;
    let (status, json, _) = setup.call(None).await;
    assert_eq!(status, 400);
    assert_eq!(
        json,
        json!({"error": {
            "code": "undecryptable_password_context",
            "message": "encryptedPasswordContext is not a compact JWE (expected 5 dot-separated parts, found 1)",
        }})
    );
}

#[tokio::test]
async fn every_supported_algorithm_pair_is_answered() {
    let setup = setup().await;
    for alg in KeyManagement::ACCEPTED {
        for enc in ContentEncryption::ALL {
            let jwe = encrypt_password_context(
                setup.key.certificate_pem(),
                alg,
                enc,
                "jordan@contoso.com",
                PBKDF2_PASSWORD,
                NONCE,
            )
            .unwrap();
            let (status, json, _) = setup.call(Some(&jwe)).await;
            assert_eq!(status, 200, "{alg:?} {enc:?}: {json}");
            assert_eq!(
                json["data"]["actions"][0]["@odata.type"],
                "microsoft.graph.passwordSubmit.MigratePassword"
            );
            assert_eq!(json["data"]["nonce"], NONCE);
        }
    }
}

/// Tampering, a foreign key and refused algorithms are all 400 `undecryptable_password_context`
/// with one generic message for the cryptographic failures.
#[tokio::test]
async fn contexts_we_cannot_open_are_400_undecryptable() {
    let setup = setup().await;
    let other = PasswordContextKey::generate().unwrap();
    let good = context_jwe(&setup.key, "casey@contoso.com", "Casey-pw-1");
    let parts: Vec<&str> = good.split('.').collect();
    let flip_last_byte = |index: usize| {
        let mut bytes = URL_SAFE_NO_PAD.decode(parts[index]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        let mut parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        parts[index] = URL_SAFE_NO_PAD.encode(bytes);
        parts.join(".")
    };
    let generic = "encryptedPasswordContext could not be decrypted with the configured key (wrong key, or the JWE was altered)";
    let cases = [
        (flip_last_byte(3), generic),
        (flip_last_byte(4), generic),
        (flip_last_byte(1), generic),
        (
            context_jwe(&other, "casey@contoso.com", "Casey-pw-1"),
            generic,
        ),
        (
            encrypt_password_context(
                setup.key.certificate_pem(),
                KeyManagement::Rsa1_5,
                ContentEncryption::A128CbcHs256,
                "casey@contoso.com",
                "Casey-pw-1",
                NONCE,
            )
            .unwrap(),
            "encryptedPasswordContext uses key management \"RSA1_5\", which is refused; only RSA-OAEP-256 and RSA-OAEP are accepted",
        ),
    ];
    for (jwe, message) in cases {
        let (status, json, _) = setup.call(Some(&jwe)).await;
        assert_eq!(status, 400);
        assert_eq!(
            json,
            json!({"error": {"code": "undecryptable_password_context", "message": message}})
        );
    }
}

#[tokio::test]
async fn a_context_without_a_nonce_is_400_invalid() {
    let setup = setup().await;
    let jwe = entra_sandbox::password_context::encrypt_jwe(
        setup.key.public_key_pem(),
        KeyManagement::RsaOaep256,
        ContentEncryption::A256Gcm,
        &serde_json::Map::new(),
        entra_sandbox::password_context::unsigned_jwt(
            &json!({"user-password": "Casey-pw-1", "username": "casey@contoso.com"}),
        )
        .as_bytes(),
    )
    .unwrap();
    let (status, json, _) = setup.call(Some(&jwe)).await;
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "invalid_password_context");
}

#[tokio::test]
async fn wrong_password_retry_and_disabled_block_over_http() {
    let setup = setup().await;
    let jwe = context_jwe(&setup.key, "casey@contoso.com", "not-it");
    let (status, json, _) = setup.call(Some(&jwe)).await;
    assert_eq!(status, 200);
    assert_eq!(
        json,
        json!({"data": {
            "@odata.type": "microsoft.graph.onPasswordSubmitResponseData",
            "actions": [{"@odata.type": "microsoft.graph.passwordSubmit.Retry"}],
            "nonce": NONCE,
        }})
    );
    let jwe = context_jwe(&setup.key, "pat@contoso.com", "Pat-pw-4444");
    let (status, json, _) = setup.call(Some(&jwe)).await;
    assert_eq!(status, 200);
    assert_eq!(
        json["data"]["actions"],
        json!([{
            "@odata.type": "microsoft.graph.passwordSubmit.Block",
            "title": "Sign-in blocked",
            "message": "Admin has blocked your sign-in attempt. Please contact support.",
        }])
    );
    let jwe = context_jwe(&setup.key, "sam@contoso.com", "Sam-pw-333");
    let (_, json, _) = setup.call(Some(&jwe)).await;
    assert_eq!(
        json["data"]["actions"][0]["@odata.type"],
        "microsoft.graph.passwordSubmit.UpdatePassword"
    );
}

#[tokio::test]
async fn missing_or_foreign_tokens_get_401_before_any_decryption() {
    let setup = setup().await;
    let body = setup.body(Some(&context_jwe(
        &setup.key,
        "casey@contoso.com",
        "Casey-pw-1",
    )));
    let foreign = setup
        .sandbox
        .extension_token()
        .claim("azp", "11111111-2222-3333-4444-555555555555")
        .sign();
    assert_bad_tokens_refused(|| setup.app(), PATH, &foreign, &body).await;
    // Valid token, body for another tenant.
    let other_tenant = docs_request(
        "aaaabbbb-0000-cccc-1111-dddd2222eeee",
        Some(&context_jwe(&setup.key, "casey@contoso.com", "Casey-pw-1")),
    );
    let answer = invoke_lambda_event(
        setup.app(),
        PATH,
        Some(&setup.token),
        other_tenant.to_string(),
    )
    .await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn malformed_foreign_and_oversized_bodies() {
    let setup = setup().await;
    assert_foreign_bodies_refused(
        || setup.app(),
        PATH,
        &setup.token,
        &docs_request(setup.sandbox.tenant_id(), None),
        EventKind::EmailOtpSend,
    )
    .await;
    let mut no_context = docs_request(setup.sandbox.tenant_id(), None);
    no_context["data"]
        .as_object_mut()
        .unwrap()
        .remove("encryptedPasswordContext");
    let cases = [
        (no_context.to_string(), 400, "invalid_callout"),
        (
            {
                let mut big = docs_request(setup.sandbox.tenant_id(), None);
                big["padding"] = json!("x".repeat(70 * 1024));
                big.to_string()
            },
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let answer = invoke_lambda_event(setup.app(), PATH, Some(&setup.token), body).await;
        assert_error(&answer, status, code);
    }
}
