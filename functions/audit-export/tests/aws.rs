//! The S3 destination and the DynamoDB checkpoints with the real AWS SDK against a real moto server
//! on loopback (the local AWS emulator), as they run in Lambda.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use audit_export::AuditExportConfig;
use audit_export::checkpoint::StoreCheckpoints;
use audit_export::checkpoint::testing::checkpoint_contract;
use audit_export::destination::{GzipObjectWriter, ObjectStore, PART_SIZE, S3Store};
use audit_export::window::{WindowSize, floor, graph_instant, parse_instant};
use bytes::Bytes;
use entra_platform::config::load_config_with_env;
use entra_platform::store::DynamoDbStore;
use entra_platform::testing::{MotoServer, create_store_table};
use entra_sandbox::{AuditStream as SandboxStream, Sandbox, SandboxConfig};
use serde_json::json;

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
    create_store_table(&client, "audit-checkpoints").await;
    let store = DynamoDbStore::new(client, "audit-checkpoints");
    checkpoint_contract(&StoreCheckpoints::new(Arc::new(store), "audit-checkpoints")).await;
}

/// The deployed shape end to end: configuration as in template.yaml (S3 destination, DynamoDB
/// checkpoint table), set-up through `AuditExportConfig::build`, one scheduled invocation through
/// the Lambda handler, Graph from the simulated tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_function_exports_to_s3_with_dynamodb_checkpoints() {
    let server = MotoServer::shared().unwrap();
    let sdk = server.sdk_config().await;
    let s3 = s3(server, "audit-e2e").await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    create_store_table(&dynamodb, "audit-e2e-checkpoints").await;

    let sandbox = Sandbox::start(SandboxConfig {
        seed_demo_data: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let size = WindowSize::minutes(15).unwrap();
    let start = floor(
        time::OffsetDateTime::now_utc() - time::Duration::hours(3),
        size,
    );
    for stream in SandboxStream::ALL {
        sandbox
            .audit_logs()
            .generate(stream, 2000, start, Duration::from_millis(5_400))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("graph-secret");
    std::fs::write(&secret, &sandbox.config().graph_client_secret).unwrap();
    let path = dir.path().join("entra-hooks.toml");
    std::fs::write(
        &path,
        format!(
            "[tenant]\nid = \"{}\"\nname = \"{}\"\n\n[graph]\nclient_id = \"{}\"\nsecret = \"file:{}\"\nauthority_host = \"{}\"\nbase_url = \"{}\"\n",
            sandbox.tenant_id(),
            sandbox.config().tenant_name,
            sandbox.config().graph_client_id,
            secret.display(),
            sandbox.url(),
            sandbox.graph_url()
        ),
    )
    .unwrap();
    // The rest comes from the environment, as template.yaml sets it.
    let env = [
        (
            "ENTRA_HOOKS_AUDIT_EXPORT__DESTINATION",
            "s3://audit-e2e/exports".to_owned(),
        ),
        (
            "ENTRA_HOOKS_STORE__TABLE",
            "audit-e2e-checkpoints".to_owned(),
        ),
        ("ENTRA_HOOKS_AUDIT_EXPORT__START_AT", graph_instant(start)),
        ("ENTRA_HOOKS_RULES", "/opt/rules.toml".to_owned()),
        (
            "ENTRA_HOOKS_EXTENSION__APP_ID",
            sandbox.config().extension_app_id.clone(),
        ),
    ];
    let config: AuditExportConfig = load_config_with_env(Some(&path), env).unwrap();
    assert!(config.needs_aws());
    let job = config.build(Some(&sdk)).await.unwrap();
    assert_eq!(job.destination, "s3://audit-e2e/exports");

    let mut context = lambda_runtime::Context::default();
    let deadline = std::time::SystemTime::now() + Duration::from_secs(120);
    context.deadline = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let event = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    let summary = audit_export::lambda::handle(
        &job,
        lambda_runtime::LambdaEvent::new(event.clone(), context.clone()),
    )
    .await
    .unwrap();

    for (stream, name) in [
        (SandboxStream::DirectoryAudits, "directoryAudits"),
        (SandboxStream::SignIns, "signIns"),
    ] {
        let entry = summary["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stream"] == name)
            .unwrap();
        assert_eq!(entry["outcome"], "complete", "{summary}");
        let until = parse_instant(entry["exportedUntil"].as_str().unwrap()).unwrap();
        let listed = s3
            .list_objects_v2()
            .bucket("audit-e2e")
            .prefix(format!("exports/stream={name}/"))
            .send()
            .await
            .unwrap();
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        assert_eq!(keys.len() as u64, entry["windows"].as_u64().unwrap());
        let mut ids = BTreeSet::new();
        for key in &keys {
            let bytes = object(&s3, "audit-e2e", key).await.unwrap();
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            for line in text.lines() {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(ids.insert(record["id"].as_str().unwrap().to_owned()));
            }
        }
        let expected: BTreeSet<String> = sandbox
            .audit_logs()
            .ids_between(stream, start, until)
            .into_iter()
            .collect();
        assert!(expected.len() > 1000);
        assert_eq!(ids, expected, "{name}");
        let checkpoint = dynamodb
            .get_item()
            .table_name("audit-e2e-checkpoints")
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "audit-export/checkpoint/{name}"
                )),
            )
            .send()
            .await
            .unwrap();
        assert!(checkpoint.item().is_some(), "{name} checkpoint in DynamoDB");
    }

    // The next scheduled run finds nothing new.
    let again =
        audit_export::lambda::handle(&job, lambda_runtime::LambdaEvent::new(event, context))
            .await
            .unwrap();
    assert!(
        again["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["windows"] == 0 && s["outcome"] == "complete"),
        "{again}"
    );
}
