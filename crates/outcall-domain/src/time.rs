//! Timestamps. Every store keeps millisecond precision (MongoDB's `Date` does),
//! so the domain truncates to milliseconds once, here, and both adapters agree.

use chrono::{DateTime, SubsecRound, Utc};

pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to milliseconds.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(3)
}

/// Truncates a timestamp to the precision the stores keep.
pub fn to_millis(t: Timestamp) -> Timestamp {
    t.trunc_subsecs(3)
}
