//! Lists that survive a document they cannot read. A database another system wrote
//! may hold a document no tolerance in the domain types covers (a field of the wrong
//! type, a malformed id). One such document must not turn a whole list, a dashboard or
//! a background task into an error: the adapters decode a page's documents through
//! [`decode_items`], which leaves the unreadable ones out, counts them in
//! [`Page::skipped`](outcall_domain::Page::skipped), and logs each one's id once per
//! process (a list read every few seconds would otherwise repeat it forever).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::StoreResult;

/// Decodes `(id, document)` pairs of `collection` with `decode`; returns the decoded
/// items in order and how many were skipped.
pub fn decode_items<D, T>(
    collection: &str,
    docs: impl IntoIterator<Item = (String, D)>,
    decode: impl Fn(D) -> StoreResult<T>,
) -> (Vec<T>, u64) {
    let mut items = Vec::new();
    let mut skipped = 0;
    for (id, doc) in docs {
        match decode(doc) {
            Ok(item) => items.push(item),
            Err(e) => {
                skipped += 1;
                if first_time(collection, &id) {
                    tracing::warn!(
                        collection,
                        id = %id,
                        "skipped a stored document that cannot be read: {e}"
                    );
                }
            }
        }
    }
    (items, skipped)
}

/// Whether `(collection, id)` is reported for the first time in this process.
fn first_time(collection: &str, id: &str) -> bool {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Mutex::default);
    // A poisoned set only means another thread panicked while inserting: keep using it.
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    seen.insert(format!("{collection}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    #[test]
    fn unreadable_documents_are_skipped_and_counted() {
        let docs = vec![
            ("a".to_string(), "1"),
            ("b".to_string(), "x"),
            ("c".to_string(), "3"),
        ];
        let parse = |d: &str| {
            d.parse::<u8>()
                .map_err(|e| StoreError::Internal(e.to_string()))
        };
        let (items, skipped) = decode_items("things", docs.clone(), parse);
        assert_eq!((items, skipped), (vec![1, 3], 1));
        assert!(!first_time("things", "b"), "b was reported already");
        assert!(first_time("things", "c"));
    }
}
