//! Contacts (`contacts`): who may be called, with tags, priority and custom fields.
//! One contact per E.164 number in a store ([`merge_duplicates`] folds older data
//! into that shape). Custom fields become the agent's dynamic variables, except the
//! [reserved](RESERVED_VARIABLES) ones the call itself sets.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::id::ObjectId;
use crate::time::Timestamp;

/// A contact's status. The Node.js system the seed documents also wrote its own dial
/// states here: `pending` (its default: a contact not yet called) reads as `active`;
/// `completed`, `failed`, `calling` and any other value are kept as [`Other`](Self::Other)
/// and shown as stored. Dialling decisions read `campaigncontacts`, and only
/// `do-not-call` blocks a dial, so an `Other` contact is neither blocked nor favoured:
/// its old dial state says nothing about whether it may be called.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ContactStatus {
    #[default]
    Active,
    Inactive,
    /// Never dialled by any campaign, including one already running.
    DoNotCall,
    /// A value another system stored, kept as it was.
    Other(String),
}

impl ContactStatus {
    pub const ALL: [ContactStatus; 3] = [Self::Active, Self::Inactive, Self::DoNotCall];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::DoNotCall => "do-not-call",
            Self::Other(s) => s,
        }
    }

    /// A stored value: known names and aliases mapped, anything else kept.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "pending" => Self::Active,
            _ => s.parse().unwrap_or_else(|_| Self::Other(s.to_string())),
        }
    }

    /// The stored values that read as this status (a filter on `active` must also
    /// find the seed system's `pending` contacts).
    pub fn stored_names(&self) -> Vec<&str> {
        match self {
            Self::Active => vec!["active", "pending"],
            other => vec![other.as_str()],
        }
    }

    /// Whether this is one of outcall's own statuses (not [`Other`](Self::Other)).
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

crate::stored::open_enum!(ContactStatus);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown contact status {0:?}: expected one of active, inactive, do-not-call")]
pub struct UnknownContactStatus(pub String);

impl FromStr for ContactStatus {
    type Err = UnknownContactStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownContactStatus(s.to_string()))
    }
}

/// Where a contact came from in a Google Sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactSheetInfo {
    pub spreadsheet_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_index: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Always E.164 with the `+`.
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contacted: Option<Timestamp>,
    #[serde(default)]
    pub call_count: i64,
    #[serde(default)]
    pub call_ids: Vec<ObjectId>,
    #[serde(default)]
    pub campaign_ids: Vec<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet_info: Option<ContactSheetInfo>,
    #[serde(default)]
    pub custom_fields: Map<String, Value>,
    #[serde(default)]
    pub status: ContactStatus,
    /// 0 (lowest) to 10 (highest).
    #[serde(default)]
    pub priority: i64,
    /// IANA time zone name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Fields outcall does not name (e.g. the Node.js system's `lastCallResult`),
    /// kept and written back as stored.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Contact {
    pub fn new(phone_number: impl Into<String>) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            phone_number: phone_number.into(),
            name: None,
            email: None,
            tags: Vec::new(),
            notes: None,
            last_contacted: None,
            call_count: 0,
            call_ids: Vec::new(),
            campaign_ids: Vec::new(),
            sheet_info: None,
            custom_fields: Map::new(),
            status: ContactStatus::Active,
            priority: 0,
            timezone: None,
            created_at: now,
            updated_at: now,
            extra: Map::new(),
        }
    }
}

/// A partial update of a contact: only the fields given change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub notes: Option<String>,
    pub status: Option<ContactStatus>,
    pub priority: Option<i64>,
    pub timezone: Option<String>,
    pub tags: Option<Vec<String>>,
    pub custom_fields: Option<Map<String, Value>>,
    /// Replaces the stored sheet origin (a Sheets import sets it).
    pub sheet_info: Option<ContactSheetInfo>,
}

impl ContactPatch {
    pub fn apply(&self, c: &mut Contact) {
        fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if let Some(v) = src {
                *dst = Some(v.clone());
            }
        }
        set(&mut c.name, &self.name);
        set(&mut c.email, &self.email);
        set(&mut c.notes, &self.notes);
        set(&mut c.timezone, &self.timezone);
        if let Some(s) = &self.status {
            c.status = s.clone();
        }
        if let Some(p) = self.priority {
            c.priority = p;
        }
        if let Some(t) = &self.tags {
            c.tags = t.clone();
        }
        if let Some(f) = &self.custom_fields {
            c.custom_fields = f.clone();
        }
        set(&mut c.sheet_info, &self.sheet_info);
    }
}

impl crate::time::MillisecondTimes for Contact {
    fn truncate_times(&mut self) {
        crate::time::truncate_opt(&mut self.last_contacted);
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}

/// Dynamic variables the media bridge sets from the call itself. No contact field or
/// API input may set them: the agent's tools and the post-call webhook find the call
/// by `call_sid`, so a forged one would write into another call.
pub const RESERVED_VARIABLES: &[&str] = &["call_sid", "phone_number"];

/// Whether `name` is a [reserved](RESERVED_VARIABLES) dynamic variable, or one of
/// ElevenLabs' own `system__…` variables.
pub fn is_reserved_variable(name: &str) -> bool {
    RESERVED_VARIABLES.contains(&name) || name.starts_with("system__")
}

/// The reserved keys a map of variables or custom fields holds, in its order.
pub fn reserved_keys(fields: &Map<String, Value>) -> Vec<String> {
    fields
        .keys()
        .filter(|k| is_reserved_variable(k))
        .cloned()
        .collect()
}

/// The agent's dynamic variables for a call to `phone_number`: the contact's custom
/// fields (strings, numbers and booleans; never a reserved name), its name, and the
/// number dialled.
pub fn dynamic_variables(contact: Option<&Contact>, phone_number: &str) -> Map<String, Value> {
    let mut vars = Map::new();
    if let Some(c) = contact {
        for (k, v) in &c.custom_fields {
            if !is_reserved_variable(k) && (v.is_string() || v.is_number() || v.is_boolean()) {
                vars.insert(k.clone(), v.clone());
            }
        }
        if let Some(n) = &c.name {
            vars.insert("name".into(), json!(n));
        }
    }
    vars.insert("phone_number".into(), json!(phone_number));
    vars
}

/// Several contact records with one number (from before numbers were unique per
/// store), folded into one: the oldest record keeps its id and fields; the others
/// fill what it lacks. Do-not-call wins over any other status (then active over
/// inactive); tags, campaigns and calls are the union, the call count the sum, the
/// priority the highest, `lastContacted` the latest. Returns the kept contact and the
/// ids of the records it replaces; `None` for an empty list.
pub fn merge_duplicates(mut records: Vec<Contact>) -> Option<(Contact, Vec<ObjectId>)> {
    records.sort_by_key(|c| (c.created_at, c.id));
    let mut records = records.into_iter();
    let mut keep = records.next()?;
    let mut gone = Vec::new();
    for other in records {
        gone.push(other.id);
        fn fill<T>(dst: &mut Option<T>, src: Option<T>) {
            if dst.is_none() {
                *dst = src;
            }
        }
        fill(&mut keep.name, other.name);
        fill(&mut keep.email, other.email);
        fill(&mut keep.notes, other.notes);
        fill(&mut keep.timezone, other.timezone);
        fill(&mut keep.sheet_info, other.sheet_info);
        keep.status = match (&keep.status, &other.status) {
            (ContactStatus::DoNotCall, _) | (_, ContactStatus::DoNotCall) => {
                ContactStatus::DoNotCall
            }
            (ContactStatus::Active, _) | (_, ContactStatus::Active) => ContactStatus::Active,
            (ContactStatus::Inactive, _) | (_, ContactStatus::Inactive) => ContactStatus::Inactive,
            // Two values another system wrote: the oldest record's stays.
            (kept, _) => kept.clone(),
        };
        for t in other.tags {
            if !keep.tags.contains(&t) {
                keep.tags.push(t);
            }
        }
        for c in other.campaign_ids {
            if !keep.campaign_ids.contains(&c) {
                keep.campaign_ids.push(c);
            }
        }
        for c in other.call_ids {
            if !keep.call_ids.contains(&c) {
                keep.call_ids.push(c);
            }
        }
        for (k, v) in other.custom_fields {
            keep.custom_fields.entry(k).or_insert(v);
        }
        for (k, v) in other.extra {
            keep.extra.entry(k).or_insert(v);
        }
        keep.call_count += other.call_count;
        keep.priority = keep.priority.max(other.priority);
        keep.last_contacted = keep.last_contacted.max(other.last_contacted);
        keep.updated_at = keep.updated_at.max(other.updated_at);
    }
    Some((keep, gone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn reserved_variables_never_come_from_custom_fields() {
        let mut c = Contact::new("+14155550100");
        c.name = Some("Ada".into());
        c.custom_fields.insert("call_sid".into(), json!("CAforged"));
        c.custom_fields
            .insert("phone_number".into(), json!("+19995550000"));
        c.custom_fields
            .insert("system__caller_id".into(), json!("x"));
        c.custom_fields.insert("plan".into(), json!("gold"));
        c.custom_fields.insert("nested".into(), json!({"a": 1}));
        let vars = dynamic_variables(Some(&c), "+14155550100");
        assert_eq!(vars.get("call_sid"), None);
        assert_eq!(vars.get("system__caller_id"), None);
        assert_eq!(vars["phone_number"], json!("+14155550100"));
        assert_eq!(vars["plan"], json!("gold"));
        assert_eq!(vars["name"], json!("Ada"));
        assert_eq!(vars.get("nested"), None);
        assert_eq!(
            reserved_keys(&c.custom_fields),
            vec!["call_sid", "phone_number", "system__caller_id"]
        );
    }

    #[test]
    fn duplicates_merge_into_the_oldest_and_do_not_call_wins() {
        let t0 = crate::time::now();
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let mut old = Contact::new("+14155550100");
        old.created_at = t0;
        old.campaign_ids = vec![a];
        old.tags = vec!["x".into()];
        old.call_count = 2;
        old.custom_fields.insert("plan".into(), json!("gold"));
        let mut new = Contact::new("+14155550100");
        new.created_at = t0 + Duration::seconds(5);
        new.status = ContactStatus::DoNotCall;
        new.name = Some("Ada".into());
        new.campaign_ids = vec![b, a];
        new.tags = vec!["y".into(), "x".into()];
        new.call_count = 1;
        new.priority = 7;
        new.custom_fields.insert("plan".into(), json!("silver"));
        new.custom_fields.insert("city".into(), json!("Oslo"));
        let (kept, gone) = merge_duplicates(vec![new.clone(), old.clone()]).expect("merged");
        assert_eq!(kept.id, old.id, "the oldest record stays");
        assert_eq!(gone, vec![new.id]);
        assert_eq!(kept.status, ContactStatus::DoNotCall);
        assert_eq!(kept.name.as_deref(), Some("Ada"));
        assert_eq!(kept.campaign_ids, vec![a, b]);
        assert_eq!(kept.tags, vec!["x".to_string(), "y".to_string()]);
        assert_eq!((kept.call_count, kept.priority), (3, 7));
        assert_eq!(
            kept.custom_fields["plan"],
            json!("gold"),
            "the oldest's value"
        );
        assert_eq!(kept.custom_fields["city"], json!("Oslo"));
        assert!(merge_duplicates(Vec::new()).is_none());
    }

    #[test]
    fn merging_keeps_a_stored_status_only_when_no_known_one_is_there() {
        let t0 = crate::time::now();
        let mut old = Contact::new("+14155550100");
        old.created_at = t0;
        old.status = ContactStatus::Other("calling".into());
        old.extra.insert("lastCallResult".into(), json!("busy"));
        let mut new = Contact::new("+14155550100");
        new.created_at = t0 + Duration::seconds(5);
        new.status = ContactStatus::Other("completed".into());
        new.extra.insert("lastCallError".into(), json!("timeout"));
        let (kept, _) = merge_duplicates(vec![old.clone(), new.clone()]).expect("merged");
        assert_eq!(kept.status, ContactStatus::Other("calling".into()));
        assert_eq!(kept.extra["lastCallResult"], json!("busy"));
        assert_eq!(kept.extra["lastCallError"], json!("timeout"));
        new.status = ContactStatus::Inactive;
        let (kept, _) = merge_duplicates(vec![old, new]).expect("merged");
        assert_eq!(kept.status, ContactStatus::Inactive);
    }
}
