//! `GET /api/events`: the Socket.IO events as Server-Sent Events, for clients without
//! Socket.IO. The key comes as `Authorization: Bearer` or, because EventSource cannot
//! set headers, as `?token=`. Filters: `topics` (comma-separated `calls`,
//! `transcripts`, `campaigns`, `dashboard`; all by default), `callSid` and
//! `campaignId` (events about one call or campaign: an event naming neither is
//! dropped; `active_calls` and `dashboard_update` are not about one).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::hub::dashboard_update;
use super::wire::{Kind, Outgoing, Topic};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> Router<AppState> {
    Router::new().route("/api/events", get(events))
}

/// Which events a stream wants.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    topics: Vec<Topic>,
    call_sid: Option<String>,
    campaign_id: Option<String>,
}

impl Filter {
    fn parse(params: &mut Params) -> ApiResult<Self> {
        let topics = match params.text("topics") {
            None => Topic::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(|t| {
                    Topic::parse(t.trim()).ok_or_else(|| {
                        ApiError::field(
                            "topics",
                            format!(
                                "unknown topic {t:?}: use calls, transcripts, campaigns, dashboard"
                            ),
                        )
                    })
                })
                .collect::<ApiResult<_>>()?,
        };
        let call_sid = params.text("callSid");
        if let Some(sid) = &call_sid {
            crate::routes::validate::sid("callSid", sid)?;
        }
        let campaign_id = params.object_id("campaignId")?.map(|id| id.to_hex());
        Ok(Self {
            topics,
            call_sid,
            campaign_id,
        })
    }

    fn admits(&self, out: &Outgoing) -> bool {
        let about =
            |wanted: &Option<String>, named: &Option<String>| wanted.is_none() || wanted == named;
        self.topics.contains(&out.kind.topic())
            && match out.kind {
                Kind::ActiveCalls | Kind::DashboardUpdate => true,
                _ => {
                    about(&self.call_sid, &out.call_sid)
                        && about(&self.campaign_id, &out.campaign_id)
                }
            }
    }
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut params: Params,
) -> ApiResult<Response> {
    let token = params.text("token");
    if !crate::auth::is_authorized(&state.api_keys, &headers, token.as_deref()) {
        return Err(ApiError::Unauthorized);
    }
    let filter = Filter::parse(&mut params)?;
    params.finish()?;
    let hub = &state.realtime.hub;
    // Subscribe before reading the current live calls, so no change falls between.
    let rx = hub.subscribe();
    let mut first = VecDeque::new();
    let active = hub.active_calls();
    if filter.admits(&active) {
        first.push_back(active);
    }
    let stream = event_stream(state.clone(), rx, filter, first);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

struct Reader {
    state: AppState,
    rx: broadcast::Receiver<Arc<Outgoing>>,
    filter: Filter,
    queued: VecDeque<Arc<Outgoing>>,
}

fn event_stream(
    state: AppState,
    rx: broadcast::Receiver<Arc<Outgoing>>,
    filter: Filter,
    queued: VecDeque<Arc<Outgoing>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let reader = Reader {
        state,
        rx,
        filter,
        queued,
    };
    futures::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(out) = r.queued.pop_front() {
                return Some((Ok(sse_event(&out)), r));
            }
            match r.rx.recv().await {
                Ok(out) if r.filter.admits(&out) => r.queued.push_back(out),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "an SSE client fell behind; resending active calls and the dashboard"
                    );
                    let catch_up = [
                        r.state.realtime.hub.active_calls(),
                        Arc::new(dashboard_update(&r.state).await),
                    ];
                    r.queued
                        .extend(catch_up.into_iter().filter(|o| r.filter.admits(o)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

fn sse_event(out: &Outgoing) -> Event {
    Event::default()
        .event(out.kind.name())
        .data(out.payload.to_string())
}
