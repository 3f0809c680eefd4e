//! The Twilio REST API as the simulator serves it: create, list, fetch and update calls
//! under `/2010-04-01/Accounts/{AccountSid}/Calls`, with HTTP Basic auth, Twilio's
//! parameter checks and error bodies, and an optional calls-per-second limit.
//! Every answer waits the simulated latency and closes its connection (so an outage
//! of the listener refuses the client's next request rather than meeting a pooled
//! connection); creates meet the faults of [`super::faults`] and are logged
//! ([`super::log`]), as are hang-ups. The log is served at `GET /_sim/log`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};

use super::calls::{CallRequest, SimCall, Stage, attempt_id_of};
use super::faults::{CreateFault, EARLY_START_CAP};
use super::listener::Peer;
use super::log::{CreateRecord, HangupRecord};
use super::{Shared, lifecycle};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(create_call).get(list_calls),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}",
            get(fetch_call).post(update_call),
        )
        .layer(middleware::from_fn_with_state(shared.clone(), round_trip));
    Router::new()
        .route("/_sim/log", get(sim_log))
        .merge(api)
        .layer(middleware::map_response(close_connection))
        .with_state(shared)
}

/// The simulated latency of a REST round trip, before the request is handled.
async fn round_trip(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(Received(Utc::now()));
    shared.hop(None).await;
    next.run(request).await
}

/// When a request was received, before its simulated latency.
#[derive(Debug, Clone, Copy)]
struct Received(chrono::DateTime<Utc>);

/// One request per connection: a pooled connection would dodge a listener outage.
async fn close_connection(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The simulator's log (not part of Twilio's API).
async fn sim_log(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.log.snapshot()).into_response()
}

/// A Twilio error answer: `{code, message, more_info, status}`.
pub(super) fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

/// Checks Basic auth and that the path's account is the authenticated one.
fn authorise(shared: &Shared, headers: &HeaderMap, account: &str) -> Result<(), Box<Response>> {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        shared.config.account_sid, shared.config.auth_token
    ));
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if given != Some(expected.as_str()) {
        let mut res = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Twilio API\""),
        );
        return Err(Box::new(res));
    }
    if account != shared.config.account_sid {
        return Err(Box::new(twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        )));
    }
    Ok(())
}

/// Twilio's own check: `+` then 8 to 15 digits, no leading zero.
fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn params_map(form: &[(String, String)]) -> HashMap<&str, Vec<&str>> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for (k, v) in form {
        map.entry(k.as_str()).or_default().push(v.as_str());
    }
    map
}

const STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

async fn create_call(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    received: Option<Extension<Received>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let at = received.map_or_else(Utc::now, |r| r.0.0);
    if let Err(res) = authorise(&shared, &headers, &account) {
        return *res;
    }
    let p = params_map(&form);
    let one = |name: &str| p.get(name).and_then(|v| v.first()).map(|s| s.to_string());
    let entry = shared.log.create(CreateRecord {
        seq: 0,
        at,
        to: one("To").unwrap_or_default(),
        from: one("From").unwrap_or_default(),
        attempt_id: one("StatusCallback").and_then(|u| attempt_id_of(&u)),
        callback_origin: one("StatusCallback").and_then(|u| {
            reqwest::Url::parse(&u)
                .ok()
                .map(|u| u.origin().ascii_serialization())
        }),
        fault: None,
        status: None,
        call_sid: None,
    });
    let logged = |fault: Option<String>, status: Option<StatusCode>, sid: Option<&str>| {
        shared.log.update_create(entry, |r| {
            r.fault = fault;
            r.status = status.map(|s| s.as_u16());
            r.call_sid = sid.map(str::to_string);
        });
    };
    if !shared.limiter.try_acquire() {
        let mut res = twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        logged(Some("rate-limit".into()), Some(res.status()), None);
        return res;
    }
    let request = match call_request(&p) {
        Ok(r) => r,
        Err(res) => {
            logged(Some("invalid".into()), Some(res.status()), None);
            return *res;
        }
    };
    let decision = shared
        .faults
        .decide_create(&request.to, request.attempt_id().as_deref());
    let fault = decision.fault;
    let name = fault.map(|f| f.name());
    let answer = match fault {
        Some(f) if !f.creates_call() => {
            let res = refusal(f, &peer);
            logged(name, res.as_ref().map(|r| r.status()), None);
            res.unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => {
            let scenario = shared.scenarios.pick(&request.to);
            let call = SimCall::with_dice(
                &shared.config.account_sid,
                request,
                scenario,
                decision.call_dice,
            );
            shared.calls.insert(call.clone());
            tokio::spawn(lifecycle::run(shared.clone(), call.clone()));
            let created = || (StatusCode::CREATED, Json(call.resource())).into_response();
            let status = Some(StatusCode::CREATED);
            match fault {
                Some(CreateFault::ResetAfterCreate) => {
                    peer.ctl.reset();
                    logged(name, None, Some(call.sid()));
                }
                Some(CreateFault::AnswerLost) => {
                    peer.ctl.close();
                    logged(name, None, Some(call.sid()));
                }
                Some(CreateFault::AnswerDelayed(d)) => {
                    logged(name, status, Some(call.sid()));
                    tokio::time::sleep(d).await;
                }
                Some(CreateFault::EarlyStart) => {
                    logged(name, status, Some(call.sid()));
                    let target = if !call.scenario().answers() {
                        Stage::Ended
                    } else if shared.config.media.enabled {
                        Stage::Streaming
                    } else {
                        Stage::TwimlFetched
                    };
                    let _ = tokio::time::timeout(EARLY_START_CAP, call.reached(target)).await;
                }
                _ => logged(name, status, Some(call.sid())),
            }
            created()
        }
    };
    if let Some(d) = decision.outage {
        shared.outage(d);
    }
    answer
}

/// The answer of a fault that creates no call; `None` when the connection is reset
/// instead.
fn refusal(fault: CreateFault, peer: &Peer) -> Option<Response> {
    match fault {
        CreateFault::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (code, message) = match status {
                StatusCode::SERVICE_UNAVAILABLE => (20503, "Service Unavailable"),
                StatusCode::BAD_GATEWAY => (20502, "Bad Gateway"),
                _ => (20500, "Internal Server Error"),
            };
            Some(twilio_error(status, code, message))
        }
        CreateFault::RateLimited { retry_after_secs } => {
            let mut res = twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Some(res)
        }
        _ => {
            peer.ctl.reset();
            None
        }
    }
}

/// Twilio's checks of a create request's parameters.
fn call_request(p: &HashMap<&str, Vec<&str>>) -> Result<CallRequest, Box<Response>> {
    let one = |name: &str| p.get(name).and_then(|v| v.first()).map(|s| s.to_string());
    let refuse = |code, message: &str| {
        Err(Box::new(twilio_error(
            StatusCode::BAD_REQUEST,
            code,
            message,
        )))
    };
    let Some(to) = one("To") else {
        return refuse(21201, "No 'To' number is specified");
    };
    if !is_e164(&to) {
        return refuse(21211, &format!("Invalid 'To' Phone Number: {to}"));
    }
    let Some(from) = one("From") else {
        return refuse(21213, "No 'From' number is specified");
    };
    if !is_e164(&from) {
        return refuse(21212, &format!("Invalid 'From' Phone Number: {from}"));
    }
    let url = one("Url");
    if url.is_none() && one("Twiml").is_none() {
        return refuse(21205, "Url parameter is required");
    }
    let events: Vec<String> = p
        .get("StatusCallbackEvent")
        .map(|v| {
            v.iter()
                .flat_map(|e| e.split(' '))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| vec!["completed".to_string()]);
    if let Some(bad) = events.iter().find(|e| !STATUS_EVENTS.contains(&e.as_str())) {
        return refuse(
            21626,
            &format!(
                "StatusCallbackEvent {bad:?} is not one of initiated, ringing, answered, completed"
            ),
        );
    }
    let timeout = match one("Timeout").map(|t| t.parse::<u64>()) {
        None => 60,
        Some(Ok(t)) if (1..=600).contains(&t) => t,
        Some(_) => return refuse(21216, "Timeout must be from 1 to 600 seconds"),
    };
    let time_limit = match one("TimeLimit").map(|t| t.parse::<u64>()) {
        None => None,
        Some(Ok(t)) if (1..=86_400).contains(&t) => Some(t),
        Some(_) => return refuse(21216, "TimeLimit must be from 1 to 86400 seconds"),
    };
    Ok(CallRequest {
        to,
        from,
        url,
        status_callback: one("StatusCallback"),
        status_events: events,
        timeout_secs: timeout,
        time_limit_secs: time_limit,
        record: one("Record").is_some_and(|r| r.eq_ignore_ascii_case("true")),
        recording_callback: one("RecordingStatusCallback"),
        machine_detection: one("MachineDetection"),
        async_amd_callback: one("AsyncAmdStatusCallback")
            .filter(|_| one("AsyncAmd").is_some_and(|a| a.eq_ignore_ascii_case("true"))),
    })
}

/// `GET …/Calls.json`: the calls, newest first, filtered by `To` and by the day
/// they started (`StartTime>=YYYY-MM-DD`, UTC; a simulated call starts when it is
/// created), paged with `PageSize` and `Page` and Twilio's `next_page_uri`.
async fn list_calls(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = authorise(&shared, &headers, &account) {
        return *res;
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let since = match param("StartTime>").map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d"))
    {
        None => None,
        Some(Ok(day)) => Some(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc())),
        Some(Err(_)) => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                20001,
                "StartTime must be a date as YYYY-MM-DD",
            );
        }
    }
    .flatten();
    let size = param("PageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let page = param("Page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0);
    let mut calls: Vec<(chrono::DateTime<chrono::Utc>, Value)> = shared
        .calls
        .all()
        .into_iter()
        .filter(|c| param("To").is_none_or(|to| c.request().to == to))
        .filter_map(|c| {
            let resource = c.resource();
            let created = resource["date_created"]
                .as_str()
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())?
                .to_utc();
            Some((created, resource))
        })
        .filter(|(created, _)| since.is_none_or(|s| *created >= s))
        .collect();
    calls.sort_by_key(|c| std::cmp::Reverse(c.0));
    let more = calls.len() > (page + 1) * size;
    let items: Vec<Value> = calls
        .into_iter()
        .skip(page * size)
        .take(size)
        .map(|(_, r)| r)
        .collect();
    let base = format!("/2010-04-01/Accounts/{account}/Calls.json");
    let next = more.then(|| {
        // reqwest's `Url` only to form-encode the query the same way clients do.
        let mut url = reqwest::Url::parse("http://sim.invalid/").expect("BUG: a constant URL");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query.iter().filter(|(k, _)| k != "Page") {
                q.append_pair(k, v);
            }
            q.append_pair("Page", &(page + 1).to_string());
        }
        format!("{base}?{}", url.query().unwrap_or_default())
    });
    Json(json!({
        "calls": items,
        "page": page,
        "page_size": size,
        "uri": base,
        "next_page_uri": next,
    }))
    .into_response()
}

async fn fetch_call(
    State(shared): State<Arc<Shared>>,
    Path((account, call)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(res) = authorise(&shared, &headers, &account) {
        return *res;
    }
    let sid = call.trim_end_matches(".json");
    match shared.calls.get(sid) {
        Some(c) => Json(c.resource()).into_response(),
        None => twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ),
    }
}

/// `Status=completed` ends a live call, `Status=canceled` one not yet answered.
async fn update_call(
    State(shared): State<Arc<Shared>>,
    Path((account, call)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = authorise(&shared, &headers, &account) {
        return *res;
    }
    let sid = call.trim_end_matches(".json");
    let Some(c) = shared.calls.get(sid) else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    if let Some((_, twiml)) = form.iter().find(|(k, _)| k == "Twiml") {
        if twiml.len() > 4000 {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                13201,
                "Twiml is longer than 4000 characters",
            );
        }
        if c.status() != "in-progress" {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21220,
                "Call is not in-progress. Cannot redirect.",
            );
        }
        c.request_redirect(twiml.clone());
        return Json::<Value>(c.resource()).into_response();
    }
    let status = form
        .iter()
        .find(|(k, _)| k == "Status")
        .map(|(_, v)| v.as_str());
    match status {
        Some(asked @ ("completed" | "canceled")) => {
            shared.log.hangup(HangupRecord {
                at: Utc::now(),
                call_sid: c.sid().to_string(),
                status: asked.to_string(),
                call_status: c.status(),
                attempt_id: c.request().attempt_id(),
            });
            c.request_hangup(asked == "canceled");
            Json::<Value>(c.resource()).into_response()
        }
        _ => twilio_error(
            StatusCode::BAD_REQUEST,
            21218,
            "Invalid Status: use completed or canceled",
        ),
    }
}
