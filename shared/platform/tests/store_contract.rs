//! One contract suite for every `KeyValueStore` adapter: the in-memory store and the DynamoDB
//! store (real SDK against a real moto server on loopback). Expiry is tested with a manual clock
//! shared by the store and the test, so nothing sleeps.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use entra_platform::store::{
    DynamoDbStore, KeyValueStore, ManualClock, MemoryStore, StoreError, expires_at,
};
use entra_platform::testing::{MotoServer, create_store_table, sdk_config_for};

const TEN_SECONDS: Option<Duration> = Some(Duration::from_secs(10));

/// The behaviour every adapter promises (module docs of `entra_platform::store`).
async fn contract(store: &dyn KeyValueStore, clock: &ManualClock) {
    // get / put / overwrite
    assert_eq!(store.get("missing").await.unwrap(), None);
    store.put("a", "1", None).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some("1"));
    store.put("a", "2", None).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some("2"));

    // put_if_absent inserts once and never overwrites a live record
    assert!(
        store
            .put_if_absent("once", "first", TEN_SECONDS)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_if_absent("once", "second", TEN_SECONDS)
            .await
            .unwrap()
    );
    assert_eq!(store.get("once").await.unwrap().as_deref(), Some("first"));

    // expiry: live until the clock reaches expires_at, then absent and claimable again
    clock.advance(Duration::from_secs(9));
    assert_eq!(store.get("once").await.unwrap().as_deref(), Some("first"));
    assert!(
        !store
            .put_if_absent("once", "third", TEN_SECONDS)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(store.get("once").await.unwrap(), None);
    assert!(
        !store
            .compare_and_swap("once", "first", "x", None)
            .await
            .unwrap()
    );
    assert!(!store.delete_if("once", "first").await.unwrap());
    assert!(
        store
            .put_if_absent("once", "reclaimed", TEN_SECONDS)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("once").await.unwrap().as_deref(),
        Some("reclaimed")
    );

    // compare_and_swap only from the expected value, and it sets the new TTL
    assert!(!store.compare_and_swap("cas", "x", "y", None).await.unwrap());
    store.put("cas", "v1", TEN_SECONDS).await.unwrap();
    assert!(
        !store
            .compare_and_swap("cas", "other", "v2", None)
            .await
            .unwrap()
    );
    assert_eq!(store.get("cas").await.unwrap().as_deref(), Some("v1"));
    assert!(
        store
            .compare_and_swap("cas", "v1", "v2", None)
            .await
            .unwrap()
    );
    assert_eq!(store.get("cas").await.unwrap().as_deref(), Some("v2"));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        store.get("cas").await.unwrap().as_deref(),
        Some("v2"),
        "the swap wrote no TTL, so the record no longer expires"
    );

    // delete_if only removes the expected value; delete removes anything, missing is fine
    store.put("lease", "mine", TEN_SECONDS).await.unwrap();
    assert!(!store.delete_if("lease", "theirs").await.unwrap());
    assert_eq!(store.get("lease").await.unwrap().as_deref(), Some("mine"));
    assert!(store.delete_if("lease", "mine").await.unwrap());
    assert_eq!(store.get("lease").await.unwrap(), None);
    assert!(!store.delete_if("lease", "mine").await.unwrap());
    store.delete("a").await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), None);
    store.delete("never-existed").await.unwrap();

    // no TTL: never expires; a later put with a TTL makes it expire
    store.put("forever", "x", None).await.unwrap();
    clock.advance(Duration::from_secs(10 * 365 * 86_400));
    assert_eq!(store.get("forever").await.unwrap().as_deref(), Some("x"));
    store
        .put("forever", "y", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    assert_eq!(store.get("forever").await.unwrap().as_deref(), Some("y"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(store.get("forever").await.unwrap(), None);

    // values and keys are text as given
    let json = r#"{"window_end":"2026-11-26T10:00:00Z","ids":["ä","b"]}"#;
    store
        .put("checkpoint#directoryAudits", json, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .get("checkpoint#directoryAudits")
            .await
            .unwrap()
            .as_deref(),
        Some(json)
    );
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    let clock = Arc::new(ManualClock::starting_now());
    let store = MemoryStore::with_clock(clock.clone());
    contract(&store, &clock).await;
}

#[tokio::test]
async fn memory_store_admits_one_of_many_concurrent_claims() {
    let store = Arc::new(MemoryStore::new());
    let claims = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_if_absent("marker", &i.to_string(), TEN_SECONDS)
                .await
                .unwrap()
        })
    });
    let won = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter(|claimed| *claimed.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);
}

#[tokio::test]
async fn memory_store_sweeps_expired_records() {
    let clock = Arc::new(ManualClock::starting_now());
    let store = MemoryStore::with_clock(clock.clone());
    for i in 0..100 {
        store
            .put(&format!("old-{i}"), "x", Some(Duration::from_secs(1)))
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(2));
    for i in 0..300 {
        store.put(&format!("new-{i}"), "x", None).await.unwrap();
    }
    assert!(
        store.len() <= 300,
        "expired records were kept: {}",
        store.len()
    );
}

async fn dynamodb_client(server: &MotoServer) -> Client {
    Client::new(&server.sdk_config().await)
}

/// The table shape `DynamoDbStore` documents: partition key `pk` (String), on-demand.

#[tokio::test]
async fn dynamodb_store_keeps_the_contract() {
    let server = MotoServer::shared().unwrap();
    let client = dynamodb_client(server).await;
    create_store_table(&client, "store-contract").await;
    let clock = Arc::new(ManualClock::starting_now());
    let store = DynamoDbStore::new(client, "store-contract").with_clock(clock.clone());
    contract(&store, &clock).await;
}

/// The item the adapter writes is the documented shape, so TTL and other readers can rely on it.
#[tokio::test]
async fn dynamodb_items_have_the_documented_shape() {
    let server = MotoServer::shared().unwrap();
    let client = dynamodb_client(server).await;
    create_store_table(&client, "store-shape").await;
    let now = SystemTime::now();
    let clock = Arc::new(ManualClock::new(now));
    let store = DynamoDbStore::new(client.clone(), "store-shape").with_clock(clock);
    store
        .put_if_absent("otp#abc", "sent", Some(Duration::from_secs(600)))
        .await
        .unwrap();
    let item = client
        .get_item()
        .table_name("store-shape")
        .key("pk", AttributeValue::S("otp#abc".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["value"], AttributeValue::S("sent".into()));
    assert_eq!(
        item["expires_at"],
        AttributeValue::N(expires_at(now, Duration::from_secs(600)).to_string())
    );
    assert_eq!(item.len(), 3);
}

#[tokio::test]
async fn dynamodb_store_reports_a_missing_table_and_foreign_items() {
    let server = MotoServer::shared().unwrap();
    let client = dynamodb_client(server).await;
    let missing = DynamoDbStore::new(client.clone(), "no-such-table");
    let err = missing.get("k").await.unwrap_err();
    assert!(matches!(err, StoreError::MissingTable { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("no-such-table"), "{err}");
    let err = missing.put_if_absent("k", "v", None).await.unwrap_err();
    assert!(matches!(err, StoreError::MissingTable { .. }), "{err:?}");

    create_store_table(&client, "store-foreign").await;
    client
        .put_item()
        .table_name("store-foreign")
        .item("pk", AttributeValue::S("k".into()))
        .item("value", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let store = DynamoDbStore::new(client, "store-foreign");
    let err = store.get("k").await.unwrap_err();
    assert!(matches!(err, StoreError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_a_transient_error() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let store = DynamoDbStore::new(Client::new(&sdk_config_for(&dead).await), "t1");
    let err = store.put_if_absent("k", "v", None).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
