//! Which dependencies a bus event changes.
//!
//! Precise where the event says enough, broad where it must: any call change changes
//! every answer built from all calls; a call's own campaign and contact change with
//! it. Events about a call that carry a recording or transcript rather than the call
//! do not name its campaign or contact; those are remembered from the events that
//! did carry the call, and when unknown (a call of another process, or from before a
//! restart) every contact's answers are dropped.

use std::time::Duration;

use serde_json::Value;

use super::Dep;
use crate::bus::{BusEvent, CallUpdate};

/// Call event kinds whose `data` is the stored call.
const CARRIES_THE_CALL: [&str; 6] = [
    "new_call",
    "call_updated",
    "status_update",
    "call_ended",
    "machine_detection",
    "conversation_started",
];

/// A call's campaign and contact (hex ids), as last seen on the bus.
#[derive(Debug, Clone, Default)]
struct Owners {
    campaign: Option<String>,
    contact: Option<String>,
}

impl Owners {
    fn of(call: &Value) -> Self {
        let id = |k: &str| call.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            campaign: id("campaignId"),
            contact: id("contactId"),
        }
    }
}

/// Remembers which campaign and contact each recent call belongs to. Bounded: a day,
/// and at most 100,000 calls; one forgotten only widens an invalidation.
pub(super) struct CallOwners(moka::sync::Cache<String, Owners>);

impl CallOwners {
    pub(super) fn new() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(86_400))
                .build(),
        )
    }

    /// The dependencies `event` changes.
    pub(super) fn changed_by(&self, event: &BusEvent) -> Vec<Dep> {
        match event {
            BusEvent::Call(update) => self.call_changed(update),
            // A live utterance is published before it is stored, from the media relay;
            // the store write that follows publishes `transcript_saved`, which drops
            // the call's answers. Nothing to do here, on the audio path.
            BusEvent::Transcript(_) => Vec::new(),
            BusEvent::Campaign(c) => vec![Dep::Campaign(c.campaign_id.clone())],
            BusEvent::Contact(c) if c.contact_id.is_empty() => vec![Dep::AnyContact],
            BusEvent::Contact(c) => vec![Dep::Contact(c.contact_id.clone())],
        }
    }

    fn call_changed(&self, update: &CallUpdate) -> Vec<Dep> {
        let mut deps = vec![Dep::AnyCall, Dep::call(&update.call_sid)];
        let owners = if CARRIES_THE_CALL.contains(&update.kind) {
            let owners = Owners::of(&update.data);
            self.0.insert(update.call_sid.clone(), owners.clone());
            Some(owners)
        } else {
            self.0.get(&update.call_sid)
        };
        match owners {
            Some(o) => {
                deps.extend(o.campaign.map(Dep::Campaign));
                deps.extend(o.contact.map(Dep::Contact));
            }
            None => deps.push(Dep::AnyContact),
        }
        deps
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bus::{CampaignUpdate, ContactUpdate};

    fn call_event(kind: &'static str, data: Value) -> BusEvent {
        BusEvent::Call(CallUpdate {
            kind,
            call_sid: "CA1".into(),
            timestamp: outcall_domain::time::now(),
            data,
        })
    }

    #[test]
    fn a_call_change_reaches_its_campaign_and_contact() {
        let owners = CallOwners::new();
        let call = json!({"callSid": "CA1", "campaignId": "c1", "contactId": "k1"});
        assert_eq!(
            owners.changed_by(&call_event("status_update", call)),
            vec![
                Dep::AnyCall,
                Dep::call("CA1"),
                Dep::Campaign("c1".into()),
                Dep::Contact("k1".into())
            ]
        );
        // A recording names neither, but the call was seen.
        let recording = json!({"recordingSid": "RE1", "callSid": "CA1"});
        assert_eq!(
            owners.changed_by(&call_event("recording_update", recording)),
            vec![
                Dep::AnyCall,
                Dep::call("CA1"),
                Dep::Campaign("c1".into()),
                Dep::Contact("k1".into())
            ]
        );
    }

    #[test]
    fn a_live_utterance_changes_nothing_until_it_is_stored() {
        let owners = CallOwners::new();
        let live = BusEvent::Transcript(crate::bus::TranscriptUpdate {
            call_sid: "CA1".into(),
            role: outcall_domain::transcript::Role::User,
            message: "Yes".into(),
            time_in_call_secs: 1.0,
            is_final: true,
        });
        assert!(owners.changed_by(&live).is_empty());
        assert!(
            owners
                .changed_by(&call_event("transcript_saved", json!({"callSid": "CA1"})))
                .contains(&Dep::call("CA1")),
            "the stored turns drop the call's answers"
        );
    }

    #[test]
    fn an_unknown_calls_recording_drops_every_contacts_answers() {
        let owners = CallOwners::new();
        let recording = json!({"recordingSid": "RE1", "callSid": "CA1"});
        assert_eq!(
            owners.changed_by(&call_event("recording_update", recording)),
            vec![Dep::AnyCall, Dep::call("CA1"), Dep::AnyContact]
        );
    }

    #[test]
    fn campaign_and_contact_events_are_precise_imports_broad() {
        let owners = CallOwners::new();
        let campaign = BusEvent::Campaign(CampaignUpdate {
            kind: "status_update",
            campaign_id: "c1".into(),
            data: Value::Null,
        });
        assert_eq!(
            owners.changed_by(&campaign),
            vec![Dep::Campaign("c1".into())]
        );
        let contact = |id: &str| {
            BusEvent::Contact(ContactUpdate {
                kind: "updated",
                contact_id: id.into(),
                data: Value::Null,
            })
        };
        assert_eq!(
            owners.changed_by(&contact("k1")),
            vec![Dep::Contact("k1".into())]
        );
        assert_eq!(owners.changed_by(&contact("")), vec![Dep::AnyContact]);
    }
}
