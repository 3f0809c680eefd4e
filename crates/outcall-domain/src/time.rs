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

/// Documents whose times a store keeps at millisecond precision. Adapters call
/// [`MillisecondTimes::truncate_times`] before writing, so what is read back equals
/// what was written, whichever store is behind.
pub trait MillisecondTimes {
    fn truncate_times(&mut self);
}

pub(crate) fn truncate_opt(t: &mut Option<Timestamp>) {
    if let Some(v) = t {
        *v = to_millis(*v);
    }
}

pub(crate) fn truncate(t: &mut Timestamp) {
    *t = to_millis(*t);
}
