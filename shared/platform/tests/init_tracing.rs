//! `init_tracing` installs the global subscriber once; later calls are harmless no-ops.
//! (Its own test binary: the global subscriber is process-wide.)

use entra_platform::config::LogFormat;
use entra_platform::telemetry::{TelemetryError, init_tracing};

#[test]
fn init_is_idempotent_and_rejects_bad_levels_before_installing() {
    let err = init_tracing(Some(LogFormat::Json), Some("infoo")).unwrap_err();
    assert!(matches!(err, TelemetryError::InvalidLevel { .. }));

    // RUST_LOG, if the developer set one, must itself be valid for this test to run.
    assert!(init_tracing(Some(LogFormat::Text), Some("info")).unwrap());
    assert!(!init_tracing(Some(LogFormat::Json), Some("debug")).unwrap());
    tracing::info!("logging works after a repeated init");
}
