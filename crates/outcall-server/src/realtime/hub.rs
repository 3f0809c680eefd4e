//! The hub: one feed task turns bus events into client events on a broadcast channel
//! that every Socket.IO forwarder and SSE stream reads.
//!
//! A reader that falls behind the channel (`Lagged`) is sent the current
//! `active_calls` and a fresh `dashboard_update` instead of what it missed; the feed
//! itself does the same when it lags behind the bus, after reloading the live calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::dashboard::dashboard_snapshot;
use super::live_calls::LiveCalls;
use super::wire::{Kind, Outgoing};
use crate::AppState;
use crate::bus::BusEvent;

/// At most one `dashboard_update` per this long.
pub const DASHBOARD_EVERY: Duration = Duration::from_secs(1);
/// A burst of changes is let settle this long before the dashboard is computed.
const DASHBOARD_SETTLE: Duration = Duration::from_millis(100);
/// How often the live calls are reloaded from the store anyway.
const RELOAD_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Outgoing>>,
    /// The live calls of the latest `active_calls`, sent to each new subscriber. Kept
    /// as the calls' texts (see [`LiveCalls`]); the event is built when asked for.
    active: Arc<Mutex<LiveCalls>>,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            active: Arc::new(Mutex::new(LiveCalls::default())),
        }
    }
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outgoing>> {
        self.tx.subscribe()
    }

    /// The current `active_calls` event.
    pub fn active_calls(&self) -> Arc<Outgoing> {
        // A poisoned lock still holds a whole value (it is only ever replaced).
        let live = self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Arc::new(Outgoing::general(Kind::ActiveCalls, live.payload()))
    }

    fn send(&self, out: Outgoing) {
        let _ = self.tx.send(Arc::new(out));
    }

    fn send_active(&self, live: &LiveCalls) {
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = live.clone();
        let _ = self.tx.send(Arc::new(Outgoing::general(
            Kind::ActiveCalls,
            live.payload(),
        )));
    }
}

/// The `dashboard_update` event, computed now.
pub async fn dashboard_update(state: &AppState) -> Outgoing {
    Outgoing::general(Kind::DashboardUpdate, dashboard_snapshot(state).await)
}

/// When the next `dashboard_update` is due: trailing edge, at most one per
/// [`DASHBOARD_EVERY`], computed after the changes so it includes them.
#[derive(Debug, Default)]
struct DashboardClock {
    last_sent: Option<Instant>,
    due: Option<Instant>,
}

impl DashboardClock {
    fn changed(&mut self, now: Instant) {
        if self.due.is_none() {
            let earliest = self.last_sent.map_or(now, |t| t + DASHBOARD_EVERY);
            self.due = Some(earliest.max(now + DASHBOARD_SETTLE));
        }
    }

    fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
        self.due = None;
    }

    async fn wait(&self) {
        match self.due {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

/// The feed task: runs while the process does.
pub async fn feed(state: AppState, hub: Hub) {
    let mut bus = state.bus.subscribe();
    let mut live = reload(&state).await.unwrap_or_default();
    hub.send_active(&live);
    let mut dashboard = DashboardClock::default();
    let mut reload_tick = tokio::time::interval_at(Instant::now() + RELOAD_EVERY, RELOAD_EVERY);
    loop {
        tokio::select! {
            received = bus.recv() => match received {
                Ok(event) => {
                    if let Some(out) = Outgoing::from_bus(&event) {
                        hub.send(out);
                    }
                    if live.apply(&event) {
                        hub.send_active(&live);
                    }
                    if moves_dashboard(&event) {
                        dashboard.changed(Instant::now());
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "live events fell behind the bus; resending active calls and the dashboard");
                    if let Some(fresh) = reload(&state).await {
                        live = fresh;
                    }
                    hub.send_active(&live);
                    hub.send(dashboard_update(&state).await);
                    dashboard.sent(Instant::now());
                }
                Err(RecvError::Closed) => return,
            },
            () = dashboard.wait() => {
                hub.send(dashboard_update(&state).await);
                dashboard.sent(Instant::now());
            }
            _ = reload_tick.tick() => {
                if let Some(fresh) = reload(&state).await
                    && !fresh.same_members(&live)
                {
                    live = fresh;
                    hub.send_active(&live);
                }
            }
        }
    }
}

async fn reload(state: &AppState) -> Option<LiveCalls> {
    match LiveCalls::load(state.store.as_ref()).await {
        Ok(live) => Some(live),
        Err(e) => {
            tracing::warn!("loading live calls failed: {e}");
            None
        }
    }
}

/// Calls and campaigns move the dashboard's numbers; transcripts and contacts do not.
fn moves_dashboard(event: &BusEvent) -> bool {
    matches!(event, BusEvent::Call(_) | BusEvent::Campaign(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dashboard_is_sent_at_most_once_a_second_after_changes() {
        let mut clock = DashboardClock::default();
        let t0 = Instant::now();
        clock.changed(t0);
        assert_eq!(
            clock.due,
            Some(t0 + DASHBOARD_SETTLE),
            "quiet: soon after the change"
        );
        clock.changed(t0 + Duration::from_millis(50));
        assert_eq!(
            clock.due,
            Some(t0 + DASHBOARD_SETTLE),
            "a burst is coalesced"
        );
        let sent = t0 + DASHBOARD_SETTLE;
        clock.sent(sent);
        assert_eq!(clock.due, None, "nothing pending after sending");
        clock.changed(sent + Duration::from_millis(10));
        assert_eq!(
            clock.due,
            Some(sent + DASHBOARD_EVERY),
            "not within a second of the last"
        );
    }
}
