//! The audit log streams Graph offers and how each is windowed.
//!
//! A stream is a Graph collection with a record timestamp that can be filtered with `ge`/`lt`
//! (docs/protocols/graph-api.md A.10): directory audits on `activityDateTime`, sign-ins on
//! `createdDateTime` (Graph returns sign-ins newest first; filtering on that field is what makes a
//! window exact). Adding a stream (e.g. `auditLogs/provisioning`, also on `activityDateTime`) is one
//! more entry in [`AuditStream::ALL`].

use std::fmt;

use serde::{Deserialize, Deserializer};

/// The record field a stream is windowed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    ActivityDateTime,
    CreatedDateTime,
}

impl TimeField {
    /// The property name, as used in `$filter` and in the records.
    pub fn name(self) -> &'static str {
        match self {
            TimeField::ActivityDateTime => "activityDateTime",
            TimeField::CreatedDateTime => "createdDateTime",
        }
    }
}

/// One exportable log: its name (in config, partitions and metrics), Graph path and time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditStream {
    /// `directoryAudits`, `signIns`: the last segment of the Graph path, which is also the
    /// `stream=` partition value.
    pub name: &'static str,
    /// Path segments under the Graph root.
    pub path: &'static [&'static str],
    pub time_field: TimeField,
}

impl AuditStream {
    pub const DIRECTORY_AUDITS: AuditStream = AuditStream {
        name: "directoryAudits",
        path: &["auditLogs", "directoryAudits"],
        time_field: TimeField::ActivityDateTime,
    };

    pub const SIGN_INS: AuditStream = AuditStream {
        name: "signIns",
        path: &["auditLogs", "signIns"],
        time_field: TimeField::CreatedDateTime,
    };

    /// Every stream this build can export.
    pub const ALL: [AuditStream; 2] = [Self::DIRECTORY_AUDITS, Self::SIGN_INS];

    /// The stream called `name` (exact, as Graph spells it).
    pub fn named(name: &str) -> Option<AuditStream> {
        Self::ALL.into_iter().find(|stream| stream.name == name)
    }

    /// Names accepted in configuration, for error messages.
    pub fn known_names() -> String {
        Self::ALL
            .iter()
            .map(|stream| stream.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for AuditStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<'de> Deserialize<'de> for AuditStream {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        AuditStream::named(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown audit stream {name:?}; use one of {}",
                AuditStream::known_names()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_found_by_their_graph_name_only() {
        assert_eq!(
            AuditStream::named("signIns").map(|s| s.time_field),
            Some(TimeField::CreatedDateTime)
        );
        assert_eq!(
            AuditStream::named("directoryAudits").map(|s| s.time_field.name()),
            Some("activityDateTime")
        );
        assert_eq!(AuditStream::named("signins"), None);
        let error = serde_json::from_str::<AuditStream>("\"provisioning\"").unwrap_err();
        assert!(error.to_string().contains("directoryAudits, signIns"));
    }
}
