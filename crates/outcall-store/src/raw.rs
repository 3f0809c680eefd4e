//! Documents written exactly as another system wrote them. The conformance suite and
//! the API tests load fixtures in the shape the Node.js system the seed documents
//! wrote, to prove outcall reads them; nothing in the server writes through this.
//!
//! A raw document is relaxed MongoDB Extended JSON: `{"$oid": "…"}` for an `ObjectId`,
//! `{"$date": "…"}` for a `Date`, anything else as plain JSON. MongoDB stores it as
//! those BSON types; SQLite (whose documents are plain JSON) stores the hex and the
//! RFC 3339 text, as it stores outcall's own documents.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::StoreResult;

#[async_trait]
pub trait RawDocumentStore: Send + Sync {
    /// Inserts `doc` into `collection` as given: no domain type, no defaults, no
    /// validation (the index columns SQLite keeps are read from the document).
    async fn insert_raw(&self, collection: &str, doc: Map<String, Value>) -> StoreResult<()>;
}

/// `doc` with Extended JSON `$oid` and `$date` values made plain: the hex string, and
/// the time as RFC 3339 with milliseconds in UTC. Whole-number doubles become integers,
/// as JavaScript's `JSON.stringify` writes them (`42.0` is `42`).
pub fn plain_json(doc: Value) -> Value {
    match doc {
        Value::Object(m) if m.len() == 1 && m.contains_key("$oid") => {
            m.into_iter().next().map_or(Value::Null, |(_, v)| v)
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("$date") => {
            let v = m.into_iter().next().map_or(Value::Null, |(_, v)| v);
            let t = match &v {
                Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
                Value::Number(n) => n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis),
                _ => None,
            };
            t.map_or(v, |t| {
                Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
            })
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, plain_json(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(plain_json).collect()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extended_json_becomes_plain() {
        let doc = json!({"_id": {"$oid": "0123456789abcdef01234567"},
            "at": {"$date": "2026-03-04T05:06:07.89+01:00"}, "ms": {"$date": 0},
            "list": [{"$oid": "0123456789abcdef01234568"}], "n": 1, "f": 42.0, "g": 2.5});
        assert_eq!(
            plain_json(doc),
            json!({"_id": "0123456789abcdef01234567", "at": "2026-03-04T04:06:07.890Z",
                "ms": "1970-01-01T00:00:00.000Z", "list": ["0123456789abcdef01234568"], "n": 1,
                "f": 42, "g": 2.5})
        );
    }
}
