//! The shapes of `directoryAudit` and `signIn` records, and deterministic synthetic ones.
//!
//! Shapes and member order follow the examples of the List directoryAudits and List signIns pages
//! (see the parent module). A generated record is a pure function of (stream, generator seed,
//! index): ids and correlation ids are UUIDs derived from a SplitMix64 hash of those three, and the
//! hash picks the customer, application, device, location, outcome and activity, so contents vary
//! like a real customer tenant's logs but two runs give the same bytes. Typed structs with borrowed
//! strings keep serialising a 1,000-record page cheap.
//!
//! Documented quirk reproduced: group-membership audits ("Add member to group", "Remove member from
//! group") name their target type `Type` (capital T), as Graph's own example does; other targets
//! use `type`. Clients must accept both.

use std::borrow::Cow;

use serde::Serialize;

use super::AuditStream;
use super::store::Generator;
use super::timestamp::{self, Ticks};

type Text = Cow<'static, str>;

/// What generated records need to know about the tenant.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    /// `{tenant_name}.onmicrosoft.com`
    pub(crate) domain: String,
    pub(crate) tenant_id: String,
    pub(crate) tenant_name: String,
    /// Our Graph client: the app that initiates changes made through the Graph routes.
    pub(crate) graph_client_id: String,
}

/// Display name Entra shows for the Graph client in `initiatedBy.app`.
pub(crate) const GRAPH_CLIENT_DISPLAY_NAME: &str = "entra-hooks";

// ----- shapes -----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryAudit {
    pub(crate) id: String,
    pub(crate) category: Text,
    pub(crate) correlation_id: String,
    pub(crate) result: Text,
    pub(crate) result_reason: Text,
    pub(crate) activity_display_name: Text,
    pub(crate) activity_date_time: String,
    pub(crate) logged_by_service: Text,
    pub(crate) operation_type: Text,
    pub(crate) initiated_by: InitiatedBy,
    pub(crate) target_resources: Vec<TargetResource>,
    pub(crate) additional_details: Vec<KeyValue>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct InitiatedBy {
    pub(crate) user: Option<UserIdentity>,
    pub(crate) app: Option<AppIdentity>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserIdentity {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) user_principal_name: Option<String>,
    pub(crate) ip_address: Option<String>,
    pub(crate) user_type: Option<Text>,
    pub(crate) home_tenant_id: Option<String>,
    pub(crate) home_tenant_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppIdentity {
    pub(crate) app_id: String,
    pub(crate) display_name: Text,
    pub(crate) service_principal_id: String,
    pub(crate) service_principal_name: Option<Text>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetResource {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<Text>,
    /// The documented capital-T variant of `type`.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub(crate) legacy_kind: Option<Text>,
    pub(crate) user_principal_name: Option<String>,
    pub(crate) group_type: Option<Text>,
    pub(crate) modified_properties: Vec<ModifiedProperty>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModifiedProperty {
    pub(crate) display_name: Text,
    pub(crate) old_value: Option<String>,
    pub(crate) new_value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyValue {
    pub(crate) key: Text,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignIn {
    id: String,
    created_date_time: String,
    user_display_name: String,
    user_principal_name: String,
    user_id: String,
    app_id: &'static str,
    app_display_name: &'static str,
    ip_address: String,
    client_app_used: &'static str,
    correlation_id: String,
    conditional_access_status: &'static str,
    is_interactive: bool,
    risk_detail: &'static str,
    risk_level_aggregated: &'static str,
    risk_level_during_sign_in: &'static str,
    risk_state: &'static str,
    risk_event_types: Vec<&'static str>,
    #[serde(rename = "riskEventTypes_v2")]
    risk_event_types_v2: Vec<&'static str>,
    resource_display_name: &'static str,
    resource_id: &'static str,
    status: SignInStatus,
    device_detail: DeviceDetail,
    location: SignInLocation,
    applied_conditional_access_policies: Vec<AppliedPolicy>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SignInStatus {
    error_code: u32,
    failure_reason: Option<&'static str>,
    additional_details: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceDetail {
    device_id: &'static str,
    display_name: Option<&'static str>,
    operating_system: &'static str,
    browser: &'static str,
    is_compliant: Option<bool>,
    is_managed: Option<bool>,
    trust_type: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SignInLocation {
    city: &'static str,
    state: &'static str,
    country_or_region: &'static str,
    geo_coordinates: GeoCoordinates,
}

#[derive(Debug, Clone, Serialize)]
struct GeoCoordinates {
    altitude: Option<f64>,
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct AppliedPolicy {
    id: &'static str,
    display_name: &'static str,
    enforced_grant_controls: Vec<&'static str>,
    enforced_session_controls: Vec<&'static str>,
    result: &'static str,
}

// ----- deterministic hashing -----

/// SplitMix64's finaliser: a bijection on u64 with good avalanche.
pub(crate) fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-4-shaped UUID from 128 hash bits.
pub(crate) fn uuid(high: u64, low: u64) -> String {
    let high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
    let low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

/// The hash every property of record `index` of a generator derives from.
fn record_hash(stream: AuditStream, seed: u64, index: u64) -> u64 {
    let salt = match stream {
        AuditStream::DirectoryAudits => 0xD1EC_7A0D_17A0_0001,
        AuditStream::SignIns => 0x5161_0000_0000_0002,
    };
    mix(mix(salt ^ mix(seed)).wrapping_add(index))
}

/// A stream of independent values from one record hash.
struct Picks(u64);

impl Picks {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0 ^ 0xA5A5_A5A5_A5A5_A5A5);
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        // n is a small table length; the modulo bias is irrelevant here.
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    fn pick<'t, T>(&mut self, table: &'t [T]) -> &'t T {
        &table[self.below(table.len())]
    }

    fn percent(&mut self) -> u64 {
        self.next() % 100
    }
}

/// The id of record `index` of a generator (computed without building the record).
pub(crate) fn generated_id(stream: AuditStream, generator: &Generator, index: u64) -> String {
    let hash = record_hash(stream, generator.seed, index);
    match stream {
        AuditStream::SignIns => uuid(mix(hash ^ 1), mix(hash ^ 2)),
        AuditStream::DirectoryAudits => {
            let correlation = uuid(mix(hash ^ 3), mix(hash ^ 4));
            directory_audit_id(&correlation, mix(hash ^ 5))
        }
    }
}

/// `Directory_{correlationId}_{5 characters}_{number}`, the shape of Core Directory audit ids.
pub(crate) fn directory_audit_id(correlation: &str, bits: u64) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let code: String = (0..5)
        .map(|i| char::from(ALPHABET[usize::try_from((bits >> (i * 5)) & 31).unwrap_or(0)]))
        .collect();
    format!(
        "Directory_{correlation}_{code}_{}",
        (bits >> 32) % 1_000_000_000
    )
}

fn correlation(hash: u64) -> String {
    uuid(mix(hash ^ 3), mix(hash ^ 4))
}

// ----- the synthetic tenant -----

const GIVEN_NAMES: [&str; 40] = [
    "Ava", "Liam", "Mia", "Ethan", "Sofia", "Lucas", "Amelia", "Oliver", "Isla", "Mateo", "Chloe",
    "Noah", "Zara", "Leo", "Hana", "Arjun", "Elena", "Kofi", "Freya", "Diego", "Yuki", "Omar",
    "Ingrid", "Tariq", "Lena", "Rafael", "Priya", "Jonas", "Aisha", "Felix", "Nora", "Kenji",
    "Camila", "Emil", "Sara", "Hugo", "Maya", "Luca", "Amara", "Theo",
];
const SURNAMES: [&str; 40] = [
    "Thompson",
    "Okafor",
    "Schneider",
    "Nakamura",
    "Rossi",
    "Johansson",
    "Dubois",
    "Kowalski",
    "Fernandez",
    "Silva",
    "Martin",
    "Garcia",
    "Ahmed",
    "Moreau",
    "Kim",
    "Patel",
    "Novak",
    "Mensah",
    "Larsen",
    "Lopez",
    "Tanaka",
    "Haddad",
    "Berg",
    "Khan",
    "Fischer",
    "Costa",
    "Sharma",
    "Weber",
    "Bello",
    "Wagner",
    "Lindqvist",
    "Sato",
    "Rojas",
    "Nielsen",
    "Cohen",
    "Laurent",
    "Singh",
    "Romano",
    "Eze",
    "Walsh",
];
const CUSTOMER_POOL: u64 = 1600;

struct Customer {
    id: String,
    display_name: String,
    upn: String,
}

fn customer(tenant: &Tenant, number: u64) -> Customer {
    let number = number % CUSTOMER_POOL;
    let id = uuid(mix(number ^ 0xC057_0E00), mix(number ^ 0xC057_0E01));
    let given = GIVEN_NAMES[usize::try_from(number % 40).unwrap_or(0)];
    let surname = SURNAMES[usize::try_from(number / 40 % 40).unwrap_or(0)];
    // External ID customers get `{objectId}@{tenant}.onmicrosoft.com` as their principal name.
    let upn = format!("{id}@{}", tenant.domain);
    Customer {
        id,
        display_name: format!("{given} {surname}"),
        upn,
    }
}

/// (display name, app id)
const APPS: [(&str, &str); 4] = [
    (
        "Woodgrove Groceries",
        "5e0c6f2a-8b1d-4c3e-9f7a-1b2c3d4e5f60",
    ),
    (
        "Woodgrove Groceries mobile",
        "7a1b2c3d-4e5f-4061-8a9b-0c1d2e3f4a5b",
    ),
    (
        "Contoso Rewards portal",
        "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    ),
    (
        "Woodgrove partner API",
        "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    ),
];
/// (display name, resource id)
const RESOURCES: [(&str, &str); 2] = [
    ("Microsoft Graph", "00000003-0000-0000-c000-000000000000"),
    (
        "Woodgrove Groceries API",
        "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b",
    ),
];
/// (operating system, browser, clientAppUsed)
const DEVICES: [(&str, &str, &str); 6] = [
    ("Windows10", "Edge 131.0.2903", "Browser"),
    ("Windows10", "Chrome 131.0.6778", "Browser"),
    ("MacOs", "Safari 18.1", "Browser"),
    (
        "Ios",
        "Mobile Safari 18.1",
        "Mobile Apps and Desktop clients",
    ),
    (
        "Android",
        "Chrome Mobile 131.0.6778",
        "Mobile Apps and Desktop clients",
    ),
    ("Linux", "Firefox 133.0", "Browser"),
];
/// (city, state, country code, latitude, longitude)
const LOCATIONS: [(&str, &str, &str, f64, f64); 10] = [
    (
        "Redmond",
        "Washington",
        "US",
        47.680_500_030_517_58,
        -122.120_941_162_109_38,
    ),
    (
        "Seattle",
        "Washington",
        "US",
        47.606_208_801_269_53,
        -122.332_069_396_972_66,
    ),
    (
        "Toronto",
        "Ontario",
        "CA",
        43.653_224_945_068_36,
        -79.383_186_340_332_03,
    ),
    (
        "London",
        "England",
        "GB",
        51.507_350_921_630_86,
        -0.127_758_003_771_305,
    ),
    (
        "Berlin",
        "Berlin",
        "DE",
        52.520_008_087_158_2,
        13.404_953_956_604_004,
    ),
    (
        "Paris",
        "Ile-de-France",
        "FR",
        48.856_613_159_179_69,
        2.352_221_965_789_795,
    ),
    (
        "Tokyo",
        "Tokyo",
        "JP",
        35.676_193_237_304_69,
        139.650_299_072_265_62,
    ),
    (
        "Sydney",
        "New South Wales",
        "AU",
        -33.868_820_190_429_69,
        151.209_289_550_781_25,
    ),
    (
        "Sao Paulo",
        "Sao Paulo",
        "BR",
        -23.550_519_943_237_3,
        -46.633_308_410_644_53,
    ),
    (
        "Bengaluru",
        "Karnataka",
        "IN",
        12.971_599_578_857_42,
        77.594_566_345_214_84,
    ),
];
/// (error code, failure reason, additional details)
const FAILURES: [(u32, &str, &str); 5] = [
    (
        50126,
        "Error validating credentials due to invalid username or password.",
        "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes.",
    ),
    (
        50053,
        "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        "The account is locked; it unlocks automatically after the lockout period.",
    ),
    (
        50057,
        "User account is disabled. The account has been disabled by an administrator.",
        "The user object in Active Directory backing this account has been disabled.",
    ),
    (
        50074,
        "Strong Authentication is required.",
        "The user must complete multifactor authentication (email one-time passcode) to continue.",
    ),
    (
        1003037,
        "The one-time passcode entered is invalid or has expired.",
        "The customer entered an email one-time passcode that does not match the one sent.",
    ),
];
/// (id, display name)
const POLICIES: [(&str, &str); 3] = [
    (
        "de7e60eb-ed89-4d73-8205-2227def6b7c9",
        "Require MFA for high-risk customer sign-ins",
    ),
    (
        "6701123a-b4c6-48af-8565-565c8bf7cabc",
        "Block sign-ins from unsupported countries",
    ),
    (
        "0f5e3a2b-7c4d-4e1f-9a8b-6c5d4e3f2a1b",
        "Email OTP for the partner API",
    ),
];

fn ip_address(picks: &mut Picks) -> String {
    // Documentation ranges only (RFC 5737, RFC 3849).
    let n = picks.next();
    let octet = n % 254 + 1;
    match (n >> 8) % 4 {
        0 => format!("203.0.113.{octet}"),
        1 => format!("198.51.100.{octet}"),
        2 => format!("192.0.2.{octet}"),
        _ => format!(
            "2001:db8:{:x}::{:x}",
            (n >> 16) & 0xFFFF,
            (n >> 32) & 0xFFFF
        ),
    }
}

/// Sign-in record `index` of `generator`.
pub(crate) fn sign_in(
    tenant: &Tenant,
    generator: &Generator,
    index: u64,
    time: Ticks,
    id: String,
) -> SignIn {
    let hash = record_hash(AuditStream::SignIns, generator.seed, index);
    let mut picks = Picks(hash);
    let customer = customer(tenant, picks.next());
    let (app_display_name, app_id) = *picks.pick(&APPS);
    let (resource_display_name, resource_id) = if app_id == APPS[3].1 {
        RESOURCES[1]
    } else {
        *picks.pick(&RESOURCES)
    };
    let (operating_system, browser, client_app_used) = *picks.pick(&DEVICES);
    let (city, state, country_or_region, latitude, longitude) = *picks.pick(&LOCATIONS);
    let failed = picks.percent() < 12;
    let status = if failed {
        let (code, reason, details) = *picks.pick(&FAILURES);
        SignInStatus {
            error_code: code,
            failure_reason: Some(reason),
            additional_details: Some(details),
        }
    } else {
        SignInStatus {
            error_code: 0,
            failure_reason: None,
            additional_details: None,
        }
    };
    let risky = picks.percent() < 3;
    let (risk_level, risk_state, risk_types): (&str, &str, Vec<&str>) = if risky {
        let kind = *picks.pick(&[
            "unfamiliarFeatures",
            "anonymizedIPAddress",
            "unlikelyTravel",
        ]);
        (
            *picks.pick(&["low", "medium", "high"]),
            "atRisk",
            vec![kind],
        )
    } else {
        ("none", "none", Vec::new())
    };
    let mut policies = Vec::new();
    for (policy_id, policy_name) in POLICIES {
        if picks.percent() < 30 {
            let result = if failed {
                "notApplied"
            } else {
                *picks.pick(&["success", "success", "notApplied", "notEnabled"])
            };
            policies.push(AppliedPolicy {
                id: policy_id,
                display_name: policy_name,
                enforced_grant_controls: if result == "success" {
                    vec!["Mfa"]
                } else {
                    Vec::new()
                },
                enforced_session_controls: Vec::new(),
                result,
            });
        }
    }
    let conditional_access_status = if policies.iter().any(|p| p.result == "success") {
        "success"
    } else {
        "notApplied"
    };
    SignIn {
        id,
        created_date_time: timestamp::format(time),
        user_display_name: customer.display_name,
        user_principal_name: customer.upn,
        user_id: customer.id,
        app_id,
        app_display_name,
        ip_address: ip_address(&mut picks),
        client_app_used,
        correlation_id: correlation(hash),
        conditional_access_status,
        is_interactive: picks.percent() < 80,
        risk_detail: "none",
        risk_level_aggregated: risk_level,
        risk_level_during_sign_in: risk_level,
        risk_state,
        risk_event_types_v2: risk_types.clone(),
        risk_event_types: risk_types,
        resource_display_name,
        resource_id,
        status,
        device_detail: DeviceDetail {
            device_id: "",
            display_name: None,
            operating_system,
            browser,
            is_compliant: None,
            is_managed: None,
            trust_type: None,
        },
        location: SignInLocation {
            city,
            state,
            country_or_region,
            geo_coordinates: GeoCoordinates {
                altitude: None,
                latitude,
                longitude,
            },
        },
        applied_conditional_access_policies: policies,
    }
}

/// `[value]` as Entra writes old and new values: a JSON array in a string.
pub(crate) fn audit_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "[]".to_owned(),
        serde_json::Value::Array(_) => value.to_string(),
        other => format!("[{other}]"),
    }
}

fn changed(name: &'static str, old: Option<&str>, new: &str) -> ModifiedProperty {
    ModifiedProperty {
        display_name: Cow::Borrowed(name),
        old_value: Some(old.map_or_else(|| "[]".to_owned(), |old| audit_value(&old.into()))),
        new_value: Some(audit_value(&new.into())),
    }
}

/// The trailing entry Entra adds to user updates: which properties the change touched.
pub(crate) fn included_updated_properties(names: &[&str]) -> ModifiedProperty {
    ModifiedProperty {
        display_name: Cow::Borrowed("Included Updated Properties"),
        old_value: None,
        new_value: Some(format!("\"{}\"", names.join(", "))),
    }
}

pub(crate) fn user_target(
    id: String,
    display_name: Option<String>,
    upn: Option<String>,
    legacy: bool,
    modified_properties: Vec<ModifiedProperty>,
) -> TargetResource {
    let kind = Some(Cow::Borrowed("User"));
    TargetResource {
        id,
        display_name,
        kind: if legacy { None } else { kind.clone() },
        legacy_kind: if legacy { kind } else { None },
        user_principal_name: upn,
        group_type: None,
        modified_properties,
    }
}

pub(crate) fn graph_client(tenant: &Tenant) -> AppIdentity {
    AppIdentity {
        app_id: tenant.graph_client_id.clone(),
        display_name: Cow::Borrowed(GRAPH_CLIENT_DISPLAY_NAME),
        service_principal_id: uuid(
            mix(hash_str(&tenant.graph_client_id) ^ 0x5E4F),
            mix(hash_str(&tenant.graph_client_id)),
        ),
        service_principal_name: None,
    }
}

fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

fn app_identity(app: (&'static str, &'static str)) -> AppIdentity {
    AppIdentity {
        app_id: app.1.to_owned(),
        display_name: Cow::Borrowed(app.0),
        service_principal_id: uuid(mix(hash_str(app.1)), mix(hash_str(app.0))),
        service_principal_name: None,
    }
}

/// Directory audit record `index` of `generator`.
pub(crate) fn directory_audit(
    tenant: &Tenant,
    generator: &Generator,
    index: u64,
    time: Ticks,
    id: String,
) -> DirectoryAudit {
    let hash = record_hash(AuditStream::DirectoryAudits, generator.seed, index);
    let mut picks = Picks(hash);
    let customer = customer(tenant, picks.next());
    let app = *picks.pick(&APPS);
    let admin = UserIdentity {
        id: uuid(mix(hash_str(&tenant.domain)), mix(0xAD)),
        display_name: Some("Tenant Administrator".to_owned()),
        user_principal_name: Some(format!("admin@{}", tenant.domain)),
        ip_address: Some(ip_address(&mut picks)),
        user_type: Some(Cow::Borrowed("Member")),
        home_tenant_id: Some(tenant.tenant_id.clone()),
        home_tenant_name: Some(tenant.tenant_name.clone()),
    };
    let self_service = UserIdentity {
        id: customer.id.clone(),
        display_name: Some(customer.display_name.clone()),
        user_principal_name: Some(customer.upn.clone()),
        ip_address: Some(ip_address(&mut picks)),
        user_type: Some(Cow::Borrowed("Member")),
        home_tenant_id: Some(tenant.tenant_id.clone()),
        home_tenant_name: Some(tenant.tenant_name.clone()),
    };
    let failed = picks.percent() < 3;
    let roll = picks.percent();
    let user_type = || KeyValue {
        key: Cow::Borrowed("UserType"),
        value: "Member".to_owned(),
    };
    let user = |legacy: bool, properties: Vec<ModifiedProperty>| {
        user_target(
            customer.id.clone(),
            None,
            Some(customer.upn.clone()),
            legacy,
            properties,
        )
    };
    let record = |category: &'static str,
                  service: &'static str,
                  activity: &'static str,
                  operation: &'static str,
                  reason: &'static str,
                  initiated_by: InitiatedBy,
                  targets: Vec<TargetResource>,
                  details: Vec<KeyValue>| DirectoryAudit {
        id: id.clone(),
        category: Cow::Borrowed(category),
        correlation_id: correlation(hash),
        result: Cow::Borrowed(if failed { "failure" } else { "success" }),
        result_reason: Cow::Borrowed(reason),
        activity_display_name: Cow::Borrowed(activity),
        activity_date_time: timestamp::format(time),
        logged_by_service: Cow::Borrowed(service),
        operation_type: Cow::Borrowed(operation),
        initiated_by,
        target_resources: targets,
        additional_details: details,
    };
    let by_app = |app: AppIdentity| InitiatedBy {
        user: None,
        app: Some(app),
    };
    let by_user = |user: UserIdentity| InitiatedBy {
        user: Some(user),
        app: None,
    };
    match roll {
        // Self-service sign-up creates the customer.
        0..20 => record(
            "UserManagement",
            "Core Directory",
            "Add user",
            "Add",
            if failed {
                "Another object with the same value for property userPrincipalName already exists."
            } else {
                ""
            },
            by_app(app_identity(app)),
            vec![user(
                false,
                vec![
                    changed("AccountEnabled", None, "true"),
                    changed("DisplayName", None, &customer.display_name),
                    changed("UserPrincipalName", None, &customer.upn),
                    changed("UserType", None, "Member"),
                    included_updated_properties(&[
                        "AccountEnabled",
                        "DisplayName",
                        "UserPrincipalName",
                        "UserType",
                    ]),
                ],
            )],
            vec![user_type()],
        ),
        20..50 => {
            let (name, old, new) = *picks.pick(&[
                ("DisplayName", "Customer", "Customer Name"),
                ("AccountEnabled", "true", "false"),
                ("AccountEnabled", "false", "true"),
                ("Mail", "old@example.com", "new@example.com"),
                ("ShowInAddressList", "true", "false"),
            ]);
            let (old, new) = if name == "DisplayName" {
                (old.to_owned(), customer.display_name.clone())
            } else {
                (old.to_owned(), new.to_owned())
            };
            record(
                "UserManagement",
                "Core Directory",
                "Update user",
                "Update",
                "",
                if picks.percent() < 50 {
                    by_app(graph_client(tenant))
                } else {
                    by_user(admin)
                },
                vec![user(
                    false,
                    vec![
                        changed(name, Some(&old), &new),
                        included_updated_properties(&[name]),
                    ],
                )],
                vec![user_type()],
            )
        }
        50..55 => record(
            "UserManagement",
            "Core Directory",
            "Delete user",
            "Delete",
            "",
            by_app(graph_client(tenant)),
            vec![user(false, Vec::new())],
            vec![user_type()],
        ),
        55..72 => {
            let adding = roll < 67;
            let (group_id, group_name) = *picks.pick(&[
                ("9b3e5f70-2c1d-4a8b-b6e4-000000000002", "Customers - Gold"),
                ("9b3e5f70-2c1d-4a8b-b6e4-000000000003", "Customers - Silver"),
                (
                    "9b3e5f70-2c1d-4a8b-b6e4-000000000004",
                    "Newsletter subscribers",
                ),
            ]);
            let (group_old, group_new) = if adding {
                (None, Some(format!("\"{group_id}\"")))
            } else {
                (Some(format!("\"{group_id}\"")), None)
            };
            let (name_old, name_new) = if adding {
                (None, Some(format!("\"{group_name}\"")))
            } else {
                (Some(format!("\"{group_name}\"")), None)
            };
            let group = TargetResource {
                id: group_id.to_owned(),
                display_name: Some(group_name.to_owned()),
                kind: None,
                legacy_kind: Some(Cow::Borrowed("Group")),
                user_principal_name: None,
                group_type: Some(Cow::Borrowed("azureAD")),
                modified_properties: Vec::new(),
            };
            record(
                "GroupManagement",
                "Core Directory",
                if adding {
                    "Add member to group"
                } else {
                    "Remove member from group"
                },
                if adding { "Assign" } else { "Unassign" },
                "",
                by_app(graph_client(tenant)),
                vec![
                    group,
                    user(
                        true,
                        vec![
                            ModifiedProperty {
                                display_name: Cow::Borrowed("Group.ObjectID"),
                                old_value: group_old,
                                new_value: group_new,
                            },
                            ModifiedProperty {
                                display_name: Cow::Borrowed("Group.DisplayName"),
                                old_value: name_old,
                                new_value: name_new,
                            },
                        ],
                    ),
                ],
                Vec::new(),
            )
        }
        72..87 => record(
            "UserManagement",
            "Self-service Password Management",
            "Reset password (self-service)",
            "Update",
            if failed {
                "User's account is locked"
            } else {
                "Successfully completed reset."
            },
            by_user(self_service),
            vec![user(false, Vec::new())],
            vec![KeyValue {
                key: Cow::Borrowed("MethodsUsedForValidation"),
                value: "Email".to_owned(),
            }],
        ),
        87..95 => {
            let app = *picks.pick(&APPS);
            record(
                "ApplicationManagement",
                "Core Directory",
                "Update application",
                "Update",
                "",
                by_user(admin),
                vec![TargetResource {
                    id: uuid(mix(hash_str(app.1) ^ 1), mix(hash_str(app.1) ^ 2)),
                    display_name: Some(app.0.to_owned()),
                    kind: Some(Cow::Borrowed("Application")),
                    legacy_kind: None,
                    user_principal_name: None,
                    group_type: None,
                    modified_properties: vec![
                        ModifiedProperty {
                            display_name: Cow::Borrowed("AppAddress"),
                            old_value: Some("[]".to_owned()),
                            new_value: Some(format!(
                                "[{{\"AddressType\":0,\"Address\":\"https://{}.example.com/signin-oidc\",\"ReplyAddressClientType\":1,\"ReplyAddressIndex\":null,\"IsReplyAddressDefault\":false}}]",
                                app.0.to_ascii_lowercase().replace(' ', "-")
                            )),
                        },
                        included_updated_properties(&["AppAddress"]),
                    ],
                }],
                vec![KeyValue {
                    key: Cow::Borrowed("AppId"),
                    value: app.1.to_owned(),
                }],
            )
        }
        _ => record(
            "ApplicationManagement",
            "Core Directory",
            "Consent to application",
            "Assign",
            "",
            by_user(self_service),
            vec![TargetResource {
                id: app_identity(app).service_principal_id,
                display_name: Some(app.0.to_owned()),
                kind: Some(Cow::Borrowed("ServicePrincipal")),
                legacy_kind: None,
                user_principal_name: None,
                group_type: None,
                modified_properties: vec![ModifiedProperty {
                    display_name: Cow::Borrowed("ConsentAction.Permissions"),
                    old_value: None,
                    new_value: Some(format!(
                        "[] => [[Id: {}, ClientId: {}, PrincipalId: {}, ResourceId: {}, ConsentType: Principal, Scope: openid offline_access profile]]; ",
                        uuid(mix(hash ^ 7), mix(hash ^ 8)),
                        app.1,
                        customer.id,
                        RESOURCES[0].1
                    )),
                }],
            }],
            vec![KeyValue {
                key: Cow::Borrowed("User-Agent"),
                value: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".to_owned(),
            }],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        Tenant {
            domain: "contoso.onmicrosoft.com".into(),
            tenant_id: "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93".into(),
            tenant_name: "contoso".into(),
            graph_client_id: "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50".into(),
        }
    }

    #[test]
    fn generated_records_are_deterministic_and_varied() {
        let generator = Generator {
            seed: 0,
            first: 0,
            spacing: 1,
            count: 500,
        };
        let a = generated_id(AuditStream::SignIns, &generator, 7);
        assert_eq!(a, generated_id(AuditStream::SignIns, &generator, 7));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        let ids: std::collections::HashSet<_> = (0..500)
            .map(|i| generated_id(AuditStream::SignIns, &generator, i))
            .collect();
        assert_eq!(ids.len(), 500);
        let activities: std::collections::HashSet<String> = (0..500)
            .map(|i| {
                let id = generated_id(AuditStream::DirectoryAudits, &generator, i);
                directory_audit(&tenant(), &generator, i, 0, id)
                    .activity_display_name
                    .into_owned()
            })
            .collect();
        assert!(activities.len() >= 7, "{activities:?}");
        let failures = (0..500)
            .filter(|i| {
                let id = generated_id(AuditStream::SignIns, &generator, *i);
                sign_in(&tenant(), &generator, *i, 0, id).status.error_code != 0
            })
            .count();
        assert!((20..120).contains(&failures), "{failures}");
    }
}
