//! Cache keys: the route plus its normalised query, written as canonical JSON so two
//! requests that mean the same thing (parameters in another order, a default given
//! or left out) share one entry.

use std::fmt::Write;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::CachedRoute;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub(super) route: CachedRoute,
    pub(super) text: Arc<str>,
}

impl CacheKey {
    /// The key of `route` for `query`: the parsed request (defaults filled in by the
    /// caller), e.g. `json!({"id": id, "page": 1, "limit": 20})`.
    pub fn new(route: CachedRoute, query: &impl Serialize) -> ApiResult<Self> {
        let value = serde_json::to_value(query)
            .map_err(|e| ApiError::Internal(format!("cache key: {e}")))?;
        let mut text = String::new();
        canonical(&value, &mut text);
        Ok(Self {
            route,
            text: text.into(),
        })
    }

    pub fn route(&self) -> CachedRoute {
        self.route
    }
}

/// JSON with object keys sorted at every level, whatever order the map kept them in.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String(k.clone()));
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_order_of_parameters_does_not_matter() {
        let a = CacheKey::new(
            CachedRoute::Contact,
            &json!({"id": "x", "page": 1, "q": {"b": 2, "a": [1, {"d": 4, "c": 3}]}}),
        )
        .expect("key");
        let b = CacheKey::new(
            CachedRoute::Contact,
            &json!({"q": {"a": [1, {"c": 3, "d": 4}], "b": 2}, "page": 1, "id": "x"}),
        )
        .expect("key");
        assert_eq!(a, b);
        assert_eq!(
            &*a.text,
            r#"{"id":"x","page":1,"q":{"a":[1,{"c":3,"d":4}],"b":2}}"#
        );
    }

    #[test]
    fn different_values_and_routes_differ() {
        let q = json!({"id": "x", "page": 1});
        let k = |route, q: &serde_json::Value| CacheKey::new(route, q).expect("key");
        assert_ne!(
            k(CachedRoute::Contact, &q),
            k(CachedRoute::Contact, &json!({"id": "x", "page": 2}))
        );
        assert_ne!(k(CachedRoute::Contact, &q), k(CachedRoute::Campaign, &q));
        // A string "1" is not the number 1.
        assert_ne!(
            k(CachedRoute::Contact, &q),
            k(CachedRoute::Contact, &json!({"id": "x", "page": "1"}))
        );
    }
}
