//! `entra-hooks audit-export` as an operator runs it: the real binary against the simulated tenant
//! (its `[graph]` pointed at the sandbox's URLs), exporting to a folder. Killed with SIGKILL at
//! random moments and run again, it ends with every record of the range exactly once; failures exit
//! non-zero and say where the checkpoint stands.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use entra_sandbox::audit_logs::AuditStream;
use entra_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};
use serde_json::Value;
use time::OffsetDateTime;

/// 15-minute boundary at or before `t`.
fn floor15(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.replace_second(0).unwrap().replace_nanosecond(0).unwrap();
    t.replace_minute(t.minute() - t.minute() % 15).unwrap()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

struct Setup {
    sandbox: Sandbox,
    folder: tempfile::TempDir,
    config: std::path::PathBuf,
    start: OffsetDateTime,
    until: OffsetDateTime,
}

async fn setup(records_per_stream: u64) -> Setup {
    let sandbox = Sandbox::start(SandboxConfig {
        seed_demo_data: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let start = floor15(now - time::Duration::hours(6));
    let until = floor15(now - time::Duration::hours(1));
    let span = (until - start + time::Duration::minutes(30)).whole_milliseconds() as u64;
    for stream in AuditStream::ALL {
        sandbox
            .audit_logs()
            .generate(
                stream,
                records_per_stream,
                start,
                Duration::from_millis(span / records_per_stream),
            )
            .unwrap();
    }
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("entra-hooks.toml");
    let exports = folder.path().join("exports");
    std::fs::write(
        &config,
        format!(
            r#"
[tenant]
id = "{tenant}"
name = "{name}"

[graph]
client_id = "{client}"
secret = "env:SANDBOX_GRAPH_SECRET"
authority_host = "{authority}"
base_url = "{graph}"

[audit_export]
destination = "file://{exports}"
start_at = "{start}"
page_size = 100
"#,
            tenant = sandbox.tenant_id(),
            name = sandbox.config().tenant_name,
            client = sandbox.config().graph_client_id,
            authority = sandbox.url(),
            graph = sandbox.graph_url(),
            exports = exports.display(),
            start = rfc3339(start),
        ),
    )
    .unwrap();
    Setup {
        sandbox,
        folder,
        config,
        start,
        until,
    }
}

impl Setup {
    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_entra-hooks"));
        command
            .arg("audit-export")
            .arg("--config")
            .arg(&self.config)
            .arg("--until")
            .arg(rfc3339(self.until))
            .args(extra)
            .env(
                "SANDBOX_GRAPH_SECRET",
                &self.sandbox.config().graph_client_secret,
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    async fn run(&self, extra: &[&str]) -> Output {
        let mut command = self.command(extra);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    fn exports(&self) -> std::path::PathBuf {
        self.folder.path().join("exports")
    }

    fn expected(&self, stream: AuditStream) -> BTreeSet<String> {
        self.sandbox
            .audit_logs()
            .ids_between(stream, self.start, self.until)
            .into_iter()
            .collect()
    }
}

/// Ids exported for `stream` (`directoryAudits`, `signIns`); panics on a duplicate.
fn exported(folder: &Path, stream: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let root = folder.join(format!("stream={stream}"));
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let mut text = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{} is not whole gzip: {e}", path.display()));
            for line in text.lines() {
                let record: Value = serde_json::from_str(line).unwrap();
                let id = record["id"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} exported twice");
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_then_a_rerun_exports_every_record_once() {
    let setup = setup(6000).await;
    // Slow pages, so the kills land mid-run (between pages, mid-object, around checkpoints).
    setup.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs",
        Fault::Delay(Duration::from_millis(3)),
        None,
    ));
    let mut killed_mid_run = 0;
    for _ in 0..6 {
        let mut child = setup.command(&[]).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(30..400))).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no cleanup
            killed_mid_run += 1;
        }
        child.wait().unwrap();
    }
    assert!(killed_mid_run >= 3, "the runs ended before the kills");
    let output = setup.run(&["--json"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["streams"][0]["outcome"], "complete");
    assert_eq!(
        summary["streams"][0]["exportedUntil"],
        rfc3339(setup.until).replace("+00:00", "Z")
    );
    for (stream, name) in [
        (AuditStream::DirectoryAudits, "directoryAudits"),
        (AuditStream::SignIns, "signIns"),
    ] {
        let expected = setup.expected(stream);
        assert!(expected.len() > 4000);
        assert_eq!(exported(&setup.exports(), name), expected, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_exits_1_and_says_where_the_checkpoint_stands() {
    let setup = setup(300).await;
    setup
        .sandbox
        .audit_logs()
        .set_unlicensed(AuditStream::SignIns, true);
    setup.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/directoryAudits",
        Fault::Delay(Duration::ZERO),
        Some(3),
    ));
    setup.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs/directoryAudits",
        Fault::MalformedJson,
        Some(1),
    ));
    let output = setup.run(&[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("directoryAudits: FAILED"), "{stderr}");
    assert!(stderr.contains("the checkpoint stands at"), "{stderr}");
    assert!(
        stderr.contains("Authentication_RequestFromNonPremiumTenantOrB2CTenant"),
        "{stderr}"
    );

    let output = setup.run(&["--stream", "directoryAudits"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        exported(&setup.exports(), "directoryAudits"),
        setup.expected(AuditStream::DirectoryAudits)
    );

    let output = setup.run(&["--stream", "auditTrail"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown stream"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_export_into_the_same_folder_is_refused_while_one_runs() {
    let setup = setup(3000).await;
    setup.sandbox.faults().add(FaultRule::new(
        "/v1.0/auditLogs",
        Fault::Delay(Duration::from_millis(20)),
        None,
    ));
    let mut first = setup.command(&[]).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = setup.run(&[]).await;
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another export holds the lock"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}
