//! Microsoft's payload samples (`tests/vectors/extension-callbacks`), which every conformance
//! test here reads.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use serde_json::Value;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/extension-callbacks")
}

/// The raw bytes of the vector at `relative` (e.g. `docs/emailOtpSend.request.json`).
pub fn vector(relative: &str) -> Vec<u8> {
    let path = vectors_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read vector {}: {e}", path.display()))
}

/// The vector at `relative` as JSON.
pub fn json(relative: &str) -> Value {
    serde_json::from_slice(&vector(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}
