//! `TwilioClient`: the REST calls outcall makes (create a call, hang it up,
//! fetch it), against a configurable base URL so the same client talks to
//! `api.twilio.com`, a regional host, or the loopback simulator.
//!
//! Requests are form-encoded with HTTP Basic `AccountSid:AuthToken`; answers
//! are Twilio's Call JSON or its error JSON. This module does not retry: wrap
//! calls in [`crate::retry::with_retry`] where repeating is safe.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ApiError, TwilioError};
use crate::webhook::{CallStatus, parse_rfc2822};

/// The API version segment of every path.
const API_VERSION: &str = "2010-04-01";
/// How much of an unexpected body an error keeps.
const BODY_SNIPPET: usize = 512;

/// Where and as whom the client talks to Twilio.
#[derive(Clone)]
pub struct TwilioConfig {
    /// Base URL, e.g. `https://api.twilio.com`, `https://api.dublin.ie1.twilio.com`
    /// or the simulator's `http://127.0.0.1:PORT`. A path prefix is kept.
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl TwilioConfig {
    /// A configuration with the default timeouts (15 s per request, 5 s to connect).
    pub fn new(
        api_base: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
    ) -> Self {
        Self {
            api_base: api_base.into(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Hides the auth token.
impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("api_base", &self.api_base)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The events `StatusCallbackEvent` can ask for; Twilio has only these four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCallbackEvent {
    Initiated,
    Ringing,
    Answered,
    Completed,
}

impl StatusCallbackEvent {
    pub const ALL: [Self; 4] = [
        Self::Initiated,
        Self::Ringing,
        Self::Answered,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
            Self::Completed => "completed",
        }
    }
}

/// The events `RecordingStatusCallbackEvent` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingEvent {
    InProgress,
    Completed,
    Absent,
}

impl RecordingEvent {
    pub const ALL: [Self; 3] = [Self::InProgress, Self::Completed, Self::Absent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingChannels {
    Mono,
    Dual,
}

impl RecordingChannels {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mono => "mono",
            Self::Dual => "dual",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingTrack {
    Inbound,
    Outbound,
    Both,
}

impl RecordingTrack {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Both => "both",
        }
    }
}

/// `MachineDetection`: `Enable` answers as soon as human or machine is known;
/// `DetectMessageEnd` waits for the greeting to end (to leave a voicemail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineDetectionMode {
    Enable,
    DetectMessageEnd,
}

impl MachineDetectionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "Enable",
            Self::DetectMessageEnd => "DetectMessageEnd",
        }
    }
}

/// Answering-machine detection settings; unset thresholds keep Twilio's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineDetection {
    pub mode: MachineDetectionMode,
    /// `MachineDetectionTimeout`, seconds (Twilio default 30).
    pub timeout_secs: Option<u32>,
    /// `MachineDetectionSpeechThreshold`, ms.
    pub speech_threshold_ms: Option<u32>,
    /// `MachineDetectionSpeechEndThreshold`, ms (500–5000, default 1200).
    pub speech_end_threshold_ms: Option<u32>,
    /// `MachineDetectionSilenceTimeout`, ms (2000–10000, default 5000).
    pub silence_timeout_ms: Option<u32>,
    /// When set, AMD runs asynchronously (`AsyncAmd=true`) and its result is
    /// POSTed here, so the media stream starts without waiting for it.
    pub async_callback: Option<String>,
}

impl MachineDetection {
    pub fn new(mode: MachineDetectionMode) -> Self {
        Self {
            mode,
            timeout_secs: None,
            speech_threshold_ms: None,
            speech_end_threshold_ms: None,
            silence_timeout_ms: None,
            async_callback: None,
        }
    }
}

/// The parameters of one `POST …/Calls.json`. Optional fields are sent only
/// when set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateCall {
    /// E.164 number to call.
    pub to: String,
    /// Our Twilio number (or verified caller id).
    pub from: String,
    /// The TwiML webhook Twilio fetches (with POST) when the call connects.
    pub url: String,
    pub fallback_url: Option<String>,
    pub status_callback: Option<String>,
    /// Sent once per value, and only with `status_callback`.
    pub status_callback_events: Vec<StatusCallbackEvent>,
    /// Seconds to let it ring (Twilio default 60, max 600).
    pub timeout_secs: Option<u32>,
    /// Maximum call length in seconds.
    pub time_limit_secs: Option<u32>,
    pub record: bool,
    pub recording_status_callback: Option<String>,
    /// Space-separated on the wire, and only with `recording_status_callback`.
    pub recording_status_callback_events: Vec<RecordingEvent>,
    pub recording_channels: Option<RecordingChannels>,
    pub recording_track: Option<RecordingTrack>,
    pub machine_detection: Option<MachineDetection>,
}

impl CreateCall {
    pub fn new(to: impl Into<String>, from: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// The form body, in a stable order; a name may repeat (`StatusCallbackEvent`).
    pub fn form_params(&self) -> Vec<(&'static str, String)> {
        let mut p: Vec<(&'static str, String)> = vec![
            ("To", self.to.clone()),
            ("From", self.from.clone()),
            ("Url", self.url.clone()),
            ("Method", "POST".into()),
        ];
        if let Some(url) = &self.fallback_url {
            p.push(("FallbackUrl", url.clone()));
            p.push(("FallbackMethod", "POST".into()));
        }
        if let Some(cb) = &self.status_callback {
            p.push(("StatusCallback", cb.clone()));
            p.push(("StatusCallbackMethod", "POST".into()));
            for event in &self.status_callback_events {
                p.push(("StatusCallbackEvent", event.as_str().into()));
            }
        }
        if let Some(t) = self.timeout_secs {
            p.push(("Timeout", t.to_string()));
        }
        if let Some(t) = self.time_limit_secs {
            p.push(("TimeLimit", t.to_string()));
        }
        if self.record {
            p.push(("Record", "true".into()));
        }
        if let Some(cb) = &self.recording_status_callback {
            p.push(("RecordingStatusCallback", cb.clone()));
            p.push(("RecordingStatusCallbackMethod", "POST".into()));
            if !self.recording_status_callback_events.is_empty() {
                let events: Vec<&str> = self
                    .recording_status_callback_events
                    .iter()
                    .map(|e| e.as_str())
                    .collect();
                p.push(("RecordingStatusCallbackEvent", events.join(" ")));
            }
        }
        if let Some(c) = self.recording_channels {
            p.push(("RecordingChannels", c.as_str().into()));
        }
        if let Some(t) = self.recording_track {
            p.push(("RecordingTrack", t.as_str().into()));
        }
        if let Some(amd) = &self.machine_detection {
            p.push(("MachineDetection", amd.mode.as_str().into()));
            let numbers = [
                ("MachineDetectionTimeout", amd.timeout_secs),
                ("MachineDetectionSpeechThreshold", amd.speech_threshold_ms),
                (
                    "MachineDetectionSpeechEndThreshold",
                    amd.speech_end_threshold_ms,
                ),
                ("MachineDetectionSilenceTimeout", amd.silence_timeout_ms),
            ];
            for (name, value) in numbers {
                if let Some(v) = value {
                    p.push((name, v.to_string()));
                }
            }
            if let Some(cb) = &amd.async_callback {
                p.push(("AsyncAmd", "true".into()));
                p.push(("AsyncAmdStatusCallback", cb.clone()));
                p.push(("AsyncAmdStatusCallbackMethod", "POST".into()));
            }
        }
        p
    }
}

/// Twilio's Call resource, as the REST API returns it. Times are RFC 2822
/// strings on the wire and kept as such; the helpers parse them. Serializable
/// so the simulator answers with the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallResource {
    /// `CA` + 32 hex digits.
    pub sid: String,
    #[serde(default)]
    pub account_sid: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: String,
    pub status: CallStatus,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Seconds, as a string.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub price_unit: Option<String>,
    #[serde(default)]
    pub answered_by: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
}

impl CallResource {
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.start_time.as_deref().and_then(parse_rfc2822)
    }

    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.end_time.as_deref().and_then(parse_rfc2822)
    }

    pub fn duration_secs(&self) -> Option<u64> {
        self.duration.as_deref().and_then(|d| d.trim().parse().ok())
    }
}

/// The REST client. Cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: Url,
    account_sid: String,
    auth_token: String,
    request_timeout: Duration,
}

/// Hides the auth token.
impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("base", &self.base.as_str())
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        let base = Url::parse(&config.api_base)
            .map_err(|e| TwilioError::Config(format!("api_base {:?}: {e}", config.api_base)))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(TwilioError::Config(format!(
                "api_base {:?} is not an http(s) base URL",
                config.api_base
            )));
        }
        if config.account_sid.is_empty() || config.auth_token.is_empty() {
            return Err(TwilioError::Config(
                "account_sid and auth_token are required".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("outcall-twilio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TwilioError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            request_timeout: config.request_timeout,
        })
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The longest one request may take, answer included.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `POST …/Calls.json`: places a call; Twilio answers 201 with the Call.
    pub async fn create_call(&self, request: &CreateCall) -> Result<CallResource, TwilioError> {
        let url = self.calls_url(None);
        let builder = self.http.post(url).form(&request.form_params());
        self.send(builder).await
    }

    /// `POST …/Calls/{sid}.json` with `Status=completed` for a live call, or
    /// `Status=canceled` for one still queued or ringing.
    pub async fn hangup(&self, call_sid: &str, live: bool) -> Result<CallResource, TwilioError> {
        let status = if live { "completed" } else { "canceled" };
        let url = self.calls_url(Some(call_sid));
        let builder = self.http.post(url).form(&[("Status", status)]);
        self.send(builder).await
    }

    /// `POST …/Calls/{sid}.json` with `Twiml`: replaces what a live call is doing with
    /// these instructions (e.g. `<Say>…</Say><Hangup/>` to leave a voicemail). A media
    /// stream the call had open is stopped. Twilio takes at most 4,000 characters.
    pub async fn update_twiml(
        &self,
        call_sid: &str,
        twiml: &str,
    ) -> Result<CallResource, TwilioError> {
        if twiml.len() > 4000 {
            return Err(TwilioError::Config(format!(
                "inline TwiML is {} characters; Twilio takes at most 4000",
                twiml.len()
            )));
        }
        let url = self.calls_url(Some(call_sid));
        let builder = self.http.post(url).form(&[("Twiml", twiml)]);
        self.send(builder).await
    }

    /// `GET …/Calls/{sid}.json`.
    pub async fn fetch_call(&self, call_sid: &str) -> Result<CallResource, TwilioError> {
        let url = self.calls_url(Some(call_sid));
        self.send(self.http.get(url)).await
    }

    /// `GET …/Calls.json?To=…&StartTime>=YYYY-MM-DD`, following `next_page_uri`:
    /// the calls to `to` that started on or after midnight (UTC) of `since`'s day,
    /// newest first. Twilio filters by day only, so callers narrow by time themselves
    /// (e.g. on `date_created`). Stops after `max_pages` pages of `page_size`.
    pub async fn list_calls(
        &self,
        to: &str,
        since: DateTime<Utc>,
        page_size: u32,
        max_pages: u32,
    ) -> Result<Vec<CallResource>, TwilioError> {
        let mut calls = Vec::new();
        let mut next = Some(self.list_url(to, since, page_size));
        for _ in 0..max_pages.max(1) {
            let Some(url) = next.take() else { break };
            let page: CallPage = self.get_json(self.http.get(url)).await?;
            calls.extend(page.calls);
            next = match page.next_page_uri.as_deref() {
                Some(uri) if !uri.is_empty() => Some(self.page_url(uri)?),
                _ => None,
            };
        }
        Ok(calls)
    }

    /// The first page's URL of [`TwilioClient::list_calls`].
    fn list_url(&self, to: &str, since: DateTime<Utc>, page_size: u32) -> Url {
        let mut url = self.calls_url(None);
        url.query_pairs_mut()
            .append_pair("To", to)
            // Twilio spells the inequality in the name: `StartTime>` = day, sent
            // form-encoded (`StartTime%3E=2026-03-01`) as its own SDKs send it.
            .append_pair("StartTime>", &since.format("%Y-%m-%d").to_string())
            .append_pair("PageSize", &page_size.clamp(1, 1000).to_string());
        url
    }

    /// A `next_page_uri` (a path from the host, with its query) on our base URL.
    fn page_url(&self, uri: &str) -> Result<Url, TwilioError> {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}{path}"));
        url.set_query((!query.is_empty()).then_some(query));
        if !url
            .path()
            .contains(&format!("/Accounts/{}/", self.account_sid))
        {
            return Err(TwilioError::BadResponse {
                status: 200,
                detail: format!("next_page_uri outside the account: {uri}"),
            });
        }
        Ok(url)
    }

    /// `{base}/2010-04-01/Accounts/{sid}/Calls.json` or `…/Calls/{call}.json`.
    /// Segments are percent-encoded, so a hostile sid cannot change the path.
    fn calls_url(&self, call_sid: Option<&str>) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("BUG: api_base was checked to be a base URL");
            segments
                .pop_if_empty()
                .extend([API_VERSION, "Accounts", &self.account_sid]);
            match call_sid {
                None => {
                    segments.push("Calls.json");
                }
                Some(sid) => {
                    segments.push("Calls").push(&format!("{sid}.json"));
                }
            }
        }
        url
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<CallResource, TwilioError> {
        self.get_json(builder).await
    }

    /// Sends with our auth and parses a 2xx body as `T`, or Twilio's error.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, TwilioError> {
        let response = builder
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers(), Utc::now());
        let body = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| TwilioError::BadResponse {
                status: status.as_u16(),
                detail: format!("{e}; body: {}", snippet(&body)),
            });
        }
        let error = serde_json::from_slice::<ApiError>(&body).unwrap_or_else(|_| ApiError {
            code: None,
            message: if body.is_empty() {
                status.canonical_reason().unwrap_or("no body").to_owned()
            } else {
                snippet(&body)
            },
            more_info: None,
            status: Some(status.as_u16()),
        });
        Err(TwilioError::Api {
            status: status.as_u16(),
            error,
            retry_after,
        })
    }
}

/// One page of `GET …/Calls.json`.
#[derive(Debug, Deserialize)]
struct CallPage {
    #[serde(default)]
    calls: Vec<CallResource>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

/// `Retry-After` as delay-seconds or an HTTP date (relative to `now`).
fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_rfc2822(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(BODY_SNIPPET) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn client(base: &str) -> TwilioClient {
        TwilioClient::new(TwilioConfig::new(base, "AC123", "token")).expect("client")
    }

    #[test]
    fn urls_keep_prefix_and_encode_sid() {
        let c = client("https://api.twilio.com");
        assert_eq!(
            c.calls_url(None).as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Calls.json"
        );
        let c = client("http://127.0.0.1:9/twilio/");
        assert_eq!(
            c.calls_url(Some("CAabc")).as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC123/Calls/CAabc.json"
        );
        assert_eq!(
            c.calls_url(Some("../x?y")).as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC123/Calls/..%2Fx%3Fy.json"
        );
    }

    #[test]
    fn call_lists_filter_by_number_and_day_and_follow_pages_on_our_base() {
        let c = client("http://127.0.0.1:9/twilio");
        let since = "2026-03-01T23:59:00Z".parse().expect("RFC 3339");
        assert_eq!(
            c.list_url("+14155550100", since, 5000).as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC123/Calls.json\
             ?To=%2B14155550100&StartTime%3E=2026-03-01&PageSize=1000"
        );
        let next = c
            .page_url("/2010-04-01/Accounts/AC123/Calls.json?To=%2B1&Page=1&PageToken=PA1")
            .expect("same account");
        assert_eq!(
            next.as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC123/Calls.json?To=%2B1&Page=1&PageToken=PA1"
        );
        assert!(
            c.page_url("/2010-04-01/Accounts/ACother/Calls.json?Page=1")
                .is_err(),
            "a page of another account is not followed"
        );
    }

    #[test]
    fn call_pages_parse_twilios_list_json() {
        let page: CallPage = serde_json::from_str(
            r#"{"calls": [{"sid": "CA1", "status": "busy", "to": "+1", "from": "+2"}],
                "next_page_uri": null, "page": 0, "page_size": 50}"#,
        )
        .expect("parse");
        assert_eq!(page.calls.len(), 1);
        assert_eq!(page.calls[0].sid, "CA1");
        assert_eq!(page.next_page_uri, None);
    }

    #[test]
    fn rejects_bad_config() {
        let bad = TwilioClient::new(TwilioConfig::new("mailto:x@y", "AC1", "t"));
        assert!(matches!(bad, Err(TwilioError::Config(_))));
        let bad = TwilioClient::new(TwilioConfig::new("https://api.twilio.com", "", "t"));
        assert!(matches!(bad, Err(TwilioError::Config(_))));
    }

    #[test]
    fn debug_hides_token() {
        let config = TwilioConfig::new("https://api.twilio.com", "AC1", "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        let c = TwilioClient::new(config).expect("client");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn minimal_form_has_only_required_params() {
        let p = CreateCall::new("+15551230000", "+15557650000", "https://x/twiml").form_params();
        assert_eq!(
            p,
            vec![
                ("To", "+15551230000".to_owned()),
                ("From", "+15557650000".to_owned()),
                ("Url", "https://x/twiml".to_owned()),
                ("Method", "POST".to_owned()),
            ]
        );
    }

    #[test]
    fn full_form_repeats_events_and_joins_recording_events() {
        let mut amd = MachineDetection::new(MachineDetectionMode::DetectMessageEnd);
        amd.timeout_secs = Some(30);
        amd.speech_end_threshold_ms = Some(1200);
        amd.silence_timeout_ms = Some(5000);
        amd.async_callback = Some("https://x/amd".into());
        let request = CreateCall {
            status_callback: Some("https://x/status".into()),
            status_callback_events: StatusCallbackEvent::ALL.to_vec(),
            timeout_secs: Some(45),
            record: true,
            recording_status_callback: Some("https://x/rec".into()),
            recording_status_callback_events: RecordingEvent::ALL.to_vec(),
            recording_channels: Some(RecordingChannels::Dual),
            machine_detection: Some(amd),
            ..CreateCall::new("+1", "+2", "https://x/twiml")
        };
        let p = request.form_params();
        let events: Vec<&str> = p
            .iter()
            .filter(|(k, _)| *k == "StatusCallbackEvent")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(events, ["initiated", "ringing", "answered", "completed"]);
        let get = |name: &str| p.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        assert_eq!(
            get("RecordingStatusCallbackEvent"),
            Some("in-progress completed absent")
        );
        assert_eq!(get("MachineDetection"), Some("DetectMessageEnd"));
        assert_eq!(get("MachineDetectionSpeechThreshold"), None);
        assert_eq!(get("MachineDetectionSilenceTimeout"), Some("5000"));
        assert_eq!(get("AsyncAmd"), Some("true"));
        assert_eq!(get("AsyncAmdStatusCallbackMethod"), Some("POST"));
        assert_eq!(get("TimeLimit"), None);
        assert_eq!(get("Record"), Some("true"));
    }

    #[test]
    fn events_without_callback_are_not_sent() {
        let request = CreateCall {
            status_callback_events: StatusCallbackEvent::ALL.to_vec(),
            ..CreateCall::new("+1", "+2", "https://x")
        };
        assert!(
            request
                .form_params()
                .iter()
                .all(|(k, _)| *k != "StatusCallbackEvent")
        );
    }

    #[test]
    fn call_resource_parses_twilio_json() {
        let json = r#"{
            "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "annotation": null, "answered_by": null, "api_version": "2010-04-01",
            "caller_name": null, "date_created": "Tue, 31 Aug 2010 20:36:28 +0000",
            "date_updated": "Tue, 31 Aug 2010 20:36:44 +0000", "direction": "outbound-api",
            "duration": "15", "end_time": "Tue, 31 Aug 2010 20:36:44 +0000",
            "forwarded_from": null, "from": "+15017122661", "from_formatted": "(501) 712-2661",
            "group_sid": null, "parent_call_sid": null, "phone_number_sid": "PNaaaa",
            "price": "-0.03000", "price_unit": "USD",
            "sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "start_time": "Tue, 31 Aug 2010 20:36:29 +0000",
            "status": "completed", "subresource_uris": {}, "to": "+15558675310",
            "to_formatted": "(555) 867-5310", "trunk_sid": null,
            "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
            "queue_time": "1000"
        }"#;
        let call: CallResource = serde_json::from_str(json).expect("parse");
        assert_eq!(call.status, CallStatus::Completed);
        assert_eq!(call.direction.as_deref(), Some("outbound-api"));
        assert_eq!(call.duration_secs(), Some(15));
        assert_eq!(
            call.ended_at().expect("end").to_rfc3339(),
            "2010-08-31T20:36:44+00:00"
        );
        assert_eq!(call.answered_by, None);
        let again: CallResource =
            serde_json::from_str(&serde_json::to_string(&call).expect("ser")).expect("de");
        assert_eq!(again, call);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(2)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Mon, 01 Jan 2024 00:00:10 GMT"),
        );
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(10)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 31 Dec 2023 00:00:10 GMT"),
        );
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h, now), None);
    }
}
