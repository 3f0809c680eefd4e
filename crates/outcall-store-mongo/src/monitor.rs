//! What the driver tells us about itself: connection-pool metrics and slow operations.
//!
//! The driver reports pool (CMAP) and command events to handlers set on the client.
//! Pool events become `metrics` (the server exports them on `/metrics`); command events
//! are timed, and an operation slower than `SLOW_QUERY_MS` is logged with its
//! collection and the *shape* of its filter: keys and operators, never values, so a
//! phone number or a transcript never reaches the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Bson, Document};
use mongodb::event::EventHandler;
use mongodb::event::cmap::CmapEvent;
use mongodb::event::command::CommandEvent;

/// Pool events as metrics. Gauges move with check-outs and check-ins, so they read the
/// pool's state at any scrape.
pub(crate) fn pool_metrics() -> EventHandler<CmapEvent> {
    EventHandler::callback(|event: CmapEvent| match event {
        CmapEvent::ConnectionCreated(_) => {
            metrics::counter!("outcall_mongodb_connections_created_total").increment(1);
            metrics::gauge!("outcall_mongodb_connections_open").increment(1.0);
        }
        CmapEvent::ConnectionClosed(_) => {
            metrics::counter!("outcall_mongodb_connections_closed_total").increment(1);
            metrics::gauge!("outcall_mongodb_connections_open").decrement(1.0);
        }
        CmapEvent::ConnectionCheckedOut(e) => {
            metrics::gauge!("outcall_mongodb_connections_in_use").increment(1.0);
            metrics::histogram!("outcall_mongodb_checkout_wait_seconds")
                .record(e.duration.as_secs_f64());
        }
        CmapEvent::ConnectionCheckedIn(_) => {
            metrics::gauge!("outcall_mongodb_connections_in_use").decrement(1.0);
        }
        CmapEvent::ConnectionCheckoutFailed(_) => {
            metrics::counter!("outcall_mongodb_checkout_failed_total").increment(1);
        }
        CmapEvent::PoolCleared(_) => {
            metrics::counter!("outcall_mongodb_pool_cleared_total").increment(1);
        }
        _ => {}
    })
}

/// Started commands by (connection id, request id): their collection and filter shape.
type Pending = HashMap<(u32, i32), (String, String)>;

/// Times every command and logs those slower than `threshold`.
pub(crate) fn slow_query_log(threshold: Duration) -> EventHandler<CommandEvent> {
    // Started and finished events arrive separately; what the finish needs of the start
    // (collection and filter shape) waits here, keyed by connection and request id.
    let pending: Arc<Mutex<Pending>> = Arc::default();
    EventHandler::callback(move |event: CommandEvent| {
        let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            CommandEvent::Started(e) => {
                if let Some(described) = describe(&e.command_name, &e.command) {
                    pending.insert((e.connection.id, e.request_id), described);
                }
            }
            CommandEvent::Succeeded(e) => {
                let described = pending.remove(&(e.connection.id, e.request_id));
                report(threshold, &e.command_name, described, e.duration, "ok");
            }
            CommandEvent::Failed(e) => {
                let described = pending.remove(&(e.connection.id, e.request_id));
                report(threshold, &e.command_name, described, e.duration, "failed");
            }
            _ => {}
        }
    })
}

fn report(
    threshold: Duration,
    command: &str,
    described: Option<(String, String)>,
    duration: Duration,
    outcome: &str,
) {
    let Some((collection, shape)) = described else {
        return;
    };
    if duration < threshold {
        return;
    }
    metrics::counter!("outcall_db_slow_queries_total", "backend" => "mongodb").increment(1);
    tracing::warn!(
        target: "outcall::slow_query",
        backend = "mongodb",
        collection = %collection,
        command = %command,
        filter = %shape,
        duration_ms = duration.as_millis() as u64,
        outcome,
        "slow query"
    );
}

/// The collection and filter shape of a data command; `None` for commands that touch
/// no collection (handshakes, pings), which are never "slow queries".
pub(crate) fn describe(command_name: &str, command: &Document) -> Option<(String, String)> {
    let collection = command.get_str(command_name).ok()?.to_string();
    let first = |list: &str, key: &str| {
        command
            .get_array(list)
            .ok()
            .and_then(|a| a.first())
            .and_then(Bson::as_document)
            .and_then(|d| d.get_document(key).ok())
            .map(shape_of_document)
    };
    let shape = match command_name {
        "find" | "count" => command
            .get_document("filter")
            .or_else(|_| command.get_document("query"))
            .map(shape_of_document)
            .unwrap_or_else(|_| "{}".to_string()),
        "findAndModify" => command
            .get_document("query")
            .map(shape_of_document)
            .unwrap_or_else(|_| "{}".to_string()),
        "update" => first("updates", "q").unwrap_or_else(|| "{}".to_string()),
        "delete" => first("deletes", "q").unwrap_or_else(|| "{}".to_string()),
        "aggregate" => command
            .get_array("pipeline")
            .map(|stages| {
                let shapes: Vec<String> = stages
                    .iter()
                    .filter_map(Bson::as_document)
                    .map(shape_of_document)
                    .collect();
                format!("[{}]", shapes.join(", "))
            })
            .unwrap_or_else(|_| "[]".to_string()),
        "insert" => "(insert)".to_string(),
        _ => return None,
    };
    Some((collection, shape))
}

/// A document with every value replaced by `?`, keeping field names and operators.
pub(crate) fn shape_of_document(d: &Document) -> String {
    let fields: Vec<String> = d
        .iter()
        .map(|(k, v)| format!("{k}: {}", shape_of(v)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn shape_of(v: &Bson) -> String {
    match v {
        Bson::Document(d) => shape_of_document(d),
        // An array of documents (`$or`, `$and`) keeps its structure; a list of values
        // (`$in`) is just a list, its length being data too.
        Bson::Array(items) if items.iter().all(|i| matches!(i, Bson::Document(_))) => {
            let shapes: Vec<String> = items.iter().map(shape_of).collect();
            format!("[{}]", shapes.join(", "))
        }
        Bson::Array(_) => "[?]".to_string(),
        _ => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn the_shape_keeps_keys_and_operators_and_drops_every_value() {
        let filter = doc! {
            "phoneNumber": "+14155552671",
            "createdAt": {"$gte": bson::DateTime::now(), "$lt": bson::DateTime::now()},
            "status": {"$in": ["queued", "ringing"]},
            "$or": [{"campaignId": 1}, {"tags": "vip"}],
        };
        let shape = shape_of_document(&filter);
        assert_eq!(
            shape,
            "{phoneNumber: ?, createdAt: {$gte: ?, $lt: ?}, status: {$in: [?]}, $or: [{campaignId: ?}, {tags: ?}]}"
        );
        assert!(!shape.contains("4155552671") && !shape.contains("vip"));
    }

    #[test]
    fn describes_each_data_command_by_collection_and_filter() {
        let find = doc! {"find": "calls", "filter": {"status": "completed"}, "limit": 20};
        assert_eq!(
            describe("find", &find),
            Some(("calls".into(), "{status: ?}".into()))
        );
        let update = doc! {"update": "campaigns", "updates": [{"q": {"_id": 1, "status": "active"}, "u": {"$set": {"status": "paused"}}}]};
        assert_eq!(
            describe("update", &update),
            Some(("campaigns".into(), "{_id: ?, status: ?}".into()))
        );
        let agg = doc! {"aggregate": "calls", "pipeline": [{"$match": {"status": "completed"}}, {"$group": {"_id": "$status"}}]};
        assert_eq!(
            describe("aggregate", &agg),
            Some((
                "calls".into(),
                "[{$match: {status: ?}}, {$group: {_id: ?}}]".into()
            ))
        );
        let fam = doc! {"findAndModify": "contacts", "query": {"_id": 1}, "update": {"$inc": {"callCount": 1}}};
        assert_eq!(
            describe("findAndModify", &fam),
            Some(("contacts".into(), "{_id: ?}".into()))
        );
        assert_eq!(describe("ping", &doc! {"ping": 1}), None);
        assert_eq!(describe("hello", &doc! {"hello": 1}), None);
    }
}
