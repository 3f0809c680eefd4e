//! Reading documents other systems wrote. outcall keeps the seed's collection and field
//! names, so it reads databases written by the Node.js system the seed documents (and by
//! older or newer outcall versions). Those documents hold enum values and fields outcall
//! does not know; a read must keep them, not fail on them.
//!
//! - [`open_enum!`] gives an enum with an `Other(String)` catch-all its serde: it is
//!   written as its string, and any string reads back (known aliases mapped by the
//!   enum's `from_stored`), so an unknown value is shown and written back as stored.
//!   Input from the API is parsed strictly (`FromStr`, or the handlers' checks of
//!   `is_known`), so `Other` only ever comes from a stored document.
//! - [`null_as_default`] reads a `null` (which Mongoose writes for unset fields) as the
//!   field's default.
//! - Documents keep fields they do not name in a flattened `extra` map, written back
//!   unchanged.

use serde::{Deserialize, Deserializer};

/// Serde for an enum with `as_str(&self) -> &str` and `from_stored(&str) -> Self`.
macro_rules! open_enum {
    ($ty:ident) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                Ok(Self::from_stored(&s))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use open_enum;

/// `null` as the type's default; any other value as the type reads it.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::call::{Call, TerminatedBy};
    use crate::contact::{Contact, ContactStatus};
    use crate::recording::Recording;
    use crate::transcript::{Role, Transcript, TranscriptStatus};

    const T: &str = "2026-03-04T05:06:07.890Z";

    fn back<T: serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v).expect("encode")
    }

    #[test]
    fn seed_contact_statuses_map_or_stay_as_stored() {
        for (stored, read) in [
            ("pending", ContactStatus::Active),
            ("active", ContactStatus::Active),
            ("do-not-call", ContactStatus::DoNotCall),
            ("completed", ContactStatus::Other("completed".into())),
            ("calling", ContactStatus::Other("calling".into())),
        ] {
            let doc = json!({"_id": "0123456789abcdef01234567", "phoneNumber": "+14155550100",
                "status": stored, "lastCallResult": "no-answer", "lastCallDate": T,
                "createdAt": T, "updatedAt": T});
            let c: Contact = serde_json::from_value(doc).expect(stored);
            assert_eq!(c.status, read, "{stored}");
            assert_eq!(c.extra["lastCallResult"], json!("no-answer"));
            let out = back(&c);
            assert_eq!(
                out["lastCallDate"],
                json!(T),
                "unknown fields are written back"
            );
            if stored != "pending" {
                assert_eq!(out["status"], json!(stored), "kept as stored");
            }
        }
        assert!(
            "pending".parse::<ContactStatus>().is_err(),
            "API input stays strict"
        );
        assert_eq!(
            ContactStatus::Active.stored_names(),
            vec!["active", "pending"]
        );
    }

    #[test]
    fn free_text_terminated_by_is_kept() {
        let doc = json!({"_id": "0123456789abcdef01234567", "callSid": "CA1", "status": "completed",
            "from": "+15005550006", "to": "+14155552671", "terminatedBy": "conversation_completed",
            "campaignId": "0123456789abcdef01234568", "__v": 0, "createdAt": T, "updatedAt": T});
        let c: Call = serde_json::from_value(doc.clone()).expect("decode");
        assert_eq!(
            c.terminated_by,
            Some(TerminatedBy::Other("conversation_completed".into()))
        );
        let out = back(&c);
        assert_eq!(out["terminatedBy"], doc["terminatedBy"]);
        assert_eq!(out["__v"], json!(0));
        let ours: Call = serde_json::from_value(json!({"_id": "0123456789abcdef01234567",
            "callSid": "CA1", "status": "completed", "from": "a", "to": "b",
            "terminatedBy": "callee", "createdAt": T, "updatedAt": T}))
        .expect("decode");
        assert_eq!(ours.terminated_by, Some(TerminatedBy::Callee));
        assert!(ours.extra.is_empty());
    }

    #[test]
    fn seed_transcripts_read_with_snake_case_turns() {
        let doc = json!({"_id": "0123456789abcdef01234567", "callSid": "CA1",
            "agent_id": "agent_1", "status": "processing",
            "transcript": [
                {"role": "agent", "message": "Hello", "time_in_call_secs": 0, "_id": "0123456789abcdef01234569"},
                {"role": "user", "message": "Hi", "time_in_call_secs": 2.5},
                {"role": "tool", "message": null, "time_in_call_secs": null}
            ],
            "createdAt": T, "updatedAt": T});
        let t: Transcript = serde_json::from_value(doc).expect("decode");
        assert_eq!(t.status, TranscriptStatus::Other("processing".into()));
        assert!(!t.is_finished(), "an unknown status is never final");
        assert_eq!(t.transcript[1].time_in_call_secs, 2.5);
        assert_eq!(t.transcript[1].role, Role::User);
        assert_eq!(t.transcript[2].role, Role::Other("tool".into()));
        assert_eq!(t.transcript[2].message, "");
        let out = back(&t);
        assert_eq!(out["agent_id"], json!("agent_1"));
        assert_eq!(out["status"], json!("processing"));
        assert_eq!(out["transcript"][1]["timeInCallSecs"], json!(2.5));
        assert_eq!(
            out["transcript"][0]["_id"],
            json!("0123456789abcdef01234569")
        );
        assert_eq!(out["transcript"][2]["role"], json!("tool"));
        let again: Transcript = serde_json::from_value(out.clone()).expect("re-read");
        assert_eq!(back(&again), out, "what outcall writes reads back the same");
    }

    #[test]
    fn recording_extras_round_trip() {
        let doc = json!({"_id": "0123456789abcdef01234567", "recordingSid": "RE1",
            "callSid": "CA1", "status": "completed", "format": "mp3",
            "mp3Url": "https://example.com/r.mp3", "createdAt": T, "updatedAt": T});
        let r: Recording = serde_json::from_value(doc.clone()).expect("decode");
        assert_eq!(back(&r)["format"], json!("mp3"));
        assert_eq!(back(&r)["mp3Url"], doc["mp3Url"]);
    }
}
