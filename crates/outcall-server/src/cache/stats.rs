//! The numbers `GET /api/cache/stats` answers. A hit is an answer served without
//! computing it (from the cache, or shared from an identical request's computation);
//! a miss is one computation.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStats {
    pub route: &'static str,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); 0 before the first request.
    pub hit_ratio: f64,
    pub entries: u64,
    pub ttl_secs: f64,
}

impl RouteStats {
    pub(super) fn new(
        route: &'static str,
        hits: u64,
        misses: u64,
        entries: u64,
        ttl: Duration,
    ) -> Self {
        Self {
            route,
            hits,
            misses,
            hit_ratio: ratio(hits, misses),
            entries,
            ttl_secs: ttl.as_secs_f64(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    pub enabled: bool,
    pub max_entries_per_route: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    pub entries: u64,
    pub routes: Vec<RouteStats>,
}

impl CacheStats {
    pub(super) fn new(enabled: bool, max_entries: u64, routes: Vec<RouteStats>) -> Self {
        let hits = routes.iter().map(|r| r.hits).sum();
        let misses = routes.iter().map(|r| r.misses).sum();
        Self {
            enabled,
            max_entries_per_route: max_entries,
            hits,
            misses,
            hit_ratio: ratio(hits, misses),
            entries: routes.iter().map(|r| r.entries).sum(),
            routes,
        }
    }
}

fn ratio(hits: u64, misses: u64) -> f64 {
    match hits + misses {
        0 => 0.0,
        total => hits as f64 / total as f64,
    }
}
