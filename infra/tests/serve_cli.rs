//! `entra-hooks serve` end to end: the real binary, configured for a tenant whose discovery
//! document and signing key are this test's own (not the simulated tenant's), answers callouts
//! carrying tokens signed with that key, refuses others, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Entra's app id for custom authentication extension calls (the `azp` of every callout token).
const ENTRA_CALLER: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";
const TENANT: &str = "0a1b2c3d-1111-4222-8333-444455556666";
const EXTENSION_APP: &str = "5e6f7a8b-9999-4aaa-8bbb-ccccddddeeee";
const KID: &str = "serve-test-key";

/// A signing key and the discovery + JWKS documents that publish it, on loopback.
struct Issuer {
    encoding: EncodingKey,
    discovery_url: String,
}

impl Issuer {
    async fn start() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = pair.as_der().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let public = pair.public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "kid": KID, "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]});

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let discovery = json!({
            "issuer": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
            "jwks_uri": format!("http://{address}/discovery/keys"),
        });
        let app = Router::new()
            .route(
                "/v2.0/.well-known/openid-configuration",
                get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/discovery/keys",
                get(move || async move { axum::Json(jwks) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            encoding,
            discovery_url: format!("http://{address}/v2.0/.well-known/openid-configuration"),
        }
    }

    /// A v2 extension-callback token as Entra issues it; `edit` changes claims before signing.
    fn token(&self, edit: impl FnOnce(&mut Value)) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = json!({
            "aud": EXTENSION_APP,
            "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
            "iat": now, "nbf": now, "exp": now + 3600,
            "azp": ENTRA_CALLER, "azpacr": "0", "idtyp": "app",
            "oid": "ef2111ea-6063-4c7f-972a-30349e88fff9",
            "sub": "ef2111ea-6063-4c7f-972a-30349e88fff9",
            "tid": TENANT, "ver": "2.0",
        });
        edit(&mut claims);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }
}

/// The running `entra-hooks serve`, killed when dropped.
struct Served {
    child: Child,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn serve(issuer: &Issuer, rules: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    let config_path = dir.path().join("entra-hooks.toml");
    std::fs::write(
        &config_path,
        format!(
            "[tenant]\nid = \"{TENANT}\"\nname = \"servetest\"\n\n[extension]\napp_id = \"{EXTENSION_APP}\"\n\n[auth]\ndiscovery_url = \"{}\"\n\n[mailer]\nkind = \"folder\"\nfrom = \"Contoso <no-reply@contoso.example>\"\nfolder = \"{}\"\n",
            issuer.discovery_url,
            dir.path().join("mail").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config_path)
        .arg("--rules")
        .arg(&rules_path)
        .env_remove("ENTRA_HOOKS_RULES")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Logs go to stdout too (as in Lambda): find the line that names the address, then keep
    // draining the pipe so the server never blocks on a full one.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.trim()
                .strip_prefix("listening on http://")
                .map(str::to_owned)
        })
        .expect("serve printed its address")
        .parse()
        .unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    Served {
        child,
        address,
        _dir: dir,
    }
}

fn callout_body() -> String {
    let vector = std::fs::read_to_string(
        root().join("tests/vectors/extension-callbacks/docs/tokenIssuanceStart.request.json"),
    )
    .unwrap();
    let mut body: Value = serde_json::from_str(&vector).unwrap();
    body["data"]["tenantId"] = json!(TENANT);
    body.to_string()
}

const RULES: &str = r#"
[token_issuance_start]
[[token_issuance_start.claims]]
name = "brand"
source = "constant"
value = "Contoso"

[[token_issuance_start.claims]]
name = "correlationId"
source = "context"
field = "correlation_id"
"#;

async fn post(served: &Served, path: &str, token: Option<&str>, body: String) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}{path}", served.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn serves_every_function_for_a_real_tenant_configuration() {
    let issuer = Issuer::start().await;
    let served = serve(&issuer, RULES);

    let health = reqwest::get(format!("http://{}/health", served.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let token = issuer.token(|_| {});
    let body = callout_body();
    let (status, answer) = post(
        &served,
        "/extensions/token-issuance-start",
        Some(&token),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let claims = &answer["data"]["actions"][0]["claims"];
    assert_eq!(claims["brand"], "Contoso");
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        claims["correlationId"],
        sent["data"]["authenticationContext"]["correlationId"]
    );

    // The same token again (Entra reuses it until it expires) is still admitted.
    let (status, _) = post(
        &served,
        "/extensions/token-issuance-start",
        Some(&token),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);

    // The other functions are mounted (a bad body is their 400, not a 404).
    for path in [
        "/extensions/attribute-collection-start",
        "/extensions/attribute-collection-submit",
        "/extensions/email-otp-send",
    ] {
        let (status, answer) = post(&served, path, Some(&token), "{}".into()).await;
        assert_eq!(status, 400, "{path}: {answer}");
    }
    // password-submit needs its [password_submit] rules; without them it is not served.
    let (status, _) = post(
        &served,
        "/extensions/password-submit",
        Some(&token),
        body.clone(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn refuses_tokens_the_configured_tenant_did_not_issue_for_us() {
    let issuer = Issuer::start().await;
    let served = serve(&issuer, RULES);
    let body = callout_body();
    let path = "/extensions/token-issuance-start";

    let (status, _) = post(&served, path, None, body.clone()).await;
    assert_eq!(status, 401, "no token");

    let wrong_audience = issuer.token(|claims| claims["aud"] = json!("someone-else"));
    let expired = issuer.token(|claims| {
        claims["exp"] = json!(1_000);
        claims["nbf"] = json!(900);
        claims["iat"] = json!(900);
    });
    let wrong_party = issuer.token(|claims| claims["azp"] = json!(EXTENSION_APP));
    let string_iat = issuer.token(|claims| claims["iat"] = json!("1795000000"));
    for (case, token) in [
        ("wrong audience", wrong_audience),
        ("expired", expired),
        ("wrong authorized party", wrong_party),
        ("iat as a string", string_iat),
    ] {
        let (status, _) = post(&served, path, Some(&token), body.clone()).await;
        assert_eq!(status, 401, "{case}");
    }

    // A token signed by another key with the same kid: the signature check refuses it.
    let other = Issuer::start().await;
    let (status, _) = post(&served, path, Some(&other.token(|_| {})), body.clone()).await;
    assert_eq!(status, 401, "foreign signature");

    // The body must name the token's tenant.
    let mut foreign_body: Value = serde_json::from_str(&body).unwrap();
    foreign_body["data"]["tenantId"] = json!("99999999-1111-4222-8333-444455556666");
    let (status, _) = post(
        &served,
        path,
        Some(&issuer.token(|_| {})),
        foreign_body.to_string(),
    )
    .await;
    assert_eq!(status, 401, "tenant mismatch");
}

#[tokio::test]
async fn stops_on_sigterm_after_answering() {
    let issuer = Issuer::start().await;
    let mut served = serve(&issuer, RULES);
    let (status, _) = post(
        &served,
        "/extensions/token-issuance-start",
        Some(&issuer.token(|_| {})),
        callout_body(),
    )
    .await;
    assert_eq!(status, 200);

    let pid = served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_configuration_error_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("entra-hooks.toml");
    std::fs::write(&config, "[tenant]\nid = \"not-a-guid\"\nname = \"x\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tenant.id"), "{stderr}");
}
