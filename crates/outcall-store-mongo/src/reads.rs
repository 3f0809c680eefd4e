//! Which server each read goes to. A read whose answer decides a write goes to the
//! primary whatever `MONGODB_READ_PREFERENCE` allows: a secondary may lag, and a stale
//! answer there makes a placed call look unconfirmed (the lease check's lookup of an
//! attempt's call), a paused campaign look active (its status re-read before a dial),
//! or a campaign look finished (the claim's and completion's counts and its read of
//! the contacts left). Lists, their totals and analytics for people use the configured
//! read preference.

use mongodb::options::{ReadPreference, SelectionCriteria};

/// A read the store makes, named by what its answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// One document by its key (`get_call`, `get_campaign`, `get_contact`,
    /// `get_campaign_contact`, ...): callers act on it, and compare-and-set loops
    /// re-read through it.
    Document,
    /// `list_calls` filtered by attempt id: the lease check's lookup of the call an
    /// attempt placed.
    CallOfAttempt,
    /// A contact by its number: the do-not-call check before a dial.
    ContactByPhone,
    /// `count_campaign_contacts`: the claim's and completion's counts.
    DialCounts,
    /// `expired_attempts`: which attempts another process may take over.
    ExpiredAttempts,
    /// `recount_campaign_calls`: the tally written over a campaign's stats.
    Recount,
    /// `list_campaign_contacts`: the completion's read of what is left to dial, and
    /// of how many contacts it finds (the API's pages of a campaign's contacts share it).
    CampaignContacts,
    /// A page of a list and its total, for the API and the dashboard.
    List,
    /// Analytics pipelines and the recent-events feed.
    Analytics,
}

/// Where a [`Read`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Primary,
    /// `MONGODB_READ_PREFERENCE` (or the URI's `readPreference`).
    Configured,
}

impl Read {
    pub(crate) fn server(self) -> Server {
        match self {
            Read::List | Read::Analytics => Server::Configured,
            Read::Document
            | Read::CallOfAttempt
            | Read::ContactByPhone
            | Read::DialCounts
            | Read::ExpiredAttempts
            | Read::Recount
            | Read::CampaignContacts => Server::Primary,
        }
    }
}

/// The primary, set on the decision reads' handle explicitly (not left to the client's
/// default), so no setting can move them.
pub(crate) fn primary() -> SelectionCriteria {
    SelectionCriteria::ReadPreference(ReadPreference::Primary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::options::{ClientOptions, ReadPreferenceOptions};

    use crate::MongoStore;
    use crate::mapping::{CALLS, CAMPAIGN_CONTACTS, CAMPAIGNS, CONTACTS};

    #[test]
    fn reads_that_decide_a_write_go_to_the_primary() {
        for read in [
            Read::Document,
            Read::CallOfAttempt,
            Read::ContactByPhone,
            Read::DialCounts,
            Read::ExpiredAttempts,
            Read::Recount,
            Read::CampaignContacts,
        ] {
            assert_eq!(read.server(), Server::Primary, "{read:?}");
        }
        for read in [Read::List, Read::Analytics] {
            assert_eq!(read.server(), Server::Configured, "{read:?}");
        }
    }

    /// With `secondary` configured, the handles the store reads through carry it only
    /// for lists and analytics; the engine's reads carry the primary explicitly.
    #[tokio::test]
    async fn a_secondary_read_preference_moves_only_lists_and_analytics() {
        let secondary = SelectionCriteria::ReadPreference(ReadPreference::Secondary {
            options: Some(ReadPreferenceOptions::default()),
        });
        // Parsing and building a client connect to nothing.
        let mut options = ClientOptions::parse("mongodb://127.0.0.1:1")
            .await
            .expect("options");
        options.selection_criteria = Some(secondary.clone());
        let store = MongoStore::from_client_options(options, "reads").expect("client");
        let criteria = |schema, read| {
            store
                .reads(schema, read)
                .selection_criteria()
                .cloned()
                .expect("a selection criteria on every read handle")
        };
        assert_eq!(criteria(&CALLS, Read::CallOfAttempt), primary());
        assert_eq!(criteria(&CALLS, Read::Document), primary());
        assert_eq!(criteria(&CAMPAIGNS, Read::Document), primary());
        assert_eq!(criteria(&CAMPAIGNS, Read::Recount), primary());
        assert_eq!(criteria(&CAMPAIGN_CONTACTS, Read::DialCounts), primary());
        assert_eq!(
            criteria(&CAMPAIGN_CONTACTS, Read::ExpiredAttempts),
            primary()
        );
        assert_eq!(criteria(&CONTACTS, Read::ContactByPhone), primary());
        assert_eq!(criteria(&CALLS, Read::List), secondary);
        assert_eq!(criteria(&CALLS, Read::Analytics), secondary);
    }
}
