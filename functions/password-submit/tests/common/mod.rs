//! Shared test material: the documented passwordSubmit request with a real JWE in place of its
//! placeholder, keys, user tables and rules.

#![allow(dead_code)] // each test crate uses a different subset

use std::sync::Arc;

use argon2::password_hash::PasswordHasher as _;
use entra_extensions::PasswordSubmitRequest;
use entra_extensions::testing;
use entra_platform::SecretValue;
use entra_sandbox::password_context::{
    ContentEncryption, KeyManagement, PasswordContextKey, encrypt_password_context,
};
use password_submit::{
    LegacyCredential, LegacyHash, LegacyUserTable, PasswordContextDecryptor, PasswordMigration,
    PasswordSubmitRules, SECTION,
};
use serde_json::{Value, json};

/// The nonce every minted context carries.
pub const NONCE: &str = "9f1c2b7e-4d3a-4e8f-b6a5-0c1d2e3f4a5b";

/// The documented (`docs/`) vector `name`.
pub fn read_vector(name: &str) -> Value {
    testing::vector(&format!("docs/{name}"))
}

/// The documented request for `tenant_id`, with `jwe` as `encryptedPasswordContext` (the
/// placeholder `{5-part-JWE}` when `None`).
pub fn docs_request(tenant_id: &str, jwe: Option<&str>) -> Value {
    let mut body = read_vector("passwordSubmit.request.json");
    body["data"]["tenantId"] = json!(tenant_id);
    if let Some(jwe) = jwe {
        body["data"]["encryptedPasswordContext"] = json!(jwe);
    }
    body
}

/// The documented request parsed, with `jwe`.
pub fn parsed_request(jwe: &str) -> PasswordSubmitRequest {
    let body = docs_request("aaaabbbb-0000-cccc-1111-dddd2222eeee", Some(jwe));
    PasswordSubmitRequest::parse(body.to_string().as_bytes()).unwrap()
}

/// A context as Entra sends it (RSA-OAEP-256, A256GCM) for `key`.
pub fn context_jwe(key: &PasswordContextKey, username: &str, password: &str) -> String {
    encrypt_password_context(
        key.certificate_pem(),
        KeyManagement::RsaOaep256,
        ContentEncryption::A256Gcm,
        username,
        password,
        NONCE,
    )
    .unwrap()
}

/// Cheap hashes for tests, one per scheme.
pub fn bcrypt_hash(password: &str) -> LegacyHash {
    LegacyHash::parse(&bcrypt::hash(password, 4).unwrap()).unwrap()
}

pub fn argon2_hash(password: &str) -> LegacyHash {
    argon2_hash_with(password, 256, 1)
}

pub fn argon2_hash_with(password: &str, memory_kib: u32, passes: u32) -> LegacyHash {
    let params = argon2::Params::new(memory_kib, passes, 1, None).unwrap();
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    LegacyHash::parse(
        &hasher
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string(),
    )
    .unwrap()
}

/// PBKDF2-SHA256 of "correct horse battery staple" (passlib form, computed by Python hashlib).
pub const PBKDF2_PASSWORD: &str = "correct horse battery staple";
pub const PBKDF2_HASH: &str =
    "$pbkdf2-sha256$29000$AQIDBAUGBwgJCgsMDQ4PEA$iRBkQ1El5j2Ll8eLrDcBT5JZZOmzYlGHf7YryTIcZ7Y";

pub fn credential(hash: LegacyHash) -> LegacyCredential {
    LegacyCredential {
        hash,
        disabled: false,
        must_change: false,
    }
}

/// The demo table most tests use:
/// - casey@contoso.com / "Casey-pw-1" (bcrypt)
/// - alex@contoso.com / "Alex-pw-22" (Argon2id)
/// - jordan@contoso.com / PBKDF2_PASSWORD (PBKDF2)
/// - sam@contoso.com / "Sam-pw-333" (must_change)
/// - pat@contoso.com / "Pat-pw-4444" (disabled)
/// - riley@contoso.com / "Short1"
pub fn demo_table() -> LegacyUserTable {
    LegacyUserTable::from_credentials([
        (
            "casey@contoso.com".to_owned(),
            credential(bcrypt_hash("Casey-pw-1")),
        ),
        (
            "alex@contoso.com".to_owned(),
            credential(argon2_hash("Alex-pw-22")),
        ),
        (
            "jordan@contoso.com".to_owned(),
            credential(LegacyHash::parse(PBKDF2_HASH).unwrap()),
        ),
        (
            "sam@contoso.com".to_owned(),
            LegacyCredential {
                must_change: true,
                ..credential(bcrypt_hash("Sam-pw-333"))
            },
        ),
        (
            "pat@contoso.com".to_owned(),
            LegacyCredential {
                disabled: true,
                ..credential(bcrypt_hash("Pat-pw-4444"))
            },
        ),
        (
            "riley@contoso.com".to_owned(),
            credential(bcrypt_hash("Short1")),
        ),
    ])
}

/// `[password_submit]` from TOML text (the section header is added).
pub fn rules(section_body: &str) -> PasswordSubmitRules {
    testing::parse_rules(&format!("[password_submit]\n{section_body}"), SECTION)
}

pub fn decryptor(key: &PasswordContextKey) -> PasswordContextDecryptor {
    PasswordContextDecryptor::from_pem(&SecretValue::new(key.private_key_pem())).unwrap()
}

/// Migration with the demo table and `rules_body`.
pub fn migration(key: &PasswordContextKey, rules_body: &str) -> PasswordMigration {
    PasswordMigration::new(rules(rules_body), decryptor(key), Arc::new(demo_table()))
}
