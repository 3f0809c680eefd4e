//! The cache's promises, without HTTP: single-flight, errors not cached, and no stale
//! answer surviving a change that lands while it is computed.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tokio::sync::Notify;

use super::*;
use crate::bus::{BusEvent, CampaignUpdate};

fn campaign_changed(id: &str) -> BusEvent {
    BusEvent::Campaign(CampaignUpdate {
        kind: "status_update",
        campaign_id: id.into(),
        data: Value::Null,
    })
}

fn key() -> CacheKey {
    CacheKey::new(CachedRoute::Campaign, &json!({"details": "c1"})).expect("key")
}

fn c1() -> [Dep; 1] {
    [Dep::Campaign("c1".into())]
}

/// Polls `fut` once, so every future it joins has started and is waiting.
async fn poll_once<F: Future + Unpin>(fut: &mut F) {
    tokio::select! {
        biased;
        _ = fut => panic!("finished before it was released"),
        () = std::future::ready(()) => {}
    }
}

#[tokio::test]
async fn fifty_identical_misses_compute_once() {
    let cache = ResponseCache::new(CacheSettings::default());
    let runs = AtomicUsize::new(0);
    let release = Notify::new();
    let deps = c1();
    let mut all = Box::pin(futures::future::join_all((0..50).map(|_| {
        cache.get_or_compute(key(), &deps, async {
            runs.fetch_add(1, Ordering::SeqCst);
            release.notified().await;
            Ok(json!({"name": "Spring"}))
        })
    })));
    poll_once(&mut all).await;
    release.notify_one();
    for answer in all.await {
        assert_eq!(*answer.expect("answer"), json!({"name": "Spring"}));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = cache.stats().await;
    let campaign = &stats.routes[CachedRoute::Campaign.index()];
    assert_eq!((campaign.misses, campaign.hits), (1, 49));
    assert_eq!(campaign.entries, 1);
}

#[tokio::test]
async fn an_error_reaches_every_waiter_and_is_not_cached() {
    let cache = ResponseCache::new(CacheSettings::default());
    let runs = AtomicUsize::new(0);
    let failing = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        Err::<Value, _>(ApiError::not_found("no campaign"))
    };
    let deps = c1();
    let answers =
        futures::future::join_all((0..5).map(|_| cache.get_or_compute(key(), &deps, failing())))
            .await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(ApiError::NotFound(_))))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let again = cache.get_or_compute(key(), &deps, failing()).await;
    assert!(again.is_err());
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the error was cached");
}

#[tokio::test]
async fn a_change_during_a_computation_does_not_leave_its_answer_cached() {
    let cache = ResponseCache::new(CacheSettings::default());
    let release = Notify::new();
    let deps = c1();
    // The first computation read the old state, then the change lands before it ends.
    let mut old = Box::pin(cache.get_or_compute(key(), &deps, async {
        release.notified().await;
        Ok(json!("old"))
    }));
    poll_once(&mut old).await;
    cache.invalidate_for(&campaign_changed("c1"));
    // A request after the change must not join the computation in flight.
    let new = cache
        .get_or_compute(key(), &deps, async { Ok(json!("new")) })
        .await
        .expect("answer");
    assert_eq!(*new, json!("new"));
    release.notify_one();
    assert_eq!(*old.await.expect("answer"), json!("old"));
    // Nor may the old answer, stored after the change, be served afterwards.
    let later = cache
        .get_or_compute(key(), &deps, async { Ok(json!("recomputed")) })
        .await
        .expect("answer");
    assert_eq!(*later, json!("new"));
}

#[tokio::test]
async fn changes_drop_only_what_depends_on_them() {
    let cache = ResponseCache::new(CacheSettings::default());
    let other = CacheKey::new(CachedRoute::Campaign, &json!({"details": "c2"})).expect("key");
    let (deps1, deps2) = (c1(), [Dep::Campaign("c2".into())]);
    async fn get(cache: &ResponseCache, key: CacheKey, deps: &[Dep], v: &str) -> Arc<Value> {
        let v = v.to_string();
        cache
            .get_or_compute(key, deps, async move { Ok(json!(v)) })
            .await
            .expect("answer")
    }
    get(&cache, key(), &deps1, "one").await;
    get(&cache, other.clone(), &deps2, "two").await;
    cache.invalidate_for(&campaign_changed("c1"));
    assert_eq!(
        *get(&cache, key(), &deps1, "one, changed").await,
        json!("one, changed")
    );
    assert_eq!(
        *get(&cache, other, &deps2, "two, changed").await,
        json!("two")
    );
    let stats = cache.stats().await;
    assert_eq!(
        stats.entries, 2,
        "the superseded answer was swept: {stats:?}"
    );
}

#[tokio::test]
async fn clear_drops_everything_and_counts_it() {
    let cache = ResponseCache::new(CacheSettings::default());
    for n in 0..3 {
        let k = CacheKey::new(CachedRoute::Contact, &json!({"details": n})).expect("key");
        cache
            .get_or_compute(k, &[], async { Ok(json!(n)) })
            .await
            .expect("answer");
    }
    assert_eq!(cache.clear().await, 3);
    assert_eq!(cache.stats().await.entries, 0);
}

#[tokio::test]
async fn a_disabled_cache_computes_every_time() {
    let cache = ResponseCache::new(CacheSettings {
        enabled: false,
        ..CacheSettings::default()
    });
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        cache
            .get_or_compute(key(), &c1(), async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(json!(1))
            })
            .await
            .expect("answer");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(cache.stats().await.misses, 3);
}
