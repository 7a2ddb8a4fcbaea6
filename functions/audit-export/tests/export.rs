//! The export against the simulated tenant over real HTTP: every record of every closed window
//! exactly once, late records, window edges, malformed pages, throttling, the licence 403 and the
//! deadline.

mod common;

use std::time::{Duration, SystemTime};

use audit_export::{AuditStream, RunOptions, StreamOutcome};
use common::*;
use entra_graph::Instant;
use entra_sandbox::faults::RetryAfter;
use entra_sandbox::{Fault, FaultRule};
use serde_json::json;
use time::macros::datetime;

const BOTH: [AuditStream; 2] = [AuditStream::DIRECTORY_AUDITS, AuditStream::SIGN_INS];

/// 1,200 records per stream between 18:00 and about 22:10, plus records exactly on window edges.
fn fill(sandbox: &entra_sandbox::Sandbox) {
    for stream in BOTH {
        let logs = sandbox.audit_logs();
        let s = sandbox_stream(stream);
        logs.generate(s, 1200, START, Duration::from_millis(12_470))
            .unwrap();
        for (id, at) in [
            ("edge-start", "2026-11-26T19:00:00Z"),
            ("edge-before-end", "2026-11-26T19:14:59.9999999Z"),
            ("edge-end", "2026-11-26T19:15:00.0000000Z"),
        ] {
            logs.insert(s, json!({"id": id, stream.time_field.name(): at}))
                .unwrap();
        }
    }
}

#[tokio::test]
async fn every_closed_window_is_exported_once_and_a_rerun_adds_nothing() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&sandbox, folder.path(), settings());

    let reports = exporter.run(&BOTH, at(NOW)).await;
    for report in &reports {
        assert!(
            matches!(report.outcome, StreamOutcome::Complete),
            "{report:?}"
        );
        // 18:00 to 22:15: 17 windows.
        assert_eq!(report.windows, 17);
        assert_eq!(report.exported_until, Some(horizon(NOW)));
        assert_eq!(report.lag, Some(time::Duration::minutes(15)));
        let expected = tenant_ids(&sandbox, report.stream, START, horizon(NOW));
        assert!(expected.len() > 1100, "{}", expected.len());
        assert_eq!(exported_ids(folder.path(), report.stream), expected);
        assert_eq!(report.records, expected.len() as u64);
    }
    // Window edges: ge start, lt end.
    let objects = exported_objects(folder.path());
    let window = |key: &str| -> Vec<String> {
        objects[key]
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let at_19 =
        window("stream=signIns/dt=2026-11-26/hour=19/20261126T1900Z-20261126T1915Z.jsonl.gz");
    assert!(at_19.contains(&"edge-start".to_owned()));
    assert!(at_19.contains(&"edge-before-end".to_owned()));
    assert!(!at_19.contains(&"edge-end".to_owned()));
    let at_1915 =
        window("stream=signIns/dt=2026-11-26/hour=19/20261126T1915Z-20261126T1930Z.jsonl.gz");
    assert!(at_1915.contains(&"edge-end".to_owned()));
    // Records are Graph's JSON: the sandbox's generated shape survives.
    let first = &objects.values().next().unwrap()[0];
    assert!(first["id"].is_string() && first.as_object().unwrap().len() > 5);

    let again = exporter.run(&BOTH, at(NOW)).await;
    for report in &again {
        assert!(matches!(report.outcome, StreamOutcome::Complete));
        assert_eq!(
            (report.windows, report.rewritten, report.records),
            (0, 0, 0)
        );
    }
    assert_eq!(exported_objects(folder.path()), objects);
}

#[tokio::test]
async fn late_records_are_exported_once_by_the_recheck_or_after_the_lag() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&sandbox, folder.path(), settings());
    let stream = AuditStream::DIRECTORY_AUDITS;
    exporter.run(&[stream], at(NOW)).await;

    // A record arrives for a window exported already, inside the re-check period (60 min).
    let logs = sandbox.audit_logs();
    logs.insert(
        sandbox_stream(stream),
        json!({"id": "late-1", "activityDateTime": "2026-11-26T21:40:00.5Z"}),
    )
    .unwrap();
    // And one that Graph will only show a moment from now, for a window not closed yet.
    logs.insert_visible_from(
        sandbox_stream(stream),
        json!({"id": "late-2", "activityDateTime": "2026-11-26T22:20:00Z"}),
        SystemTime::now() + Duration::from_millis(300),
    )
    .unwrap();
    let report = exporter.run_stream(stream, at(NOW)).await;
    assert_eq!((report.windows, report.rewritten), (0, 1), "{report:?}");
    assert!(exported_ids(folder.path(), stream).contains(&"late-1".to_owned()));

    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = NOW + time::Duration::minutes(15);
    let report = exporter.run_stream(stream, at(later)).await;
    assert_eq!(report.windows, 1);
    let ids = exported_ids(folder.path(), stream);
    assert!(ids.contains(&"late-2".to_owned()));
    assert_eq!(ids, tenant_ids(&sandbox, stream, START, horizon(later)));

    // Unchanged windows are re-read but not rewritten.
    let report = exporter.run_stream(stream, at(later)).await;
    assert_eq!((report.windows, report.rewritten), (0, 0));
}

#[tokio::test]
async fn a_malformed_page_fails_the_window_without_moving_the_checkpoint() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&sandbox, folder.path(), settings());
    // The fifth page request gets cut-off JSON (the first four succeed).
    sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/signIns",
        Fault::Delay(Duration::ZERO),
        Some(4),
    ));
    sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/signIns",
        Fault::MalformedJson,
        Some(1),
    ));
    let report = exporter.run_stream(AuditStream::SIGN_INS, at(NOW)).await;
    let StreamOutcome::Failed(error) = &report.outcome else {
        panic!("expected a failure: {report:?}");
    };
    assert!(error.to_string().contains("window ["), "{error}");
    let stopped_at = report.exported_until.unwrap();
    assert!(stopped_at < horizon(NOW));
    // Whatever was exported is whole and complete up to the checkpoint.
    assert_eq!(
        exported_ids(folder.path(), AuditStream::SIGN_INS),
        tenant_ids(&sandbox, AuditStream::SIGN_INS, START, stopped_at)
    );

    let report = exporter.run_stream(AuditStream::SIGN_INS, at(NOW)).await;
    assert!(
        matches!(report.outcome, StreamOutcome::Complete),
        "{report:?}"
    );
    assert_eq!(
        exported_ids(folder.path(), AuditStream::SIGN_INS),
        tenant_ids(&sandbox, AuditStream::SIGN_INS, START, horizon(NOW))
    );
}

#[tokio::test]
async fn throttling_is_retried_and_a_storm_longer_than_the_retries_resumes_next_run() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&sandbox, folder.path(), settings());
    let throttled = Fault::TooManyRequests {
        retry_after: Some(RetryAfter::Seconds(0)),
    };
    // Short bursts: the client's retries get through.
    for _ in 0..3 {
        sandbox.faults().add(FaultRule::new(
            "/v1.0/auditLogs/directoryAudits",
            throttled.clone(),
            Some(2),
        ));
        sandbox.faults().add(FaultRule::new(
            "/v1.0/auditLogs/directoryAudits",
            Fault::Delay(Duration::ZERO),
            Some(3),
        ));
    }
    let report = exporter
        .run_stream(AuditStream::DIRECTORY_AUDITS, at(NOW))
        .await;
    assert!(
        matches!(report.outcome, StreamOutcome::Complete),
        "{report:?}"
    );
    let throttled_requests = sandbox
        .request_log()
        .iter()
        .filter(|r| matches!(r.fault, Some(Fault::TooManyRequests { .. })))
        .count();
    assert_eq!(throttled_requests, 6);

    // A storm: every request throttled.
    let later = NOW + time::Duration::hours(1);
    sandbox.faults().clear();
    sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/directoryAudits",
        throttled,
        None,
    ));
    let report = exporter
        .run_stream(AuditStream::DIRECTORY_AUDITS, at(later))
        .await;
    let StreamOutcome::Failed(error) = &report.outcome else {
        panic!("expected a failure: {report:?}");
    };
    assert!(error.to_string().contains("throttled"), "{error}");
    assert_eq!(report.exported_until, Some(horizon(NOW)));

    sandbox.faults().clear();
    let report = exporter
        .run_stream(AuditStream::DIRECTORY_AUDITS, at(later))
        .await;
    assert!(matches!(report.outcome, StreamOutcome::Complete));
    assert_eq!(
        exported_ids(folder.path(), AuditStream::DIRECTORY_AUDITS),
        tenant_ids(
            &sandbox,
            AuditStream::DIRECTORY_AUDITS,
            START,
            horizon(later)
        )
    );
}

#[tokio::test]
async fn an_unlicensed_stream_is_reported_with_graphs_code_and_the_other_goes_on() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    sandbox
        .audit_logs()
        .set_unlicensed(sandbox_stream(AuditStream::SIGN_INS), true);
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&sandbox, folder.path(), settings());
    let reports = exporter
        .run(
            &[AuditStream::SIGN_INS, AuditStream::DIRECTORY_AUDITS],
            at(NOW),
        )
        .await;
    match &reports[0].outcome {
        StreamOutcome::Unavailable { code } => {
            assert_eq!(
                code,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
            )
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(exported_ids(folder.path(), AuditStream::SIGN_INS).is_empty());
    assert!(matches!(reports[1].outcome, StreamOutcome::Complete));
    assert_eq!(reports[1].windows, 17);
}

#[tokio::test]
async fn a_deadline_stops_between_windows_and_the_next_run_goes_on() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    let folder = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.deadline_margin = Duration::from_millis(150);
    let exporter = folder_exporter(&sandbox, folder.path(), settings);
    // Every page takes 20 ms, so 17 windows of two pages cannot fit in 400 ms.
    sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/signIns",
        Fault::Delay(Duration::from_millis(20)),
        None,
    ));
    let mut runs = 0;
    loop {
        runs += 1;
        let options = RunOptions {
            deadline: Some(Instant::now() + Duration::from_millis(400)),
            ..at(NOW)
        };
        let report = exporter.run_stream(AuditStream::SIGN_INS, options).await;
        match report.outcome {
            StreamOutcome::Complete => break,
            StreamOutcome::StoppedForDeadline => assert!(runs < 30, "no progress"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(runs > 1, "the deadline never stopped a run");
    assert_eq!(
        exported_ids(folder.path(), AuditStream::SIGN_INS),
        tenant_ids(&sandbox, AuditStream::SIGN_INS, START, horizon(NOW))
    );
}

#[tokio::test]
async fn until_bounds_the_export_and_an_empty_tenant_still_sets_the_start() {
    let sandbox = sandbox().await;
    fill(&sandbox);
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&sandbox, folder.path(), settings());
    let until = datetime!(2026-11-26 19:07 UTC);
    let report = exporter
        .run_stream(
            AuditStream::SIGN_INS,
            RunOptions {
                until: Some(until),
                ..at(NOW)
            },
        )
        .await;
    assert_eq!(report.windows, 4);
    assert_eq!(report.exported_until, Some(datetime!(2026-11-26 19:00 UTC)));

    // A tenant with nothing in it: no object, but the checkpoint remembers where to start.
    let empty = common::sandbox().await;
    let folder = tempfile::tempdir().unwrap();
    let exporter = folder_exporter(&empty, folder.path(), settings());
    let report = exporter.run_stream(AuditStream::SIGN_INS, at(START)).await;
    assert_eq!(report.windows, 0);
    assert_eq!(report.exported_until, Some(START));
    assert!(exported_objects(folder.path()).is_empty());
}
