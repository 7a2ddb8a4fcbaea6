//! One audit record as Graph sent it, plus the two fields the export reads from it.
//!
//! The record is kept as raw JSON text ([`serde_json::value::RawValue`]) and written out unchanged,
//! so property order, number formatting and properties this build does not know survive; only
//! insignificant whitespace is removed when a record spans lines, because JSON Lines needs one
//! record per line.

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::stream::TimeField;
use crate::window::parse_instant;

/// A record whose id and timestamp have been read.
#[derive(Debug)]
pub struct AuditRecord {
    raw: Box<RawValue>,
    id: String,
    time: OffsetDateTime,
}

/// Why a record cannot be exported (the window then fails rather than lose it silently).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("a record is not a JSON object with an id: {0}")]
    Shape(String),
    #[error("record {id} has no {field} timestamp")]
    MissingTime { id: String, field: &'static str },
    #[error("record {id} has an unreadable {field} {value:?}")]
    BadTime {
        id: String,
        field: &'static str,
        value: String,
    },
}

#[derive(Deserialize)]
struct Stamp {
    id: String,
    #[serde(rename = "activityDateTime", default)]
    activity: Option<String>,
    #[serde(rename = "createdDateTime", default)]
    created: Option<String>,
}

impl AuditRecord {
    /// Reads the id and `field` of `raw`.
    pub fn read(raw: Box<RawValue>, field: TimeField) -> Result<AuditRecord, RecordError> {
        let stamp: Stamp =
            serde_json::from_str(raw.get()).map_err(|e| RecordError::Shape(e.to_string()))?;
        let text = match field {
            TimeField::ActivityDateTime => stamp.activity,
            TimeField::CreatedDateTime => stamp.created,
        }
        .ok_or_else(|| RecordError::MissingTime {
            id: stamp.id.clone(),
            field: field.name(),
        })?;
        let time = parse_instant(&text).ok_or_else(|| RecordError::BadTime {
            id: stamp.id.clone(),
            field: field.name(),
            value: text.clone(),
        })?;
        Ok(AuditRecord {
            raw,
            id: stamp.id,
            time,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// Appends the record and a newline to `out`, on one line.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let text = self.raw.get();
        if text.contains(['\n', '\r']) {
            write_compact(text, out);
        } else {
            out.extend_from_slice(text.as_bytes());
        }
        out.push(b'\n');
    }
}

/// Copies valid JSON `text` to `out` without whitespace outside strings. Line breaks inside a
/// JSON string are always escaped, so every raw line break is outside one.
fn write_compact(text: &str, out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text.as_bytes() {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
            out.push(byte);
        } else if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn reads_the_stream_time_field_and_keeps_the_text() {
        let text = r#"{"id":"a1","zeta":1.50,"activityDateTime":"2026-11-26T21:03:12.1234567Z","createdDateTime":"2020-01-01T00:00:00Z"}"#;
        let record = AuditRecord::read(raw(text), TimeField::ActivityDateTime).unwrap();
        assert_eq!(record.id(), "a1");
        assert_eq!(record.time(), datetime!(2026-11-26 21:03:12.1234567 UTC));
        let mut line = Vec::new();
        record.write_line(&mut line);
        assert_eq!(line, format!("{text}\n").into_bytes());
        let record = AuditRecord::read(raw(text), TimeField::CreatedDateTime).unwrap();
        assert_eq!(record.time(), datetime!(2020-01-01 00:00 UTC));
    }

    #[test]
    fn multi_line_records_become_one_line_with_strings_untouched() {
        let text = "{\n  \"id\": \"b 2\",\n  \"createdDateTime\": \"2026-11-26T21:00:00Z\",\n  \"note\": \"two  spaces \\\" and \\\\\"\n}";
        let record = AuditRecord::read(raw(text), TimeField::CreatedDateTime).unwrap();
        let mut line = Vec::new();
        record.write_line(&mut line);
        let line = String::from_utf8(line).unwrap();
        assert_eq!(
            line,
            "{\"id\":\"b 2\",\"createdDateTime\":\"2026-11-26T21:00:00Z\",\"note\":\"two  spaces \\\" and \\\\\"}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn records_without_id_or_time_are_refused_with_the_reason() {
        assert!(matches!(
            AuditRecord::read(
                raw(r#"{"activityDateTime":"2026-11-26T21:00:00Z"}"#),
                TimeField::ActivityDateTime
            ),
            Err(RecordError::Shape(_))
        ));
        assert_eq!(
            AuditRecord::read(raw(r#"{"id":"x"}"#), TimeField::CreatedDateTime).unwrap_err(),
            RecordError::MissingTime {
                id: "x".into(),
                field: "createdDateTime"
            }
        );
        assert!(matches!(
            AuditRecord::read(
                raw(r#"{"id":"x","createdDateTime":"soon"}"#),
                TimeField::CreatedDateTime
            ),
            Err(RecordError::BadTime { .. })
        ));
        assert!(matches!(
            AuditRecord::read(raw("[1,2]"), TimeField::CreatedDateTime),
            Err(RecordError::Shape(_))
        ));
    }
}
