//! The kinds of cached answers, each with the seed's time-to-live.

use std::time::Duration;

/// A kind of cached answer: one moka cache, one TTL and one line of stats each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CachedRoute {
    /// `GET /api/db/dashboard/overview` (seed: 60 s).
    Overview,
    /// `GET /api/db/dashboard/realtime` (seed: 15 s).
    Realtime,
    /// A call with its combined data (seed: 30 s); today `GET /api/db/calls/:callSid`.
    CallDetails,
    /// `/api/db/analytics/*` (the seed names no TTL; the overview's 60 s).
    Analytics,
    /// Campaign details and stats (seed: 5 min).
    Campaign,
    /// Contact details and call history (seed: 5 min).
    Contact,
}

impl CachedRoute {
    pub const ALL: [CachedRoute; 6] = [
        Self::Overview,
        Self::Realtime,
        Self::CallDetails,
        Self::Analytics,
        Self::Campaign,
        Self::Contact,
    ];

    /// The name stats report it under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Overview => "overview",
            Self::Realtime => "realtime",
            Self::CallDetails => "callDetails",
            Self::Analytics => "analytics",
            Self::Campaign => "campaign",
            Self::Contact => "contact",
        }
    }

    /// The seed's time-to-live: the longest an answer is kept when nothing it depends
    /// on changes (a change drops it at once).
    pub fn ttl(self) -> Duration {
        Duration::from_secs(match self {
            Self::Overview | Self::Analytics => 60,
            Self::Realtime => 15,
            Self::CallDetails => 30,
            Self::Campaign | Self::Contact => 300,
        })
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}
