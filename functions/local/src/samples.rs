//! Callout bodies exactly as Entra sends them, addressed to the sandbox tenant and its demo data,
//! for the `/local/samples/...` routes, the banner's commands and the end-to-end tests.

use serde_json::{Value, json};

use entra_sandbox::SandboxConfig;
use entra_sandbox::directory::{DEMO_USER_EMAIL, DEMO_USER_ID};

/// The client application of the demo sign-ins ("Contoso Shop").
pub const DEMO_CLIENT_APP_ID: &str = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// The address a demo sign-up uses.
pub const SIGN_UP_EMAIL: &str = "nora.lee@example.com";
/// The one-time code of the OTP sample.
pub const SAMPLE_OTP_CODE: &str = "84630271";
/// The legacy account of the password-submit sample, and its password in the shipped demo table
/// (functions/password-submit/legacy-users.example.toml).
pub const LEGACY_USERNAME: &str = "casey@contoso.com";
pub const LEGACY_PASSWORD: &str = "Casey-Legacy-2019!";

fn envelope(config: &SandboxConfig, kind: &str, data_type: &str, correlation_id: &str) -> Value {
    let tenant = &config.tenant_id;
    let app = json!({
        "id": "0c1d2e3f-4a5b-4c6d-8e7f-000000000004",
        "appId": DEMO_CLIENT_APP_ID,
        "appDisplayName": "Contoso Shop",
        "displayName": "Contoso Shop"
    });
    json!({
        "type": format!("microsoft.graph.authenticationEvent.{kind}"),
        "source": format!("/tenants/{tenant}/applications/{DEMO_CLIENT_APP_ID}"),
        "data": {
            "@odata.type": data_type,
            "tenantId": tenant,
            "authenticationEventListenerId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000001",
            "customAuthenticationExtensionId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000002",
            "authenticationContext": {
                "correlationId": correlation_id,
                "client": { "ip": "127.0.0.1", "locale": "en-us", "market": "en-us" },
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": app.clone(),
                "resourceServicePrincipal": app
            }
        }
    })
}

/// tokenIssuanceStart for `user_id` (the sandbox's demo customer by default).
pub fn token_issuance_start_for(
    config: &SandboxConfig,
    user_id: &str,
    display_name: &str,
) -> Value {
    let mut body = envelope(
        config,
        "tokenIssuanceStart",
        "microsoft.graph.onTokenIssuanceStartCalloutData",
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
    );
    body["data"]["authenticationContext"]["user"] = json!({
        "displayName": display_name,
        "id": user_id,
        "userPrincipalName": format!("{user_id}@{}.onmicrosoft.com", config.tenant_name),
        "userType": "Member"
    });
    body
}

/// tokenIssuanceStart for the sandbox's demo customer (Ava Thompson).
pub fn token_issuance_start(config: &SandboxConfig) -> Value {
    let mut body = token_issuance_start_for(config, DEMO_USER_ID, "Ava Thompson");
    body["data"]["authenticationContext"]["user"]["mail"] = json!(DEMO_USER_EMAIL);
    body
}

fn sign_up_identities(config: &SandboxConfig) -> Value {
    json!([{
        "signInType": "email",
        "issuer": format!("{}.onmicrosoft.com", config.tenant_name),
        "issuerAssignedId": SIGN_UP_EMAIL
    }])
}

fn string_attribute(value: &str, attribute_type: &str) -> Value {
    json!({
        "@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
        "value": value,
        "attributeType": attribute_type
    })
}

/// attributeCollectionStart of a new customer signing up with email.
pub fn attribute_collection_start(config: &SandboxConfig) -> Value {
    let mut body = envelope(
        config,
        "attributeCollectionStart",
        "microsoft.graph.onAttributeCollectionStartCalloutData",
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000010",
    );
    body["data"]["userSignUpInfo"] = json!({
        "attributes": { "email": string_attribute(SIGN_UP_EMAIL, "builtIn") },
        "identities": sign_up_identities(config)
    });
    body
}

/// attributeCollectionSubmit of that sign-up: values as a person types them (spaces, lower case).
pub fn attribute_collection_submit(config: &SandboxConfig, loyalty_number: &str) -> Value {
    let mut body = envelope(
        config,
        "attributeCollectionSubmit",
        "microsoft.graph.onAttributeCollectionSubmitCalloutData",
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000010",
    );
    let extension = config.extension_app_id.replace('-', "");
    let mut attributes = serde_json::Map::new();
    attributes.insert("email".into(), string_attribute(SIGN_UP_EMAIL, "builtIn"));
    attributes.insert(
        "displayName".into(),
        string_attribute("  Nora   Lee ", "builtIn"),
    );
    attributes.insert("country".into(), string_attribute("us", "builtIn"));
    attributes.insert(
        format!("extension_{extension}_loyaltyNumber"),
        string_attribute(loyalty_number, "directorySchemaExtension"),
    );
    body["data"]["userSignUpInfo"] = json!({
        "attributes": attributes,
        "identities": sign_up_identities(config)
    });
    body
}

/// emailOtpSend for the sign-up address.
pub fn email_otp_send(config: &SandboxConfig, code: &str) -> Value {
    let mut body = envelope(
        config,
        "emailOtpSend",
        "microsoft.graph.onOtpSendCalloutData",
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000010",
    );
    body["data"]["otpContext"] = json!({ "identifier": SIGN_UP_EMAIL, "oneTimeCode": code });
    body["data"]["authenticationContext"]["requestType"] = json!("signUp");
    body
}

/// passwordSubmit for the legacy demo account, with `encrypted_context` (a compact JWE).
pub fn password_submit(config: &SandboxConfig, encrypted_context: &str) -> Value {
    let mut body = envelope(
        config,
        "passwordSubmit",
        "microsoft.graph.onPasswordSubmitCalloutData",
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000020",
    );
    body["data"]["encryptedPasswordContext"] = json!(encrypted_context);
    body["data"]["authenticationContext"]["user"] = json!({
        "displayName": "Casey Jensen",
        "id": "0c1d2e3f-4a5b-4c6d-8e7f-000000000021",
        "mail": LEGACY_USERNAME,
        "userPrincipalName": LEGACY_USERNAME,
        "userType": "Member"
    });
    body
}
