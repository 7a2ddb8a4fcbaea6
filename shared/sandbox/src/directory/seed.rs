//! Deterministic demo customers and groups for `SandboxConfig::seed_demo_data`.
//!
//! 25 customer accounts as an External ID tenant holds them (docs/protocols/graph-api.md A.8): local
//! email accounts (identity issuer `{tenant_name}.onmicrosoft.com`, sign-in type `emailAddress`) and
//! social accounts federated from `google.com` and `facebook.com`, with custom attributes stored as
//! `extension_{appIdNoDashes}_{name}`. Groups include a nested one ("Customers - Gold" is a member of
//! "Customers - VIP") so transitive membership has something to find. Ids never change, so demos and
//! tests can name them through the constants below.

use serde_json::{Map, Value, json};

use super::Directory;
use crate::SandboxConfig;

/// Ava Thompson: local email account, loyalty tier Gold, member of "Customers - Gold" (and so,
/// transitively, of "Customers - VIP").
pub const DEMO_USER_ID: &str = "5d0c7a1e-3b2f-4c6d-8e9a-000000000001";
/// Ava Thompson's sign-in email (`identities[0].issuerAssignedId`).
pub const DEMO_USER_EMAIL: &str = "ava.thompson@example.com";
/// Noah Garcia: a customer who signs in with Google.
pub const DEMO_GOOGLE_USER_ID: &str = "5d0c7a1e-3b2f-4c6d-8e9a-000000000016";
/// Noah Garcia's Google subject, the `issuerAssignedId` of his `google.com` identity.
pub const DEMO_GOOGLE_SUBJECT: &str = "108234567890123456716";
/// Lucas Moreau: a customer who signs in with Facebook.
pub const DEMO_FACEBOOK_USER_ID: &str = "5d0c7a1e-3b2f-4c6d-8e9a-000000000021";
/// How many users the seed creates.
pub const DEMO_USER_COUNT: usize = 25;
/// "Customers - VIP": contains "Customers - Gold" (a nested group) and one direct member.
pub const DEMO_GROUP_VIP_ID: &str = "9b3e5f70-2c1d-4a8b-b6e4-000000000001";
/// "Customers - Gold": customers whose loyalty tier is Gold; itself a member of VIP.
pub const DEMO_GROUP_GOLD_ID: &str = "9b3e5f70-2c1d-4a8b-b6e4-000000000002";
/// "Customers - Silver".
pub const DEMO_GROUP_SILVER_ID: &str = "9b3e5f70-2c1d-4a8b-b6e4-000000000003";
/// "Newsletter subscribers": customers who gave marketing consent.
pub const DEMO_GROUP_NEWSLETTER_ID: &str = "9b3e5f70-2c1d-4a8b-b6e4-000000000004";
/// "Fraud review": an empty group.
pub const DEMO_GROUP_FRAUD_REVIEW_ID: &str = "9b3e5f70-2c1d-4a8b-b6e4-000000000005";

/// Custom attributes the demo users carry, by name (as in `extension_{appIdNoDashes}_{name}`).
pub const DEMO_EXTENSION_ATTRIBUTES: [&str; 3] =
    ["loyaltyTier", "loyaltyNumber", "marketingConsent"];

/// `extension_{appIdNoDashes}_{name}`: how a custom user attribute is named on the user object.
pub fn extension_property(app_id: &str, name: &str) -> String {
    format!("extension_{}_{}", app_id.replace('-', ""), name)
}

enum Account {
    Email(&'static str),
    Google(&'static str),
    Facebook(&'static str),
}

/// (given name, surname, account, loyalty tier, marketing consent)
const CUSTOMERS: [(&str, &str, Account, &str, bool); DEMO_USER_COUNT] = [
    (
        "Ava",
        "Thompson",
        Account::Email(DEMO_USER_EMAIL),
        "Gold",
        true,
    ),
    (
        "Liam",
        "Okafor",
        Account::Email("liam.okafor@example.com"),
        "Silver",
        false,
    ),
    (
        "Mia",
        "Schneider",
        Account::Email("mia.schneider@example.org"),
        "Bronze",
        true,
    ),
    (
        "Ethan",
        "Nakamura",
        Account::Email("ethan.nakamura@example.net"),
        "Gold",
        false,
    ),
    (
        "Sofia",
        "Rossi",
        Account::Email("sofia.rossi@example.com"),
        "Silver",
        true,
    ),
    (
        "Lucas",
        "Johansson",
        Account::Email("lucas.johansson@example.org"),
        "Bronze",
        false,
    ),
    (
        "Amelia",
        "Dubois",
        Account::Email("amelia.dubois@example.com"),
        "Gold",
        true,
    ),
    (
        "Oliver",
        "Kowalski",
        Account::Email("oliver.kowalski@example.net"),
        "Bronze",
        false,
    ),
    (
        "Isla",
        "Fernandez",
        Account::Email("isla.fernandez@example.com"),
        "Silver",
        true,
    ),
    (
        "Mateo",
        "Silva",
        Account::Email("mateo.silva@example.org"),
        "Bronze",
        true,
    ),
    (
        "Chloe",
        "O'Brien",
        Account::Email("chloe.obrien@example.com"),
        "Gold",
        false,
    ),
    (
        "Henry",
        "Lindqvist",
        Account::Email("henry.lindqvist@example.net"),
        "Bronze",
        false,
    ),
    (
        "Zara",
        "Ahmed",
        Account::Email("zara.ahmed@example.com"),
        "Silver",
        true,
    ),
    (
        "Leo",
        "Novak",
        Account::Email("leo.novak@example.org"),
        "Bronze",
        false,
    ),
    (
        "Grace",
        "Mensah",
        Account::Email("grace.mensah@example.com"),
        "Bronze",
        true,
    ),
    (
        "Noah",
        "Garcia",
        Account::Google(DEMO_GOOGLE_SUBJECT),
        "Gold",
        true,
    ),
    (
        "Emma",
        "Wilson",
        Account::Google("108234567890123456717"),
        "Silver",
        false,
    ),
    (
        "Yusuf",
        "Demir",
        Account::Google("108234567890123456718"),
        "Bronze",
        true,
    ),
    (
        "Hana",
        "Kim",
        Account::Google("108234567890123456719"),
        "Bronze",
        false,
    ),
    (
        "Arjun",
        "Patel",
        Account::Google("108234567890123456720"),
        "Silver",
        true,
    ),
    (
        "Lucas",
        "Moreau",
        Account::Facebook("10158765432109821"),
        "Bronze",
        true,
    ),
    (
        "Freya",
        "Hansen",
        Account::Facebook("10158765432109822"),
        "Gold",
        false,
    ),
    (
        "Diego",
        "Alvarez",
        Account::Facebook("10158765432109823"),
        "Bronze",
        false,
    ),
    (
        "Aisha",
        "Bello",
        Account::Facebook("10158765432109824"),
        "Silver",
        true,
    ),
    (
        "Tom",
        "Byrne",
        Account::Facebook("10158765432109825"),
        "Bronze",
        false,
    ),
];

/// (id, display name, description)
const GROUPS: [(&str, &str, &str); 5] = [
    (
        DEMO_GROUP_VIP_ID,
        "Customers - VIP",
        "Customers with VIP benefits, including every Gold customer.",
    ),
    (
        DEMO_GROUP_GOLD_ID,
        "Customers - Gold",
        "Customers in the Gold loyalty tier.",
    ),
    (
        DEMO_GROUP_SILVER_ID,
        "Customers - Silver",
        "Customers in the Silver loyalty tier.",
    ),
    (
        DEMO_GROUP_NEWSLETTER_ID,
        "Newsletter subscribers",
        "Customers who agreed to marketing email.",
    ),
    (
        DEMO_GROUP_FRAUD_REVIEW_ID,
        "Fraud review",
        "Accounts held for manual review.",
    ),
];

/// Id of the n-th seeded user (1-based), e.g. `5d0c7a1e-3b2f-4c6d-8e9a-000000000001`.
pub fn demo_user_id(n: usize) -> String {
    format!("5d0c7a1e-3b2f-4c6d-8e9a-{n:012}")
}

pub(super) fn seed(directory: &mut Directory, config: &SandboxConfig) {
    let domain = format!("{}.onmicrosoft.com", config.tenant_name);
    let ext = |name: &str| extension_property(&config.extension_app_id, name);
    for (index, (given, surname, account, tier, consent)) in CUSTOMERS.iter().enumerate() {
        let n = index + 1;
        let id = demo_user_id(n);
        let (mail, identity, creation_type) = match account {
            Account::Email(email) => (
                (*email).to_owned(),
                json!({"signInType": "emailAddress", "issuer": domain, "issuerAssignedId": email}),
                Some("LocalAccount"),
            ),
            Account::Google(subject) => (
                format!(
                    "{}.{}@gmail.example",
                    given.to_lowercase(),
                    surname.to_lowercase()
                ),
                json!({"signInType": "federated", "issuer": "google.com", "issuerAssignedId": subject}),
                None,
            ),
            Account::Facebook(subject) => (
                format!(
                    "{}.{}@facebook.example",
                    given.to_lowercase(),
                    surname.to_lowercase()
                ),
                json!({"signInType": "federated", "issuer": "facebook.com", "issuerAssignedId": subject}),
                None,
            ),
        };
        let mut user = Map::new();
        user.insert("id".into(), json!(id));
        user.insert("displayName".into(), json!(format!("{given} {surname}")));
        user.insert("givenName".into(), json!(given));
        user.insert("surname".into(), json!(surname));
        user.insert("mail".into(), json!(mail));
        user.insert("otherMails".into(), json!([]));
        user.insert("userPrincipalName".into(), json!(format!("{id}@{domain}")));
        user.insert("accountEnabled".into(), json!(true));
        user.insert("userType".into(), json!("Member"));
        user.insert(
            "creationType".into(),
            creation_type.map_or(Value::Null, |c| json!(c)),
        );
        user.insert("identities".into(), json!([identity]));
        user.insert(
            "createdDateTime".into(),
            json!(format!("2025-01-{:02}T09:{:02}:00Z", (n % 28) + 1, n)),
        );
        if matches!(account, Account::Email(_)) {
            user.insert(
                "passwordPolicies".into(),
                json!("DisablePasswordExpiration"),
            );
        }
        user.insert(ext("loyaltyTier"), json!(tier));
        user.insert(
            ext("loyaltyNumber"),
            json!(format!("LN-{:06}", 100_000 + n)),
        );
        user.insert(ext("marketingConsent"), json!(consent));
        directory.users.push(user);
    }
    for (id, name, description) in GROUPS {
        let mut group = Map::new();
        group.insert("id".into(), json!(id));
        group.insert("displayName".into(), json!(name));
        group.insert("description".into(), json!(description));
        group.insert(
            "mailNickname".into(),
            json!(
                name.to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            ),
        );
        group.insert("mailEnabled".into(), json!(false));
        group.insert("securityEnabled".into(), json!(true));
        group.insert("groupTypes".into(), json!([]));
        group.insert("createdDateTime".into(), json!("2025-01-01T08:00:00Z"));
        directory.groups.push(group);
    }
    let mut add = |group: &str, member: String| {
        directory
            .members
            .entry(group.to_owned())
            .or_default()
            .push(member);
    };
    add(DEMO_GROUP_VIP_ID, DEMO_GROUP_GOLD_ID.to_owned());
    add(DEMO_GROUP_VIP_ID, demo_user_id(2));
    for (index, (_, _, _, tier, consent)) in CUSTOMERS.iter().enumerate() {
        let id = demo_user_id(index + 1);
        match *tier {
            "Gold" => add(DEMO_GROUP_GOLD_ID, id.clone()),
            "Silver" => add(DEMO_GROUP_SILVER_ID, id.clone()),
            _ => {}
        }
        if *consent {
            add(DEMO_GROUP_NEWSLETTER_ID, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_name_seeded_objects() {
        assert_eq!(demo_user_id(1), DEMO_USER_ID);
        assert_eq!(demo_user_id(16), DEMO_GOOGLE_USER_ID);
        assert_eq!(demo_user_id(21), DEMO_FACEBOOK_USER_ID);
        assert_eq!(
            extension_property("7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13", "loyaltyTier"),
            "extension_7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13_loyaltyTier"
        );
    }
}
