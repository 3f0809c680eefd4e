//! Domain struct ⇄ BSON document, in one place.
//!
//! The domain's serde gives the camelCase document the seed describes, with ids as
//! 24-hex strings and times as RFC 3339 strings (that is what the SQLite adapter stores
//! as JSON). MongoDB must hold what the Node.js/Mongoose original wrote: `_id` and
//! references as `ObjectId`, times as `Date`. So a document goes domain → JSON → BSON,
//! and each collection's [`Schema`] names the paths whose strings become `Date` or
//! `ObjectId`. Reading goes back the same way: every `Date` becomes an RFC 3339 string
//! with milliseconds and every `ObjectId` its hex form, wherever they are, and the
//! schema's integer paths accept the doubles Mongoose writes for JavaScript numbers.
//!
//! Numbers: JSON integers become `Int64`, other numbers `Double`; read back, `Int32`
//! and `Int64` are integers and `Double` a float, so free-form maps (`metadata`,
//! `customFields`, `data`, …) round-trip unchanged.

use bson::{Bson, Document};
use chrono::{DateTime, SecondsFormat, Utc};
use outcall_domain::ObjectId;
use outcall_store::{StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// How a path's value is stored, where it differs from the plain JSON → BSON mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An RFC 3339 string in the domain, a BSON `Date` in MongoDB.
    Date,
    /// A 24-hex string in the domain, a BSON `ObjectId` in MongoDB.
    Oid,
    /// An array of 24-hex strings in the domain, of `ObjectId`s in MongoDB.
    Oids,
    /// An integer in the domain; a Mongoose-written `Double` holding a whole number reads as one.
    Int,
}

/// One collection: its name and the dotted paths with a special [`Kind`].
#[derive(Debug)]
pub(crate) struct Schema {
    pub name: &'static str,
    pub paths: &'static [(&'static str, Kind)],
}

use Kind::{Date, Int, Oid, Oids};

pub(crate) const CALLS: Schema = Schema {
    name: "calls",
    paths: &[
        ("_id", Oid),
        ("startTime", Date),
        ("endTime", Date),
        ("answerTime", Date),
        ("createdAt", Date),
        ("updatedAt", Date),
        ("campaignId", Oid),
        ("contactId", Oid),
        ("duration", Int),
        ("sequenceNumber", Int),
    ],
};

pub(crate) const RECORDINGS: Schema = Schema {
    name: "recordings",
    paths: &[
        ("_id", Oid),
        ("startTime", Date),
        ("createdAt", Date),
        ("updatedAt", Date),
        ("duration", Int),
        ("channels", Int),
    ],
};

pub(crate) const TRANSCRIPTS: Schema = Schema {
    name: "transcripts",
    paths: &[("_id", Oid), ("createdAt", Date), ("updatedAt", Date)],
};

pub(crate) const EVENTS: Schema = Schema {
    name: "callevents",
    paths: &[
        ("_id", Oid),
        ("timestamp", Date),
        ("createdAt", Date),
        ("updatedAt", Date),
    ],
};

pub(crate) const CAMPAIGNS: Schema = Schema {
    name: "campaigns",
    paths: &[
        ("_id", Oid),
        ("lastExecuted", Date),
        ("nextExecution", Date),
        ("runner.expiresAt", Date),
        ("createdAt", Date),
        ("updatedAt", Date),
        ("contactIds", Oids),
        ("callIds", Oids),
        ("stats.totalContacts", Int),
        ("stats.callsPlaced", Int),
        ("stats.callsCompleted", Int),
        ("stats.callsAnswered", Int),
        ("stats.callsFailed", Int),
        ("stats.totalDuration", Int),
        ("settings.maxConcurrentCalls", Int),
        ("settings.retryCount", Int),
    ],
};

pub(crate) const CONTACTS: Schema = Schema {
    name: "contacts",
    paths: &[
        ("_id", Oid),
        ("lastContacted", Date),
        ("createdAt", Date),
        ("updatedAt", Date),
        ("callIds", Oids),
        ("campaignIds", Oids),
        ("callCount", Int),
        ("priority", Int),
        ("sheetInfo.rowIndex", Int),
    ],
};

pub(crate) const DNC: Schema = Schema {
    name: "donotcall",
    paths: &[("_id", Oid), ("createdAt", Date), ("updatedAt", Date)],
};

pub(crate) const CAMPAIGN_CONTACTS: Schema = Schema {
    name: "campaigncontacts",
    paths: &[
        ("_id", Oid),
        ("campaignId", Oid),
        ("contactId", Oid),
        ("nextAttemptAt", Date),
        ("lease.expiresAt", Date),
        ("dialledAt", Date),
        ("createdAt", Date),
        ("updatedAt", Date),
        ("attempts", Int),
        ("priority", Int),
    ],
};

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(what.to_string())
}

/// A domain value as the BSON document MongoDB stores.
pub(crate) fn to_document<T: Serialize>(value: &T, schema: &Schema) -> StoreResult<Document> {
    let json = serde_json::to_value(value)
        .map_err(|e| internal(format!("encode {} document: {e}", schema.name)))?;
    let Value::Object(map) = json else {
        return Err(internal(format!(
            "encode {} document: not an object",
            schema.name
        )));
    };
    object_to_document(map, schema)
}

/// A JSON object (a whole document, or the fields of a `$set`, with dotted or nested
/// keys) as BSON, with the schema's paths converted.
pub(crate) fn object_to_document(
    map: Map<String, Value>,
    schema: &Schema,
) -> StoreResult<Document> {
    let mut doc = Document::new();
    for (k, v) in map {
        doc.insert(k, json_to_bson(v));
    }
    for (path, kind) in schema.paths {
        convert_path(&mut doc, path, *kind, schema.name)?;
    }
    // `$set` documents name nested fields by dotted keys ("stats.callsPlaced").
    let dotted: Vec<String> = doc.keys().filter(|k| k.contains('.')).cloned().collect();
    for key in dotted {
        if let Some((_, kind)) = schema.paths.iter().find(|(p, _)| *p == key)
            && let Some(v) = doc.get_mut(&key)
        {
            *v = to_kind(std::mem::take(v), *kind, &key, schema.name)?;
        }
    }
    Ok(doc)
}

/// A stored document as the domain value.
pub(crate) fn from_document<T: DeserializeOwned>(
    mut doc: Document,
    schema: &Schema,
) -> StoreResult<T> {
    for (path, kind) in schema.paths {
        if *kind == Int {
            coerce_int(&mut doc, path);
        }
    }
    let json = Value::Object(document_to_json(doc));
    serde_json::from_value(json)
        .map_err(|e| internal(format!("decode stored {} document: {e}", schema.name)))
}

/// A stored document's `_id` as text, for logs (hex for an `ObjectId`).
pub(crate) fn doc_id(doc: &Document) -> String {
    match doc.get("_id") {
        Some(Bson::ObjectId(o)) => o.to_hex(),
        Some(other) => other.to_string(),
        None => "(no _id)".to_string(),
    }
}

/// What a read matches a call's `campaignId` with: the `ObjectId` outcall writes, or
/// the hex string the Node.js system the seed documents wrote there.
pub(crate) fn call_campaign(id: ObjectId) -> Bson {
    bson::doc! {"$in": [oid(id), id.to_hex()]}.into()
}

/// A domain id as a BSON `ObjectId`.
pub(crate) fn oid(id: ObjectId) -> bson::oid::ObjectId {
    bson::oid::ObjectId::from_bytes(id.bytes())
}

/// A timestamp as a BSON `Date` (milliseconds; finer parts are dropped, as MongoDB does).
pub(crate) fn date(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

fn json_to_bson(v: Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Bson::Int64(i),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(a) => Bson::Array(a.into_iter().map(json_to_bson).collect()),
        Value::Object(m) => {
            let mut d = Document::new();
            for (k, v) in m {
                d.insert(k, json_to_bson(v));
            }
            Bson::Document(d)
        }
    }
}

fn date_to_json(d: bson::DateTime) -> Value {
    match DateTime::<Utc>::from_timestamp_millis(d.timestamp_millis()) {
        Some(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => Bson::DateTime(d).into_relaxed_extjson(),
    }
}

pub(crate) fn document_to_json(doc: Document) -> Map<String, Value> {
    doc.into_iter().map(|(k, v)| (k, bson_to_json(v))).collect()
}

fn bson_to_json(v: Bson) -> Value {
    match v {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::Array(a) => Value::Array(a.into_iter().map(bson_to_json).collect()),
        Bson::Document(d) => Value::Object(document_to_json(d)),
        Bson::DateTime(d) => date_to_json(d),
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::Decimal128(d) => Value::String(d.to_string()),
        other => other.into_relaxed_extjson(),
    }
}

/// Converts the value at `path` (dotted, through nested documents) in place.
fn convert_path(doc: &mut Document, path: &str, kind: Kind, coll: &str) -> StoreResult<()> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match (doc.get_mut(head), rest) {
        (Some(Bson::Document(inner)), Some(rest)) => convert_path(inner, rest, kind, coll),
        (Some(v), None) => {
            *v = to_kind(std::mem::take(v), kind, path, coll)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn to_kind(v: Bson, kind: Kind, path: &str, coll: &str) -> StoreResult<Bson> {
    let bad = |what: &str, v: &Bson| internal(format!("{coll}.{path}: {what}: {v}"));
    Ok(match (kind, v) {
        (Date, Bson::String(s)) => {
            let t = DateTime::parse_from_rfc3339(&s)
                .map_err(|e| bad(&format!("not a date ({e})"), &Bson::String(s.clone())))?;
            Bson::DateTime(date(t.with_timezone(&Utc)))
        }
        (Oid, Bson::String(s)) => Bson::ObjectId(
            parse_oid(&s).ok_or_else(|| bad("not an ObjectId", &Bson::String(s.clone())))?,
        ),
        (Oids, Bson::Array(items)) => Bson::Array(
            items
                .into_iter()
                .map(|i| to_kind(i, Oid, path, coll))
                .collect::<StoreResult<_>>()?,
        ),
        (_, v) => v,
    })
}

fn parse_oid(s: &str) -> Option<bson::oid::ObjectId> {
    s.parse::<ObjectId>().ok().map(oid)
}

fn coerce_int(doc: &mut Document, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match (doc.get_mut(head), rest) {
        (Some(Bson::Document(inner)), Some(rest)) => coerce_int(inner, rest),
        (Some(v), None) => {
            if let Bson::Double(f) = *v
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *v = Bson::Int64(f as i64);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use chrono::{TimeDelta, TimeZone};
    use outcall_domain::call::{Call, CallStatus};
    use outcall_domain::campaign::Campaign;
    use outcall_domain::campaign_contact::{CampaignContact, Lease};
    use outcall_domain::contact::Contact;
    use outcall_domain::time;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
            .single()
            .expect("a valid date")
            + TimeDelta::milliseconds(123)
    }

    #[test]
    fn a_call_is_stored_with_object_ids_and_dates() {
        let mut c = Call::new("CA1", "+15005550006", "+14155552671");
        c.created_at = at();
        c.updated_at = at();
        c.start_time = Some(at());
        c.campaign_id = Some(ObjectId::new());
        c.metadata = json!({"n": 2, "x": 0.5, "s": "2024-05-06T07:08:09.123Z", "id": "0123456789abcdef01234567"})
            .as_object()
            .expect("an object")
            .clone();
        let d = to_document(&c, &CALLS).expect("encode");
        assert_eq!(d.get("_id"), Some(&Bson::ObjectId(oid(c.id))));
        assert_eq!(
            d.get("campaignId"),
            Some(&Bson::ObjectId(oid(c.campaign_id.expect("set"))))
        );
        let when = bson::DateTime::from_millis(at().timestamp_millis());
        for f in ["createdAt", "updatedAt", "startTime"] {
            assert_eq!(d.get(f), Some(&Bson::DateTime(when)), "{f}");
        }
        assert_eq!(d.get_str("status"), Ok("initiated"));
        assert_eq!(d.get_str("callSid"), Ok("CA1"));
        assert!(!d.contains_key("endTime"), "absent options stay absent");
        // Free-form maps are kept as given: strings that look like dates or ids stay strings.
        assert_eq!(
            d.get_document("metadata").expect("metadata"),
            &doc! {"id": "0123456789abcdef01234567", "n": 2_i64, "s": "2024-05-06T07:08:09.123Z", "x": 0.5}
        );
        let back: Call = from_document(d, &CALLS).expect("decode");
        assert_eq!(back, c);
    }

    #[test]
    fn nested_dates_and_id_arrays_convert() {
        let mut cc = CampaignContact::new(ObjectId::new(), ObjectId::new(), "+14155552671");
        cc.lease = Some(Lease {
            owner: "h".into(),
            attempt_id: "a".into(),
            expires_at: at(),
        });
        cc.created_at = at();
        cc.updated_at = at();
        let d = to_document(&cc, &CAMPAIGN_CONTACTS).expect("encode");
        assert!(matches!(
            d.get_document("lease").expect("lease").get("expiresAt"),
            Some(Bson::DateTime(_))
        ));
        assert!(matches!(d.get("contactId"), Some(Bson::ObjectId(_))));
        assert_eq!(
            from_document::<CampaignContact>(d, &CAMPAIGN_CONTACTS).expect("decode"),
            cc
        );

        let mut c = Contact::new("+14155552671");
        c.campaign_ids = vec![ObjectId::new(), ObjectId::new()];
        c.call_ids = vec![ObjectId::new()];
        let d = to_document(&c, &CONTACTS).expect("encode");
        let ids = d.get_array("campaignIds").expect("campaignIds");
        assert!(ids.iter().all(|i| matches!(i, Bson::ObjectId(_))));
        assert_eq!(from_document::<Contact>(d, &CONTACTS).expect("decode"), c);
    }

    #[test]
    fn reads_a_document_mongoose_wrote() {
        // JavaScript numbers are doubles; Mongoose adds __v; missing fields take defaults.
        let id = bson::oid::ObjectId::new();
        let d = doc! {
            "_id": id,
            "name": "Legacy",
            "status": "active",
            "stats": {"totalContacts": 4.0, "callsPlaced": 2.0, "callsCompleted": 2.0,
                      "callsAnswered": 2.0, "callsFailed": 0.0, "averageDuration": 15.0},
            "settings": {"callDelay": 5.0, "maxConcurrentCalls": 1.0, "retryCount": 0.0, "retryDelay": 3600.0},
            "contactIds": [bson::oid::ObjectId::new()],
            "callIds": [],
            "createdAt": bson::DateTime::from_millis(at().timestamp_millis()),
            "updatedAt": bson::DateTime::from_millis(at().timestamp_millis()),
            "__v": 0,
        };
        let c: Campaign = from_document(d, &CAMPAIGNS).expect("decode");
        assert_eq!(c.id.to_hex(), id.to_hex());
        assert_eq!(c.stats.calls_answered, 2);
        assert_eq!(c.stats.average_duration, 15.0);
        assert_eq!(c.settings.retry_delay, 3600.0);
        assert_eq!(c.created_at, at());
    }

    #[test]
    fn set_fields_with_dotted_paths_convert() {
        let d = object_to_document(
            json!({"nextExecution": "2024-05-06T07:08:09.123Z", "lease.expiresAt": "2024-05-06T07:08:09.123Z"})
                .as_object()
                .expect("object")
                .clone(),
            &CAMPAIGN_CONTACTS,
        )
        .expect("convert");
        assert!(matches!(d.get("lease.expiresAt"), Some(Bson::DateTime(_))));
        // nextExecution is a campaigns path, not a campaigncontacts one.
        assert!(matches!(d.get("nextExecution"), Some(Bson::String(_))));
    }

    #[test]
    fn dates_keep_milliseconds_and_drop_finer_parts() {
        let t = time::now();
        let mut c = Call::new("CA2", "a", "b");
        c.status = CallStatus::Ringing;
        c.created_at = t;
        c.updated_at = t;
        let back: Call =
            from_document(to_document(&c, &CALLS).expect("encode"), &CALLS).expect("decode");
        assert_eq!(back.created_at, t);
    }

    #[test]
    fn a_bad_id_is_an_error_not_a_panic() {
        let err = object_to_document(
            json!({"_id": "nope"}).as_object().expect("object").clone(),
            &CALLS,
        )
        .expect_err("not an id");
        assert!(err.to_string().contains("calls._id"), "{err}");
    }
}
