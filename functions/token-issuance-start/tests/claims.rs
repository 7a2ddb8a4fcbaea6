//! Claims from every source against the simulated tenant over HTTP: the demo customer Ava Thompson
//! (loyalty tier Gold, member of "Customers - Gold", which is nested in "Customers - VIP"), client
//! application scoping, the one-read-per-source-kind promise, the cache, the 3 KB limit and
//! custom extensions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{OTHER_APP_ID, SHOP_APP_ID};
use entra_extensions::{ClaimValue, TokenIssuanceStartRequest};
use entra_sandbox::directory::{
    DEMO_GOOGLE_USER_ID, DEMO_GROUP_FRAUD_REVIEW_ID, DEMO_GROUP_GOLD_ID, DEMO_GROUP_VIP_ID,
    DEMO_USER_ID,
};
use serde_json::json;
use token_issuance_start::{ClaimsContext, ClaimsExtension, ClaimsExtensionError};

fn decoded(path_and_query: &str) -> String {
    path_and_query.replace("%24", "$").replace("%2C", ",")
}

#[tokio::test]
async fn every_source_for_the_demo_customer_in_one_answer() {
    let sandbox = common::sandbox().await;
    let rules = format!(
        r#"
[[token_issuance_start.claims]]
name = "displayName"
source = "user"
attribute = "displayName"

[[token_issuance_start.claims]]
name = "givenName"
source = "user"
attribute = "givenName"

[[token_issuance_start.claims]]
name = "creationType"
source = "user"
attribute = "creationType"

[[token_issuance_start.claims]]
name = "otherMails"
source = "user"
attribute = "otherMails"
default = "none"

[[token_issuance_start.claims]]
name = "jobTitle"
source = "user"
attribute = "jobTitle"

[[token_issuance_start.claims]]
name = "loyaltyTier"
source = "extension"
attribute = "loyaltyTier"

[[token_issuance_start.claims]]
name = "marketingConsent"
source = "extension"
attribute = "marketingConsent"

[[token_issuance_start.claims]]
name = "tierList"
source = "extension"
attribute = "loyaltyTier"
multi = true

[[token_issuance_start.claims]]
name = "customerGroups"
source = "groups"
prefix = "customers - "

[[token_issuance_start.claims]]
name = "tiers"
source = "groups"
prefix = "Customers - "
strip_prefix = true
multi = false

[[token_issuance_start.claims]]
name = "vipIds"
source = "groups"
ids = ["{vip}", "{fraud}"]
emit = "ids"

[[token_issuance_start.claims]]
name = "fraudReview"
source = "groups"
ids = ["{fraud}"]
default = "no"

[[token_issuance_start.claims]]
name = "clientAppId"
source = "context"
field = "client_app_id"

[[token_issuance_start.claims]]
name = "clientApp"
source = "context"
field = "client_app_display_name"

[[token_issuance_start.claims]]
name = "resourceAppId"
source = "context"
field = "resource_app_id"

[[token_issuance_start.claims]]
name = "locale"
source = "context"
field = "locale"

[[token_issuance_start.claims]]
name = "market"
source = "context"
field = "market"

[[token_issuance_start.claims]]
name = "ip"
source = "context"
field = "ip"

[[token_issuance_start.claims]]
name = "protocol"
source = "context"
field = "protocol"

[[token_issuance_start.claims]]
name = "correlationId"
source = "context"
field = "correlation_id"

[[token_issuance_start.claims]]
name = "tenantId"
source = "context"
field = "tenant_id"

[[token_issuance_start.claims]]
name = "brand"
source = "constant"
value = "Contoso"

[[token_issuance_start.claims]]
name = "features"
source = "constant"
value = ["wishlist"]
"#,
        vip = DEMO_GROUP_VIP_ID,
        fraud = DEMO_GROUP_FRAUD_REVIEW_ID,
    );
    let app = common::app(&sandbox, &rules);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    sandbox.faults().clear_request_log();
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200, "{response}");
    common::assert_conformant(&response);
    assert_eq!(
        serde_json::Value::Object(common::claims(&response).clone()),
        json!({
            "displayName": "Ava Thompson",
            "givenName": "Ava",
            "creationType": "LocalAccount",
            "otherMails": "none",
            "loyaltyTier": "Gold",
            "marketingConsent": "true",
            "tierList": ["Gold"],
            "customerGroups": ["Customers - Gold", "Customers - VIP"],
            "tiers": "Gold,VIP",
            "vipIds": [DEMO_GROUP_VIP_ID],
            "fraudReview": "no",
            "clientAppId": SHOP_APP_ID,
            "clientApp": "Contoso Shop",
            "resourceAppId": "<Your Test Application App Id>",
            "locale": "en-us",
            "market": "en-us",
            "ip": "30.51.176.110",
            "protocol": "OAUTH2.0",
            "correlationId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
            "tenantId": sandbox.tenant_id(),
            "brand": "Contoso",
            "features": ["wishlist"],
        })
    );

    // One user read with every property in one $select (displayName came with the callout), one
    // membership read.
    let users = common::user_reads(&sandbox, DEMO_USER_ID);
    assert_eq!(users.len(), 1, "{users:#?}");
    let ext = |name: &str| {
        entra_sandbox::directory::extension_property(&sandbox.config().extension_app_id, name)
    };
    let query = decoded(&users[0].path_and_query);
    let select: Vec<&str> = query.split_once("$select=").unwrap().1.split(',').collect();
    let mut expected = vec![
        "creationType".to_owned(),
        ext("loyaltyTier"),
        ext("marketingConsent"),
        "givenName".to_owned(),
        "jobTitle".to_owned(),
        "otherMails".to_owned(),
    ];
    expected.sort();
    assert_eq!(select, expected);
    let groups = common::group_reads(&sandbox, DEMO_USER_ID);
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let query = decoded(&groups[0].path_and_query);
    assert!(
        query.starts_with(&format!(
            "/v1.0/users/{DEMO_USER_ID}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName"
        )),
        "{query}"
    );
}

#[tokio::test]
async fn properties_the_callout_carries_need_no_graph_call() {
    let sandbox = common::sandbox().await;
    let app = common::app(
        &sandbox,
        "[[token_issuance_start.claims]]\nname = \"name\"\nsource = \"user\"\nattribute = \"displayName\"\n\n[[token_issuance_start.claims]]\nname = \"mail\"\nsource = \"user\"\nattribute = \"mail\"\n",
    );
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    sandbox.faults().clear_request_log();
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200);
    assert_eq!(common::claims(&response)["name"], "Ava Thompson");
    assert_eq!(
        common::claims(&response)["mail"],
        entra_sandbox::directory::DEMO_USER_EMAIL
    );
    assert!(common::graph_requests(&sandbox, "/v1.0").is_empty());
}

#[tokio::test]
async fn groups_of_another_customer_follow_that_customers_membership() {
    let sandbox = common::sandbox().await;
    // Noah Garcia (Google account) is Gold too; user 2 (Liam) is a direct member of VIP only via
    // the seed, and Silver.
    let rules = format!(
        "[[token_issuance_start.claims]]\nname = \"groups\"\nsource = \"groups\"\nids = [\"{DEMO_GROUP_GOLD_ID}\", \"{DEMO_GROUP_VIP_ID}\"]\nemit = \"names\"\n"
    );
    let provider = common::provider(&sandbox, &rules);
    for (user, expected) in [
        (
            DEMO_GOOGLE_USER_ID.to_owned(),
            json!(["Customers - Gold", "Customers - VIP"]),
        ),
        (
            entra_sandbox::directory::demo_user_id(2),
            json!(["Customers - VIP"]),
        ),
    ] {
        let body = common::callout(&sandbox, &user, SHOP_APP_ID);
        let decision = provider
            .decide(&common::parsed(&body), provider.start_budget())
            .await
            .unwrap();
        assert_eq!(
            common::claims(&decision.response)["groups"],
            expected,
            "{user}"
        );
    }
}

#[tokio::test]
async fn rules_scoped_to_client_apps_run_only_for_those_apps() {
    let sandbox = common::sandbox().await;
    let rules = format!(
        r#"
[[token_issuance_start.claims]]
name = "brand"
source = "constant"
value = "Contoso"

[[token_issuance_start.claims]]
name = "loyaltyTier"
source = "extension"
attribute = "loyaltyTier"
client_apps = ["{shop}"]

[[token_issuance_start.claims]]
name = "plan"
source = "constant"
value = "shop"
client_apps = ["{shop}"]

[[token_issuance_start.claims]]
name = "plan"
source = "constant"
value = "other"
client_apps = ["{other}"]
"#,
        shop = SHOP_APP_ID.to_uppercase(),
        other = OTHER_APP_ID,
    );
    let provider = common::provider(&sandbox, &rules);

    sandbox.faults().clear_request_log();
    let shop = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let decision = provider
        .decide(&common::parsed(&shop), provider.start_budget())
        .await
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(common::claims(&decision.response).clone()),
        json!({"brand": "Contoso", "loyaltyTier": "Gold", "plan": "shop"})
    );
    assert_eq!(common::user_reads(&sandbox, DEMO_USER_ID).len(), 1);

    sandbox.faults().clear_request_log();
    let other = common::callout(&sandbox, DEMO_USER_ID, OTHER_APP_ID);
    let decision = provider
        .decide(&common::parsed(&other), provider.start_budget())
        .await
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(common::claims(&decision.response).clone()),
        json!({"brand": "Contoso", "plan": "other"})
    );
    // The only Graph rule is scoped out: no Graph call at all.
    assert!(common::graph_requests(&sandbox, "/v1.0").is_empty());

    // No client service principal at all: only unscoped rules run.
    let mut anonymous = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    anonymous["data"]["authenticationContext"]["clientServicePrincipal"] = serde_json::Value::Null;
    let decision = provider
        .decide(&common::parsed(&anonymous), provider.start_budget())
        .await
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(common::claims(&decision.response).clone()),
        json!({"brand": "Contoso"})
    );
}

const CACHED_RULES: &str = r#"
[[token_issuance_start.claims]]
name = "loyaltyTier"
source = "extension"
attribute = "loyaltyTier"

[[token_issuance_start.claims]]
name = "givenName"
source = "user"
attribute = "givenName"

[[token_issuance_start.claims]]
name = "groups"
source = "groups"
prefix = "Customers - "
"#;

#[tokio::test]
async fn the_cache_serves_a_burst_for_one_user_from_one_graph_read() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, &format!("cache_ttl_seconds = 60\n{CACHED_RULES}"));
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    sandbox.faults().clear_request_log();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let decision = provider
            .decide(&common::parsed(&body), provider.start_budget())
            .await
            .unwrap();
        answers.push(decision.response);
    }
    assert_eq!(common::user_reads(&sandbox, DEMO_USER_ID).len(), 1);
    assert_eq!(common::group_reads(&sandbox, DEMO_USER_ID).len(), 1);
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(common::claims(&answers[2])["loyaltyTier"], "Gold");
    assert_eq!(
        common::claims(&answers[2])["groups"],
        json!(["Customers - Gold", "Customers - VIP"])
    );

    // Another user is another entry.
    let other = common::callout(&sandbox, DEMO_GOOGLE_USER_ID, SHOP_APP_ID);
    provider
        .decide(&common::parsed(&other), provider.start_budget())
        .await
        .unwrap();
    assert_eq!(common::user_reads(&sandbox, DEMO_GOOGLE_USER_ID).len(), 1);
    assert_eq!(common::user_reads(&sandbox, DEMO_USER_ID).len(), 1);
}

#[tokio::test]
async fn without_the_cache_every_call_reads_graph() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, CACHED_RULES);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    sandbox.faults().clear_request_log();
    for _ in 0..2 {
        provider
            .decide(&common::parsed(&body), provider.start_budget())
            .await
            .unwrap();
    }
    assert_eq!(common::user_reads(&sandbox, DEMO_USER_ID).len(), 2);
    assert_eq!(common::group_reads(&sandbox, DEMO_USER_ID).len(), 2);
}

/// A cached read selects what every rule needs, so a call for another client app (whose rules
/// need other properties) is a hit too.
#[tokio::test]
async fn one_cached_read_serves_every_client_app() {
    let sandbox = common::sandbox().await;
    let rules = format!(
        "cache_ttl_seconds = 60\n[[token_issuance_start.claims]]\nname = \"tier\"\nsource = \"extension\"\nattribute = \"loyaltyTier\"\nclient_apps = [\"{SHOP_APP_ID}\"]\n\n[[token_issuance_start.claims]]\nname = \"number\"\nsource = \"extension\"\nattribute = \"loyaltyNumber\"\nclient_apps = [\"{OTHER_APP_ID}\"]\n"
    );
    let provider = common::provider(&sandbox, &rules);
    sandbox.faults().clear_request_log();
    for (app, claim, value) in [
        (SHOP_APP_ID, "tier", "Gold"),
        (OTHER_APP_ID, "number", "LN-100001"),
    ] {
        let body = common::callout(&sandbox, DEMO_USER_ID, app);
        let decision = provider
            .decide(&common::parsed(&body), provider.start_budget())
            .await
            .unwrap();
        assert_eq!(common::claims(&decision.response)[claim], value);
    }
    assert_eq!(common::user_reads(&sandbox, DEMO_USER_ID).len(), 1);
}

fn constant(name: &str, bytes: usize, extra: &str) -> String {
    format!(
        "[[token_issuance_start.claims]]\nname = \"{name}\"\nsource = \"constant\"\nvalue = \"{}\"\n{extra}\n",
        "x".repeat(bytes)
    )
}

#[tokio::test]
async fn over_three_kilobytes_the_lowest_ranked_claims_are_dropped() {
    let sandbox = common::sandbox().await;
    let rules = [
        constant("first", 1000, ""),
        constant("second", 1000, ""),
        constant("third", 1000, ""),
        constant("fourth", 1000, ""),
        "[[token_issuance_start.claims]]\nname = \"locale\"\nsource = \"context\"\nfield = \"locale\"\n".to_owned(),
    ]
    .concat();
    let app = common::app(&sandbox, &rules);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200, "{response}");
    common::assert_conformant(&response);
    let names: Vec<&String> = common::claims(&response).keys().collect();
    // 3 x 1005 bytes fit; the fourth and then the small last one are dropped: rank is file order.
    assert_eq!(names, ["first", "second", "third"]);

    let provider = common::provider(&sandbox, &rules);
    let decision = provider
        .decide(&common::parsed(&body), provider.start_budget())
        .await
        .unwrap();
    assert_eq!(decision.dropped, ["locale", "fourth"]);
    assert!(!decision.fallback);
}

#[tokio::test]
async fn claims_that_may_not_be_dropped_and_do_not_fit_are_a_500() {
    let sandbox = common::sandbox().await;
    // Protected claims: `on_error = "fail"` rules. Graph rules with huge defaults stand in for
    // big values (a constant cannot be "fail").
    let rules = (0..4)
        .map(|i| {
            format!(
                "[[token_issuance_start.claims]]\nname = \"big{i}\"\nsource = \"user\"\nattribute = \"jobTitle\"\ndefault = \"{}\"\non_error = \"fail\"\n",
                "y".repeat(1000)
            )
        })
        .collect::<String>();
    let app = common::app(&sandbox, &rules);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 500);
    assert_eq!(
        response,
        json!({"error": {"code": "internal_error", "message": "internal error"}})
    );
}

/// Adds the customer's sign-in count from a "CRM" (here a constant) and reads Graph itself.
struct Crm;

#[async_trait]
impl ClaimsExtension for Crm {
    async fn claims(
        &self,
        request: &TokenIssuanceStartRequest,
        ctx: &ClaimsContext,
    ) -> Result<Vec<(String, ClaimValue)>, ClaimsExtensionError> {
        let user_id = &request.user.as_ref().ok_or("no user")?.id;
        let graph = ctx.graph().ok_or("no graph")?;
        assert!(
            graph.deadline().is_some(),
            "the extension's client is bound to the deadline"
        );
        let user = graph.users().get(user_id, &["surname"]).await?;
        Ok(vec![
            ("crmSegment".to_owned(), ClaimValue::from("loyal")),
            (
                "surname".to_owned(),
                ClaimValue::from(user.surname.unwrap_or_default()),
            ),
            ("brand".to_owned(), ClaimValue::from("Contoso CRM")),
            ("".to_owned(), ClaimValue::from("ignored")),
            ("empty".to_owned(), ClaimValue::Many(vec![])),
        ])
    }
}

struct Broken {
    required: bool,
}

#[async_trait]
impl ClaimsExtension for Broken {
    async fn claims(
        &self,
        _request: &TokenIssuanceStartRequest,
        _ctx: &ClaimsContext,
    ) -> Result<Vec<(String, ClaimValue)>, ClaimsExtensionError> {
        Err("the CRM is down".into())
    }

    fn name(&self) -> &str {
        "broken"
    }

    fn required(&self) -> bool {
        self.required
    }
}

/// Never answers in time.
struct Stuck;

#[async_trait]
impl ClaimsExtension for Stuck {
    async fn claims(
        &self,
        _request: &TokenIssuanceStartRequest,
        _ctx: &ClaimsContext,
    ) -> Result<Vec<(String, ClaimValue)>, ClaimsExtensionError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(vec![("late".to_owned(), ClaimValue::from("x"))])
    }
}

#[tokio::test]
async fn extensions_add_claims_and_their_failures_follow_their_policy() {
    let sandbox = common::sandbox().await;
    let rules = "[[token_issuance_start.claims]]\nname = \"brand\"\nsource = \"constant\"\nvalue = \"Contoso\"\n";
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);

    let provider = common::provider(&sandbox, rules)
        .with_extension(Arc::new(Crm))
        .with_extension(Arc::new(Broken { required: false }))
        .with_extension(Arc::new(Stuck));
    let started = std::time::Instant::now();
    let decision = provider
        .decide(
            &common::parsed(&body),
            entra_extensions::CallBudget::start(
                Duration::from_millis(1000),
                Duration::from_millis(700),
            ),
        )
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        serde_json::Value::Object(common::claims(&decision.response).clone()),
        json!({"brand": "Contoso CRM", "crmSegment": "loyal", "surname": "Thompson"})
    );
    assert!(decision.fallback);
    assert_eq!(decision.omitted.len(), 2, "{:?}", decision.omitted);
    assert!(decision.omitted.contains(&"extension:broken".to_owned()));

    let app = common::app_with(
        &sandbox,
        common::provider(&sandbox, rules).with_extension(Arc::new(Broken { required: true })),
    );
    let (status, _) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 500);
}
