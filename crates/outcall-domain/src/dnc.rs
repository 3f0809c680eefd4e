//! The number-level do-not-call list (`donotcall`): numbers nobody may call, whether
//! or not a contact carries them. A number is blocked when it is on this list or any
//! contact record with it is `do-not-call` ([`Blocked`] says which).

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::time::Timestamp;

/// Longest `reason` kept with a listed number.
pub const MAX_REASON: usize = 500;

/// One listed number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DncEntry {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// E.164 with the `+`; unique in the list.
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl DncEntry {
    pub fn new(phone_number: impl Into<String>, reason: Option<String>) -> Self {
        let now = crate::time::now();
        Self {
            id: ObjectId::new(),
            phone_number: phone_number.into(),
            reason,
            created_at: now,
            updated_at: now,
        }
    }
}

impl crate::time::MillisecondTimes for DncEntry {
    fn truncate_times(&mut self) {
        crate::time::truncate(&mut self.created_at);
        crate::time::truncate(&mut self.updated_at);
    }
}

/// Why a number must not be called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "source")]
pub enum Blocked {
    /// On the do-not-call list, with the reason it was listed for.
    #[serde(rename = "list")]
    List {
        #[serde(rename = "listReason", skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A contact record with the number is `do-not-call`.
    #[serde(rename = "contact")]
    Contact {
        #[serde(rename = "contactId")]
        contact_id: ObjectId,
    },
}

impl Blocked {
    /// The reason in words, for an error message or a log line.
    pub fn describe(&self, number: &str) -> String {
        match self {
            Self::List { reason: Some(r) } => {
                format!("{number} is on the do-not-call list ({r})")
            }
            Self::List { reason: None } => format!("{number} is on the do-not-call list"),
            Self::Contact { contact_id } => {
                format!("{number} belongs to contact {contact_id}, marked do-not-call")
            }
        }
    }
}
