//! Contexts encrypted by an independent JOSE implementation (joserfc; see
//! fixtures/joserfc_vectors.py) open with our decryptor, with the key in PKCS#8 and PKCS#1 form.
//! Guards against a mistake shared by our decryptor and the sandbox encrypter (both ours).

use entra_platform::SecretValue;
use password_submit::{PasswordContextDecryptor, PasswordContextError};
use serde_json::Value;

const VECTORS: &str = include_str!("fixtures/joserfc-vectors.json");

#[test]
fn joserfc_contexts_open_for_every_supported_algorithm_pair() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    for form in ["private_key_pkcs8_pem", "private_key_pkcs1_pem"] {
        let pem = SecretValue::new(vectors[form].as_str().unwrap());
        let decryptor = PasswordContextDecryptor::from_pem(&pem).unwrap();
        let cases = vectors["vectors"].as_array().unwrap();
        assert_eq!(cases.len(), 8);
        for case in cases {
            let context = decryptor.decrypt(case["jwe"].as_str().unwrap()).unwrap();
            let claims = &case["claims"];
            assert_eq!(
                context.username(),
                claims["username"],
                "{form} {}",
                case["enc"]
            );
            assert_eq!(context.password().expose(), claims["user-password"]);
            assert_eq!(context.nonce(), claims["nonce"]);
        }
        let err = decryptor
            .decrypt(vectors["rsa1_5_jwe"].as_str().unwrap())
            .unwrap_err();
        assert_eq!(
            err,
            PasswordContextError::UnsupportedKeyManagement {
                alg: "RSA1_5".into()
            }
        );
    }
}
