//! What a cached answer depends on, and a generation counter per dependency.
//!
//! Invalidation bumps counters; an answer is cached under the sum of its
//! dependencies' counters taken *before* it was computed (its version). Counters only
//! grow, so any change to any dependency moves the sum and the old answer is never
//! asked for again. Dependencies hash into a fixed table of counters: memory stays
//! bounded however many calls there are, and a collision only costs an extra miss.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use outcall_domain::ObjectId;

/// One thing an answer depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dep {
    /// Every call, recording and transcript (overview, realtime, analytics).
    AnyCall,
    /// Every contact: bumped by imports and by changes to calls whose contact is
    /// not known here.
    AnyContact,
    Call(String),
    Campaign(String),
    Contact(String),
}

impl Dep {
    pub fn call(call_sid: &str) -> Self {
        Self::Call(call_sid.to_string())
    }

    pub fn campaign(id: ObjectId) -> Self {
        Self::Campaign(id.to_hex())
    }

    pub fn contact(id: ObjectId) -> Self {
        Self::Contact(id.to_hex())
    }
}

const SLOTS: usize = 4096;
const ANY_CALL: usize = 0;
const ANY_CONTACT: usize = 1;
/// Bumped by `clear`: part of every version, so nothing computed before a clear can
/// be found after it.
const EPOCH: usize = 2;
const FIXED: usize = 3;

/// Indexes into the table of counters, the epoch's always included.
pub(super) type Slots = Box<[usize]>;

pub(super) struct Generations {
    counters: Box<[AtomicU64]>,
    hasher: RandomState,
}

impl Generations {
    pub(super) fn new() -> Self {
        Self {
            counters: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
        }
    }

    fn slot(&self, dep: &Dep) -> usize {
        match dep {
            Dep::AnyCall => ANY_CALL,
            Dep::AnyContact => ANY_CONTACT,
            other => FIXED + (self.hasher.hash_one(other) as usize) % (SLOTS - FIXED),
        }
    }

    pub(super) fn slots(&self, deps: &[Dep]) -> Slots {
        let mut slots: Vec<usize> = deps.iter().map(|d| self.slot(d)).collect();
        slots.push(EPOCH);
        slots.sort_unstable();
        slots.dedup();
        slots.into()
    }

    /// The version of an answer depending on `slots`, as of now.
    pub(super) fn version(&self, slots: &[usize]) -> u64 {
        slots
            .iter()
            .map(|&s| self.counters[s].load(Ordering::SeqCst))
            .fold(0, u64::wrapping_add)
    }

    /// Marks `dep` changed. SeqCst: a reader that sees the new count also sees the
    /// store write that came before it.
    pub(super) fn bump(&self, dep: &Dep) {
        self.counters[self.slot(dep)].fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn bump_epoch(&self) {
        self.counters[EPOCH].fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_moves_the_version_of_what_depends_on_it_only() {
        let g = Generations::new();
        let a = g.slots(&[Dep::call("CA1")]);
        let overview = g.slots(&[Dep::AnyCall]);
        let (va, vo) = (g.version(&a), g.version(&overview));
        g.bump(&Dep::AnyCall);
        assert_eq!(g.version(&a), va);
        assert_ne!(g.version(&overview), vo);
        g.bump(&Dep::call("CA1"));
        assert_ne!(g.version(&a), va);
        let va = g.version(&a);
        g.bump_epoch();
        assert_ne!(g.version(&a), va, "a clear moves every version");
    }
}
