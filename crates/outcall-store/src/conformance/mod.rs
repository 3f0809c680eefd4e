//! The conformance suite: the behaviour every Store adapter must have, written once.
//!
//! An adapter's tests call [`run`] with a factory that makes a fresh, empty store.
//! Each check runs on its own store in its own task, so one failure does not hide
//! the others; [`run`] panics at the end listing every failed check.
//!
//! A stand-in database that departs from documented behaviour may skip a named
//! check (see [`run`]'s `skip`); the real database never skips anything.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::port::Store;

mod analytics;
mod archive;
mod calls;
mod campaigns;
mod contacts;
mod dialing;
mod dnc;
mod events;
mod recordings;
mod relay;
pub mod seed_docs;
mod transcripts;

pub type DynStore = Arc<dyn Store>;
type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One named behaviour check.
pub struct Check {
    pub name: &'static str,
    pub run: fn(DynStore) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Builds a [`Check`] from an `async fn(DynStore)`.
#[macro_export]
macro_rules! check {
    ($f:path) => {
        $crate::conformance::Check {
            name: concat!(module_path!(), "::", stringify!($f)),
            run: |s| Box::pin($f(s)),
        }
    };
}

/// Every check of the suite.
pub fn all_checks() -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(calls::checks());
    checks.extend(recordings::checks());
    checks.extend(transcripts::checks());
    checks.extend(events::checks());
    checks.extend(campaigns::checks());
    checks.extend(contacts::checks());
    checks.extend(dialing::checks());
    checks.extend(dnc::checks());
    checks.extend(archive::checks());
    checks.extend(analytics::checks());
    checks.extend(relay::checks());
    checks.extend(seed_docs::checks());
    checks
}

/// Runs every check not named in `skip` (a check's name ends with its function name,
/// e.g. `"calls::duplicate_call_sid_conflicts"`; a skip entry matches a name's suffix).
pub async fn run<F, Fut>(factory: F, skip: &[&str])
where
    F: Fn() -> Fut,
    Fut: Future<Output = DynStore>,
{
    let mut failed = Vec::new();
    let mut passed = 0;
    for check in all_checks() {
        if skip.iter().any(|s| check.name.ends_with(s)) {
            eprintln!("conformance: SKIP {}", check.name);
            continue;
        }
        let store = factory().await;
        match tokio::spawn((check.run)(store)).await {
            Ok(()) => {
                passed += 1;
                eprintln!("conformance: ok   {}", check.name);
            }
            Err(e) => {
                eprintln!("conformance: FAIL {}: {e}", check.name);
                failed.push(check.name);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} conformance checks failed ({passed} passed): {failed:#?}",
        failed.len()
    );
}
