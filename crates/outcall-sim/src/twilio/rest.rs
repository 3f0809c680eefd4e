//! The Twilio REST API as the simulator serves it: create, list, fetch and update calls
//! under `/2010-04-01/Accounts/{AccountSid}/Calls`, with HTTP Basic auth, Twilio's
//! parameter checks and error bodies, and an optional calls-per-second limit.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::{Value, json};

use super::calls::{CallRequest, SimCall};
use super::{Shared, lifecycle};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(create_call).get(list_calls),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}",
            get(fetch_call).post(update_call),
        )
        .with_state(shared)
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
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = authorise(&shared, &headers, &account) {
        return *res;
    }
    if !shared.limiter.try_acquire() {
        let mut res = twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    }
    let p = params_map(&form);
    let one = |name: &str| p.get(name).and_then(|v| v.first()).map(|s| s.to_string());
    let Some(to) = one("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21201,
            "No 'To' number is specified",
        );
    };
    if !is_e164(&to) {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("Invalid 'To' Phone Number: {to}"),
        );
    }
    let Some(from) = one("From") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21213,
            "No 'From' number is specified",
        );
    };
    if !is_e164(&from) {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21212,
            &format!("Invalid 'From' Phone Number: {from}"),
        );
    }
    let url = one("Url");
    if url.is_none() && one("Twiml").is_none() {
        return twilio_error(StatusCode::BAD_REQUEST, 21205, "Url parameter is required");
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
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21626,
            &format!(
                "StatusCallbackEvent {bad:?} is not one of initiated, ringing, answered, completed"
            ),
        );
    }
    let timeout = match one("Timeout").map(|t| t.parse::<u64>()) {
        None => 60,
        Some(Ok(t)) if (1..=600).contains(&t) => t,
        Some(_) => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21216,
                "Timeout must be from 1 to 600 seconds",
            );
        }
    };
    let request = CallRequest {
        to,
        from,
        url,
        status_callback: one("StatusCallback"),
        status_events: events,
        timeout_secs: timeout,
        record: one("Record").is_some_and(|r| r.eq_ignore_ascii_case("true")),
        recording_callback: one("RecordingStatusCallback"),
        machine_detection: one("MachineDetection"),
        async_amd_callback: one("AsyncAmdStatusCallback")
            .filter(|_| one("AsyncAmd").is_some_and(|a| a.eq_ignore_ascii_case("true"))),
    };
    let scenario = shared.scenarios.pick(&request.to);
    let call = SimCall::new(&shared.config.account_sid, request, scenario);
    let resource = call.resource();
    shared.calls.insert(call.clone());
    tokio::spawn(lifecycle::run(shared.clone(), call));
    (StatusCode::CREATED, Json(resource)).into_response()
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
    let since = match param("StartTime>").map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")) {
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
    let page = param("Page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(0);
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
    calls.sort_by(|a, b| b.0.cmp(&a.0));
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
        Some("completed") | Some("canceled") => {
            c.request_hangup(status == Some("canceled"));
            Json::<Value>(c.resource()).into_response()
        }
        _ => twilio_error(
            StatusCode::BAD_REQUEST,
            21218,
            "Invalid Status: use completed or canceled",
        ),
    }
}
