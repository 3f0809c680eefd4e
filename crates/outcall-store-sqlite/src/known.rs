//! The documents this store last wrote (or read) on its writer connection, by table
//! and key: what a compare-and-set of the campaign engine's hot writes expects to
//! find, so a write that follows one of this process's own needs no read first.
//!
//! Only ever a guess. A write compares the whole stored document with the one
//! remembered (`UPDATE … AND doc = ?`), so a stale entry (another process wrote since,
//! or a write of this one that bypassed it) makes the write miss, and the document is
//! read and decided again. A refusal decided on a remembered document is never
//! trusted either: it is decided again on one read from the table. The dials of a
//! campaign write each of their documents two to four times in a row; remembering
//! them saves a round trip to the connection's thread on each.

use std::collections::HashMap;
use std::sync::Mutex;

use outcall_store::StoreResult;

/// How many documents are remembered; past it the memory starts over (a hot
/// document is read once more). A campaign's live dials are at most a few hundred.
const CAPACITY: usize = 1024;

/// The remembered documents, shared by the clones of a store.
#[derive(Debug, Default)]
pub(crate) struct Known {
    docs: Mutex<HashMap<(&'static str, String), String>>,
}

impl Known {
    fn docs(&self) -> std::sync::MutexGuard<'_, HashMap<(&'static str, String), String>> {
        self.docs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The document last seen under `key` in `table`, if remembered.
    pub(crate) fn get(&self, table: &'static str, key: &str) -> Option<String> {
        self.docs().get(&(table, key.to_string())).cloned()
    }

    /// Remembers `doc` as the stored document under `key`.
    pub(crate) fn put(&self, table: &'static str, key: String, doc: String) {
        let mut docs = self.docs();
        if docs.len() >= CAPACITY && !docs.contains_key(&(table, key.clone())) {
            docs.clear();
        }
        docs.insert((table, key), doc);
    }

    /// Forgets the document under `key` (it is gone, or no longer known).
    /// The document a compare-and-set decides on: the one `remembered` (taken, and
    /// `true`: a refusal on it must be decided again on a read), else `read` (`false`);
    /// `None`, forgotten, when there is no such row.
    pub(crate) async fn decide_on(
        &self,
        table: &'static str,
        key: &str,
        remembered: &mut Option<String>,
        read: impl std::future::Future<Output = StoreResult<Option<String>>>,
    ) -> StoreResult<Option<(String, bool)>> {
        if let Some(doc) = remembered.take() {
            return Ok(Some((doc, true)));
        }
        let read = read.await?;
        if read.is_none() {
            self.forget(table, key);
        }
        Ok(read.map(|doc| (doc, false)))
    }

    pub(crate) fn forget(&self, table: &'static str, key: &str) {
        self.docs().remove(&(table, key.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_document_and_stays_bounded() {
        let known = Known::default();
        known.put("t", "a".into(), "1".into());
        known.put("t", "a".into(), "2".into());
        assert_eq!(known.get("t", "a").as_deref(), Some("2"));
        assert_eq!(known.get("u", "a"), None, "tables do not share keys");
        known.forget("t", "a");
        assert_eq!(known.get("t", "a"), None);
        for i in 0..CAPACITY * 3 {
            known.put("t", i.to_string(), "d".into());
            assert!(known.docs().len() <= CAPACITY);
        }
    }
}
