//! The response cache: one moka cache per cached route kind, each with the seed's TTL,
//! holding the `data` of answers; invalidated by every change published on the bus.
//!
//! # How an answer stays fresh
//! The bus calls [`ResponseCache::invalidate_for`] synchronously inside `publish`, and
//! every writer publishes after its store write and before it answers. So when a
//! write's 2xx reaches its client, every answer it made wrong is already unreachable:
//! there is no subscriber task to lag behind (and so no `Lagged` to recover from).
//!
//! An answer is cached under its key *and its version* (see [`deps`]), the sum of its
//! dependencies' generation counters read before it is computed. That settles the two
//! races a plain "delete on change" has:
//! - a change landing while an answer is being computed: the answer may have read
//!   the old state, but it is stored under the old version, which no later request
//!   asks for (they read the bumped counter first);
//! - a request arriving after a change while an older computation is still running:
//!   it looks for the new version, so it does not join (single-flight) the old one.
//!
//! Superseded versions are swept out by a moka invalidation predicate registered on
//! each change, so `entries` counts live answers, not stale ones waiting for their TTL.

mod deps;
mod invalidate;
mod key;
mod route;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use deps::Dep;
pub use key::CacheKey;
pub use route::CachedRoute;
pub use stats::{CacheStats, RouteStats};

use crate::bus::BusEvent;
use crate::error::{ApiError, ApiResult};

/// `CACHE_ENABLED`, `CACHE_MAX_ENTRIES`, and a TTL override for tests.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub enabled: bool,
    /// Per route kind.
    pub max_entries: u64,
    /// Replaces every route's TTL (tests: moka keeps its own clock).
    pub ttl_override: Option<Duration>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 10_000,
            ttl_override: None,
        }
    }
}

/// What a cached answer holds: the data, and the version it was computed at.
struct Stored {
    data: Arc<Value>,
    slots: deps::Slots,
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VersionedKey {
    text: Arc<str>,
    version: u64,
}

struct RouteCache {
    answers: moka::future::Cache<VersionedKey, Arc<Stored>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

pub struct ResponseCache {
    settings: CacheSettings,
    routes: Vec<RouteCache>,
    generations: Arc<deps::Generations>,
    owners: invalidate::CallOwners,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    pub fn new(settings: CacheSettings) -> Self {
        let routes = CachedRoute::ALL
            .iter()
            .map(|route| RouteCache {
                answers: moka::future::Cache::builder()
                    .name(route.name())
                    .max_capacity(settings.max_entries)
                    .time_to_live(settings.ttl_override.unwrap_or(route.ttl()))
                    .support_invalidation_closures()
                    .build(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
            .collect();
        Self {
            settings,
            routes,
            generations: Arc::new(deps::Generations::new()),
            owners: invalidate::CallOwners::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    fn route(&self, route: CachedRoute) -> &RouteCache {
        &self.routes[route.index()]
    }

    /// The cached `data` for `key`, or `compute`'s, cached for the route's TTL unless
    /// one of `deps` changes first. Identical concurrent misses run `compute` once and
    /// share its answer; an error is answered to all of them and not cached.
    pub async fn get_or_compute<T, F>(
        &self,
        key: CacheKey,
        deps: &[Dep],
        compute: F,
    ) -> ApiResult<Arc<Value>>
    where
        T: Serialize,
        F: Future<Output = ApiResult<T>>,
    {
        let to_value =
            |t: T| serde_json::to_value(t).map_err(|e| ApiError::Internal(e.to_string()));
        let cache = self.route(key.route);
        if !self.settings.enabled {
            cache.misses.fetch_add(1, Ordering::Relaxed);
            return compute.await.and_then(to_value).map(Arc::new);
        }
        // Read before computing: see the module's notes on races.
        let slots = self.generations.slots(deps);
        let version = self.generations.version(&slots);
        let computed = AtomicBool::new(false);
        let versioned = VersionedKey {
            text: key.text,
            version,
        };
        let answer = cache
            .answers
            .try_get_with(versioned, async {
                computed.store(true, Ordering::Relaxed);
                let data = compute.await.and_then(to_value)?;
                Ok::<_, ApiError>(Arc::new(Stored {
                    data: Arc::new(data),
                    slots,
                    version,
                }))
            })
            .await;
        let counter = if computed.load(Ordering::Relaxed) {
            &cache.misses
        } else {
            &cache.hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer
            .map(|stored| stored.data.clone())
            .map_err(|e| (*e).clone())
    }

    /// Applies a bus event: bumps what it changed and sweeps what that made stale.
    /// Called by the bus inside `publish`; never waits.
    pub fn invalidate_for(&self, event: &BusEvent) {
        if !self.settings.enabled {
            return;
        }
        let deps = self.owners.changed_by(event);
        if deps.is_empty() {
            return;
        }
        for dep in deps {
            self.generations.bump(&dep);
        }
        self.sweep();
    }

    /// Registers a predicate dropping every answer whose version is behind its
    /// dependencies' counters; moka applies it lazily, off the request path.
    fn sweep(&self) {
        for cache in &self.routes {
            // Nothing was ever computed (so stored) here: nothing to sweep.
            if cache.misses.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let generations = self.generations.clone();
            let stale =
                move |_: &VersionedKey, s: &Arc<Stored>| generations.version(&s.slots) != s.version;
            if let Err(e) = cache.answers.invalidate_entries_if(stale) {
                tracing::warn!("cache sweep not registered: {e}");
            }
        }
    }

    /// Drops every answer; answers how many there were.
    pub async fn clear(&self) -> u64 {
        // The epoch first: nothing computed before the clear can be found after it.
        self.generations.bump_epoch();
        let mut dropped = 0;
        for cache in &self.routes {
            cache.answers.run_pending_tasks().await;
            dropped += cache.answers.entry_count();
            cache.answers.invalidate_all();
            cache.answers.run_pending_tasks().await;
        }
        dropped
    }

    /// Hits, misses, ratio and entries per route and in total.
    pub async fn stats(&self) -> CacheStats {
        let mut routes = Vec::with_capacity(self.routes.len());
        for (route, cache) in CachedRoute::ALL.iter().zip(&self.routes) {
            cache.answers.run_pending_tasks().await;
            routes.push(RouteStats::new(
                route.name(),
                cache.hits.load(Ordering::Relaxed),
                cache.misses.load(Ordering::Relaxed),
                cache.answers.entry_count(),
                self.settings.ttl_override.unwrap_or(route.ttl()),
            ));
        }
        CacheStats::new(self.settings.enabled, self.settings.max_entries, routes)
    }
}

#[cfg(test)]
mod tests;
