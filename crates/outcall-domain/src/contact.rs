//! Contacts (`contacts`): who may be called, with tags, priority and custom fields.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::ObjectId;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ContactStatus {
    #[default]
    Active,
    Inactive,
    /// Never dialled by any campaign, including one already running.
    DoNotCall,
}

impl ContactStatus {
    pub const ALL: [ContactStatus; 3] = [Self::Active, Self::Inactive, Self::DoNotCall];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::DoNotCall => "do-not-call",
        }
    }
}

impl fmt::Display for ContactStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
        if let Some(s) = self.status {
            c.status = s;
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
