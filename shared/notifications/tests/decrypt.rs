//! Rich-notification decryption through the public API (docs/protocols/change-notifications.md
//! B.4, B.5): Microsoft's public vector through its PKCS#12 file, our generated vector, content
//! sealed here the way Graph seals it (for rotation and each failed check), and key loading.

use std::path::PathBuf;

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{KeySize, OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PrivateDecryptingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use entra_notifications::decrypt::{DecryptError, DecryptionKeys};
use entra_notifications::wire::EncryptedContent;
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/change-notifications")
}

fn read_vector(name: &str) -> (EncryptedContent, Value) {
    let vector: Value =
        serde_json::from_slice(&std::fs::read(vectors().join(name)).unwrap()).unwrap();
    let content = serde_json::from_value(vector["encryptedContent"].clone()).unwrap();
    (content, vector)
}

fn generated_key_pem() -> String {
    std::fs::read_to_string(vectors().join("generated-vector.key.pem")).unwrap()
}

fn microsoft_pfx() -> Vec<u8> {
    let text = std::fs::read_to_string(vectors().join("microsoft-dotnet-core.pfx.b64")).unwrap();
    STANDARD.decode(text.trim()).unwrap()
}

fn pem_block(tag: &str, der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {tag}-----\n{}\n-----END {tag}-----\n",
        lines.join("\n")
    )
}

/// A fresh RSA key: its PKCS#8 PEM and the public half to seal content to.
fn fresh_key() -> (String, OaepPublicEncryptingKey) {
    let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    let der = AsDer::<Pkcs8V1Der>::as_der(&key).unwrap();
    let public = OaepPublicEncryptingKey::new(key.public_key()).unwrap();
    (pem_block("PRIVATE KEY", der.as_ref()), public)
}

/// Signs `data` (already encrypted, or deliberately not) and wraps `symmetric`, as Graph does.
fn seal_raw(
    public: &OaepPublicEncryptingKey,
    id: &str,
    symmetric: &[u8],
    data: &[u8],
) -> EncryptedContent {
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA1_MGF1SHA1, symmetric, &mut wrapped, None)
        .unwrap();
    let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, symmetric), data);
    EncryptedContent {
        data: STANDARD.encode(data),
        data_signature: STANDARD.encode(signature.as_ref()),
        data_key: STANDARD.encode(wrapped),
        encryption_certificate_id: id.to_owned(),
        encryption_certificate_thumbprint: None,
    }
}

/// Encrypts `plaintext` the way Graph does: AES-256-CBC, IV = key[0..16], PKCS#7.
fn seal(
    public: &OaepPublicEncryptingKey,
    id: &str,
    symmetric: &[u8; 32],
    plaintext: &[u8],
) -> EncryptedContent {
    let cipher =
        PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, symmetric).unwrap())
            .unwrap();
    let iv: [u8; 16] = symmetric[..16].try_into().unwrap();
    let mut data = plaintext.to_vec();
    cipher
        .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap();
    seal_raw(public, id, symmetric, &data)
}

#[test]
fn microsofts_public_vector_decrypts_through_its_pkcs12_file() {
    let (content, vector) = read_vector("microsoft-dotnet-core.vector.json");
    assert_eq!(vector["pkcs12Password"], "rich");
    // RC2-40 certificate bag, 3DES key bag, SHA-1 MAC, certificate expired in 2023.
    let mut keys = DecryptionKeys::new();
    keys.insert_pkcs12(Some("custom-id-for-testing"), &microsoft_pfx(), "rich")
        .unwrap();
    let plaintext = keys.decrypt(&content).unwrap();
    assert_eq!(plaintext.len(), 1297);
    assert_eq!(
        std::str::from_utf8(&plaintext).unwrap(),
        vector["expectedPlaintext"].as_str().unwrap()
    );
    let message = keys.decrypt_json(&content).unwrap();
    assert_eq!(message["etag"], "1625126194597");
    assert_eq!(message["body"]["content"], "Hello World");
    assert_eq!(message["body"]["contentType"], "text");

    // The certificate in the file is the one Graph names: a wrong thumbprint is caught first.
    let mut other = content.clone();
    other.encryption_certificate_thumbprint =
        Some("07293748CC064953A3052FB978C735FB89E61C3D".into());
    assert_eq!(
        keys.decrypt(&other).unwrap_err(),
        DecryptError::ThumbprintMismatch {
            id: "custom-id-for-testing".into(),
            notification: "07293748CC064953A3052FB978C735FB89E61C3D".into(),
            ours: "4B95353E086AD37196606ACF834A14532F03E6DB".into(),
        }
    );
    let mut lowercase = content.clone();
    lowercase.encryption_certificate_thumbprint =
        Some("4b95353e086ad37196606acf834a14532f03e6db".into());
    assert!(keys.decrypt(&lowercase).is_ok());
}

#[test]
fn a_pkcs12_key_without_an_id_is_tried_for_any_certificate_id() {
    let (content, _) = read_vector("microsoft-dotnet-core.vector.json");
    let mut keys = DecryptionKeys::new();
    keys.insert_pkcs12(None, &microsoft_pfx(), "rich").unwrap();
    let mut renamed = content.clone();
    renamed.encryption_certificate_id = "whatever-id".into();
    assert_eq!(
        keys.decrypt_json(&renamed).unwrap()["etag"],
        "1625126194597"
    );
}

#[test]
fn the_generated_vector_decrypts_to_its_expected_plaintext() {
    let (content, vector) = read_vector("generated-vector.json");
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &generated_key_pem())
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&keys.decrypt(&content).unwrap()).unwrap(),
        vector["expectedPlaintext"].as_str().unwrap()
    );
    assert_eq!(
        keys.decrypt_json(&content).unwrap()["displayName"],
        "Test Vector"
    );
}

#[test]
fn generated_pkcs12_files_legacy_and_aes_load_and_decrypt() {
    let (mut content, vector) = read_vector("generated-vector.json");
    // The vector's thumbprint is of a throwaway certificate that is not in these files.
    content.encryption_certificate_thumbprint = None;
    for file in ["generated-vector.legacy.pfx", "generated-vector.aes.pfx"] {
        let der = std::fs::read(vectors().join(file)).unwrap();
        let mut keys = DecryptionKeys::new();
        keys.insert_pkcs12(Some("test-vector-cert"), &der, "vector-password")
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            std::str::from_utf8(&keys.decrypt(&content).unwrap()).unwrap(),
            vector["expectedPlaintext"].as_str().unwrap(),
            "{file}"
        );
        let wrong = DecryptionKeys::new().insert_pkcs12(None, &der, "not the password");
        assert!(matches!(wrong, Err(DecryptError::Pkcs12(_))), "{file}");
    }
}

#[test]
fn tampered_data_is_a_signature_mismatch_and_is_never_decrypted() {
    let (content, _) = read_vector("generated-vector.json");
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &generated_key_pem())
        .unwrap();
    let mut tampered = content.clone();
    let mut data = STANDARD.decode(&tampered.data).unwrap();
    data[0] ^= 1;
    tampered.data = STANDARD.encode(&data);
    assert_eq!(
        keys.decrypt(&tampered).unwrap_err(),
        DecryptError::SignatureMismatch
    );
    // Truncated data would be a padding error if it reached the cipher; the signature stops it.
    let mut truncated = content.clone();
    truncated.data = STANDARD.encode(&STANDARD.decode(&content.data).unwrap()[..15]);
    assert_eq!(
        keys.decrypt(&truncated).unwrap_err(),
        DecryptError::SignatureMismatch
    );
}

#[test]
fn a_tampered_signature_is_a_signature_mismatch() {
    let (content, _) = read_vector("generated-vector.json");
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &generated_key_pem())
        .unwrap();
    let mut signature = STANDARD.decode(&content.data_signature).unwrap();
    signature[31] ^= 0x80;
    let mut tampered = content.clone();
    tampered.data_signature = STANDARD.encode(&signature);
    assert_eq!(
        keys.decrypt(&tampered).unwrap_err(),
        DecryptError::SignatureMismatch
    );
    let mut short = content.clone();
    short.data_signature = STANDARD.encode(&signature[..16]);
    assert_eq!(
        keys.decrypt(&short).unwrap_err(),
        DecryptError::SignatureMismatch
    );
}

#[test]
fn another_rsa_key_under_the_same_id_is_a_key_unwrap_failure() {
    let (content, _) = read_vector("generated-vector.json");
    let (other, _) = fresh_key();
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &other).unwrap();
    assert_eq!(keys.decrypt(&content).unwrap_err(), DecryptError::KeyUnwrap);
}

#[test]
fn an_unknown_certificate_id_is_named() {
    let (content, _) = read_vector("generated-vector.json");
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &generated_key_pem())
        .unwrap();
    let mut retired = content.clone();
    retired.encryption_certificate_id = "retired-2025".into();
    let error = keys.decrypt(&retired).unwrap_err();
    assert_eq!(
        error,
        DecryptError::UnknownCertificate("retired-2025".into())
    );
    assert!(error.to_string().contains("\"retired-2025\""), "{error}");
    assert!(DecryptionKeys::new().is_empty());
}

#[test]
fn two_keys_live_at_once_each_decrypt_their_own_content() {
    let (pem_2026, public_2026) = fresh_key();
    let (generated, _) = read_vector("generated-vector.json");
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &generated_key_pem())
        .unwrap();
    keys.insert_pem("cert-2026", &pem_2026).unwrap();

    let current = seal(&public_2026, "cert-2026", &[7u8; 32], br#"{"id":"2026"}"#);
    assert_eq!(keys.decrypt_json(&current).unwrap()["id"], "2026");
    assert_eq!(
        keys.decrypt_json(&generated).unwrap()["displayName"],
        "Test Vector"
    );
    // Each id picks its own key: content sealed to one key but naming the other id fails.
    let mut misnamed = current.clone();
    misnamed.encryption_certificate_id = "test-vector-cert".into();
    assert_eq!(
        keys.decrypt(&misnamed).unwrap_err(),
        DecryptError::KeyUnwrap
    );
    // Never shows key material.
    assert_eq!(
        format!("{keys:?}"),
        "DecryptionKeys { certificate_ids: [\"cert-2026\", \"test-vector-cert\"], any_certificate_id: false }"
    );
}

#[test]
fn each_remaining_check_has_its_own_error() {
    let (pem, public) = fresh_key();
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("k", &pem).unwrap();

    let short_key = seal_raw(&public, "k", &[1u8; 16], &[0u8; 32]);
    assert_eq!(
        keys.decrypt(&short_key).unwrap_err(),
        DecryptError::KeyLength(16)
    );

    let not_whole_blocks = seal_raw(&public, "k", &[2u8; 32], &[0u8; 15]);
    assert_eq!(
        keys.decrypt(&not_whole_blocks).unwrap_err(),
        DecryptError::Padding
    );

    let not_utf8 = seal(&public, "k", &[3u8; 32], &[0xff, 0xfe, 0x00]);
    assert_eq!(
        keys.decrypt(&not_utf8).unwrap().as_slice(),
        &[0xff, 0xfe, 0x00]
    );
    assert_eq!(
        keys.decrypt_json(&not_utf8).unwrap_err(),
        DecryptError::NotUtf8
    );

    let not_json = seal(&public, "k", &[4u8; 32], b"Hello World");
    assert!(matches!(
        keys.decrypt_json(&not_json).unwrap_err(),
        DecryptError::NotJson(_)
    ));

    let sealed = seal(&public, "k", &[5u8; 32], b"{}");
    for (field, mutate) in [
        (
            "data",
            (|c: &mut EncryptedContent| c.data = "%%%".into()) as fn(&mut EncryptedContent),
        ),
        ("dataSignature", |c| c.data_signature = "not base64!".into()),
        ("dataKey", |c| c.data_key = "*".into()),
    ] {
        let mut broken = sealed.clone();
        mutate(&mut broken);
        let error = keys.decrypt(&broken).unwrap_err();
        assert_eq!(error, DecryptError::NotBase64(field));
        assert_eq!(error.to_string(), format!("{field} is not base64"));
    }
}

#[test]
fn a_certificate_next_to_a_pem_key_is_checked_and_enables_the_thumbprint_check() {
    let (content, _) = read_vector("generated-vector.json");
    // The certificate of the generated key, as the legacy PFX holds it.
    let der = std::fs::read(vectors().join("generated-vector.legacy.pfx")).unwrap();
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&der, "vector-password").unwrap();
    let certificate = pem_block("CERTIFICATE", archive.certs[0].cert.as_der());

    let mut keys = DecryptionKeys::new();
    keys.insert_pem(
        "test-vector-cert",
        &format!("{certificate}{}", generated_key_pem()),
    )
    .unwrap();
    // Graph named the throwaway certificate 0A2812…, not the one we hold.
    assert!(matches!(
        keys.decrypt(&content).unwrap_err(),
        DecryptError::ThumbprintMismatch { ref notification, .. }
            if notification == "0A2812BC47F878B3015D0BD27B5CA15CE923A0F8"
    ));
    let mut without = content.clone();
    without.encryption_certificate_thumbprint = None;
    assert!(keys.decrypt(&without).is_ok());

    // Escaped line breaks (as some secret stores return PEM) work for the certificate too.
    let escaped = format!("{}{certificate}", generated_key_pem()).replace('\n', "\\n");
    let mut keys = DecryptionKeys::new();
    keys.insert_pem("test-vector-cert", &escaped).unwrap();
    assert!(matches!(
        keys.decrypt(&content).unwrap_err(),
        DecryptError::ThumbprintMismatch { .. }
    ));

    // Microsoft's certificate does not belong to our key: refused at load, not at decryption.
    let microsoft = p12_keystore::Pkcs12Archive::from_pkcs12(&microsoft_pfx(), "rich").unwrap();
    let foreign = pem_block("CERTIFICATE", microsoft.certs[0].cert.as_der());
    let error = DecryptionKeys::new()
        .insert_pem(
            "test-vector-cert",
            &format!("{}{foreign}", generated_key_pem()),
        )
        .unwrap_err();
    assert!(
        matches!(&error, DecryptError::Certificate { id, reason }
            if id == "test-vector-cert" && reason.contains("belongs to it")),
        "{error}"
    );
}

#[test]
fn keys_that_cannot_be_used_are_refused_at_load_without_panicking() {
    assert!(matches!(
        DecryptionKeys::new().insert_pem("x", "not a key"),
        Err(DecryptError::Key { .. })
    ));
    assert!(matches!(
        DecryptionKeys::new().insert_pem_for_any_id(""),
        Err(DecryptError::Key { .. })
    ));
    let der = microsoft_pfx();
    for length in [0, 1, 4, 100, der.len() / 2, der.len() - 1] {
        assert!(
            matches!(
                DecryptionKeys::new().insert_pkcs12(None, &der[..length], "rich"),
                Err(DecryptError::Pkcs12(_))
            ),
            "truncated to {length}"
        );
    }
    let error = DecryptionKeys::new()
        .insert_pkcs12(Some("x"), &der, "wrong")
        .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("check the file and its password"),
        "{error}"
    );
}

#[test]
fn a_pem_key_for_any_id_decrypts_whatever_id_the_notification_names() {
    let (mut content, _) = read_vector("generated-vector.json");
    content.encryption_certificate_id = "not-configured".into();
    let mut keys = DecryptionKeys::new();
    keys.insert_pem_for_any_id(&generated_key_pem()).unwrap();
    assert!(!keys.is_empty());
    assert_eq!(
        keys.decrypt_json(&content).unwrap()["displayName"],
        "Test Vector"
    );
    assert_eq!(
        format!("{keys:?}"),
        "DecryptionKeys { certificate_ids: [], any_certificate_id: true }"
    );
}
