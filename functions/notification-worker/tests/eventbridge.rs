//! The EventBridge publisher with the real SDK against the local AWS emulator (moto): an event
//! published by a reaction reaches an SQS queue through a rule, as a consumer would receive it.

use std::time::Duration;

use entra_platform::testing::MotoServer;
use notification_worker::{DirectoryEvent, EventBridgePublisher, EventPublisher};
use serde_json::{Value, json};

#[tokio::test]
async fn a_published_event_reaches_a_rule_target_with_its_detail() {
    let server = MotoServer::shared().unwrap();
    let sdk = server.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("crm-inbox")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:crm-inbox";
    events
        .put_rule()
        .name("entra-user-changes")
        .event_pattern(
            json!({"source": ["entra-hooks"], "detail-type": ["EntraUserChanged"]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("entra-user-changes")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("crm")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let publisher = EventBridgePublisher::from_sdk_config(&sdk);
    publisher
        .publish(&DirectoryEvent {
            source: "entra-hooks".into(),
            detail_type: "EntraUserChanged".into(),
            event_bus: None,
            detail: json!({"id": "change/s/users/u-1/updated/7#announce", "resourceId": "u-1"}),
        })
        .await
        .unwrap();

    let mut received = Vec::new();
    for _ in 0..20 {
        let answer = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received.extend(
            answer
                .messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), 1, "{received:?}");
    let event: Value = serde_json::from_str(&received[0]).unwrap();
    assert_eq!(event["source"], "entra-hooks");
    assert_eq!(event["detail-type"], "EntraUserChanged");
    assert_eq!(event["detail"]["resourceId"], "u-1");
}

#[tokio::test]
async fn an_unknown_bus_is_an_error_naming_it() {
    let server = MotoServer::shared().unwrap();
    let publisher = EventBridgePublisher::from_sdk_config(&server.sdk_config().await);
    let error = publisher
        .publish(&DirectoryEvent {
            source: "entra-hooks".into(),
            detail_type: "EntraUserChanged".into(),
            event_bus: Some("no-such-bus".into()),
            detail: json!({}),
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no-such-bus"), "{error}");
}
