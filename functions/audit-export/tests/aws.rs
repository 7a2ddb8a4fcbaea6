//! The S3 destination and the DynamoDB checkpoints with the real AWS SDK against a real moto server
//! on loopback (the local AWS emulator), as they run in Lambda.

use std::io::Read;
use std::sync::Arc;

use audit_export::checkpoint::StoreCheckpoints;
use audit_export::checkpoint::testing::checkpoint_contract;
use audit_export::destination::{GzipObjectWriter, ObjectStore, PART_SIZE, S3Store};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use bytes::Bytes;
use entra_platform::store::DynamoDbStore;
use entra_platform::testing::MotoServer;

async fn s3(server: &MotoServer, bucket: &str) -> aws_sdk_s3::Client {
    let sdk = server.sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    client.create_bucket().bucket(bucket).send().await.unwrap();
    client
}

async fn object(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let answer = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(answer.body.collect().await.unwrap().into_bytes().to_vec())
}

#[tokio::test]
async fn a_small_window_is_one_put_of_gzip_json_lines() {
    let server = MotoServer::shared().unwrap();
    let client = s3(server, "audit-small").await;
    let store = S3Store::new(client.clone(), "audit-small", "/exports/");
    assert_eq!(store.describe(), "s3://audit-small/exports");
    let mut writer = GzipObjectWriter::new(store.begin("stream=signIns/x.jsonl.gz").await.unwrap());
    writer
        .write(b"{\"id\":\"1\"}\n{\"id\":\"2\"}\n")
        .await
        .unwrap();
    let bytes = writer.finish().await.unwrap();

    let stored = object(&client, "audit-small", "exports/stream=signIns/x.jsonl.gz")
        .await
        .expect("the object exists under the prefix");
    assert_eq!(stored.len() as u64, bytes);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&stored[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "{\"id\":\"1\"}\n{\"id\":\"2\"}\n");
    let head = client
        .head_object()
        .bucket("audit-small")
        .key("exports/stream=signIns/x.jsonl.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/gzip"));
}

#[tokio::test]
async fn a_large_window_is_a_multipart_upload_visible_only_when_complete() {
    let server = MotoServer::shared().unwrap();
    let client = s3(server, "audit-large").await;
    let store = S3Store::new(client.clone(), "audit-large", "");
    let key = "stream=directoryAudits/big.jsonl.gz";
    let first = Bytes::from(vec![b'a'; PART_SIZE]);
    let mut upload = store.begin(key).await.unwrap();
    upload.append(first.clone()).await.unwrap();
    assert!(
        object(&client, "audit-large", key).await.is_none(),
        "nothing is visible before CompleteMultipartUpload"
    );
    let in_flight = client
        .list_multipart_uploads()
        .bucket("audit-large")
        .send()
        .await
        .unwrap();
    assert_eq!(in_flight.uploads().len(), 1);
    upload.complete(Bytes::from_static(b"tail")).await.unwrap();
    let stored = object(&client, "audit-large", key).await.unwrap();
    assert_eq!(stored.len(), PART_SIZE + 4);
    assert!(stored.ends_with(b"aatail"));
}

#[tokio::test]
async fn an_aborted_upload_leaves_the_previous_object_and_no_pending_upload() {
    let server = MotoServer::shared().unwrap();
    let client = s3(server, "audit-abort").await;
    let store = S3Store::new(client.clone(), "audit-abort", "p");
    let key = "stream=signIns/w.jsonl.gz";
    store
        .begin(key)
        .await
        .unwrap()
        .complete(Bytes::from_static(b"old"))
        .await
        .unwrap();
    let mut upload = store.begin(key).await.unwrap();
    upload
        .append(Bytes::from(vec![b'b'; PART_SIZE]))
        .await
        .unwrap();
    upload.abort().await;
    assert_eq!(
        object(&client, "audit-abort", "p/stream=signIns/w.jsonl.gz").await,
        Some(b"old".to_vec())
    );
    let pending = client
        .list_multipart_uploads()
        .bucket("audit-abort")
        .send()
        .await
        .unwrap();
    assert!(pending.uploads().is_empty());
}

#[tokio::test]
async fn a_missing_bucket_is_a_destination_error_naming_the_key() {
    let server = MotoServer::shared().unwrap();
    let sdk = server.sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let store = S3Store::new(aws_sdk_s3::Client::from_conf(config), "no-such-bucket", "x");
    let error = store
        .begin("k.jsonl.gz")
        .await
        .unwrap()
        .complete(Bytes::from_static(b"data"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("x/k.jsonl.gz"), "{error}");
    assert!(error.contains("NoSuchBucket"), "{error}");
}

#[tokio::test]
async fn dynamodb_checkpoints_keep_the_contract() {
    let server = MotoServer::shared().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&server.sdk_config().await);
    client
        .create_table()
        .table_name("audit-checkpoints")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let store = DynamoDbStore::new(client, "audit-checkpoints");
    checkpoint_contract(&StoreCheckpoints::new(Arc::new(store), "audit-checkpoints")).await;
}
