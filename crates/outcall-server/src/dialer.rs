//! Placing one call through Twilio with our webhooks, and storing its record as soon as
//! Twilio accepts it. Shared by `POST /api/outbound-call` and the campaign engine.

use outcall_domain::ObjectId;
use outcall_domain::call::{Call, CallStatus};
use outcall_store::StoreError;
use outcall_twilio::client::{RecordingChannels, StatusCallbackEvent};
use outcall_twilio::{CreateCall, TwilioError};
use serde_json::{Map, Value};

use crate::AppState;
use crate::telephony::Telephony;

/// Everything about a call to place; numbers are E.164 already.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub to: String,
    pub from: String,
    pub prompt: Option<String>,
    pub first_message: Option<String>,
    pub dynamic_variables: Option<Map<String, Value>>,
    pub agent_id: Option<String>,
    pub contact_name: Option<String>,
    pub campaign_id: Option<ObjectId>,
    pub contact_id: Option<ObjectId>,
    /// The campaign attempt placing it; also carried in the status callback URL so a
    /// callback for a call whose record was never written still finds its attempt.
    pub attempt_id: Option<String>,
    pub record: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("Twilio: {0}")]
    Twilio(#[from] TwilioError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a failed dial tells about the call, by what is known of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialFailure {
    /// No call was created: no byte of the request left (connect refused, DNS, TLS,
    /// connect timeout), or Twilio answered 429, which it documents as creating none.
    /// `retry_after` is Twilio's `Retry-After`, when it sent one.
    NotSent {
        retry_after: Option<std::time::Duration>,
    },
    /// Twilio refused the request itself (4xx other than 429): no call, and the same
    /// request would fail the same way.
    Refused,
    /// The request may have reached Twilio and created a call whose answer was lost:
    /// a timeout or reset after it was written, a 5xx, a 2xx we could not read. Only
    /// Twilio can say (its call list), so the attempt is settled by asking it.
    MaybeSent,
}

impl PlaceError {
    /// Twilio refused the call for a reason of the request (bad number, unverified
    /// caller id): it was not placed, and placing it again would fail the same way.
    pub fn is_refusal(&self) -> bool {
        self.failure() == Some(DialFailure::Refused)
    }

    /// What the failure says about the call; `None` for a store error (Twilio
    /// answered; the call exists but its record could not be written).
    pub fn failure(&self) -> Option<DialFailure> {
        match self {
            Self::Twilio(e) => Some(classify(e)),
            Self::Store(_) => None,
        }
    }
}

/// Classifies a create-call error. reqwest tells a failure in its connector (DNS,
/// TCP connect, TLS handshake, connect timeout: `is_connect`) from one after the
/// connection was up; it cannot tell whether a request on an open (pooled) connection
/// was written before the connection broke, so every transport error that is not a
/// connect error counts as maybe sent.
pub fn classify(e: &TwilioError) -> DialFailure {
    match e {
        TwilioError::Api { status: 429, .. } => DialFailure::NotSent {
            retry_after: e.retry_after(),
        },
        TwilioError::Api { status, .. } if (400..500).contains(status) => DialFailure::Refused,
        TwilioError::Api { .. } => DialFailure::MaybeSent,
        TwilioError::Transport(t) if t.is_connect() => DialFailure::NotSent { retry_after: None },
        // A request that could not even be built would fail the same way every time.
        TwilioError::Transport(t) if t.is_builder() => DialFailure::Refused,
        TwilioError::Transport(_) | TwilioError::BadResponse { .. } => DialFailure::MaybeSent,
        TwilioError::Config(_) => DialFailure::Refused,
    }
}

/// The status callback URL, with the attempt's ids when a campaign places the call.
fn status_callback(base: &str, p: &Placement) -> String {
    let mut url = format!("{base}/webhooks/twilio/status");
    if let (Some(a), Some(c), Some(k)) = (&p.attempt_id, p.campaign_id, p.contact_id) {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("attemptId", a)
            .append_pair("campaignId", &c.to_hex())
            .append_pair("contactId", &k.to_hex())
            .finish();
        url = format!("{url}?{query}");
    }
    url
}

pub async fn place(state: &AppState, tel: &Telephony, p: Placement) -> Result<Call, PlaceError> {
    let base = &state.public_url;
    let mut request = CreateCall::new(&p.to, &p.from, format!("{base}/webhooks/twilio/voice"));
    request.status_callback = Some(status_callback(base, &p));
    request.time_limit_secs = Some(tel.max_call_secs);
    request.status_callback_events = vec![
        StatusCallbackEvent::Initiated,
        StatusCallbackEvent::Ringing,
        StatusCallbackEvent::Answered,
        StatusCallbackEvent::Completed,
    ];
    request.machine_detection = tel.amd.clone().map(|mut amd| {
        amd.async_callback = Some(format!("{base}/webhooks/twilio/amd"));
        amd
    });
    if p.record.unwrap_or(tel.record) {
        request.record = true;
        request.recording_channels = Some(RecordingChannels::Dual);
        request.recording_status_callback = Some(format!("{base}/webhooks/twilio/recording"));
    }
    // A campaign attempt tries once: the engine puts a dial that was not sent back in
    // its queue, so no slot or dial gate is held through a backoff here.
    let resource = if p.attempt_id.is_some() {
        tel.client.create_call(&request).await?
    } else {
        create_call_once(tel, &request).await?
    };
    record(state, &p, &resource).await.map_err(PlaceError::from)
}

/// Stores the record of a call Twilio created for `p` (from its answer, or found in
/// its call list afterwards), keeping the record a status callback wrote first.
pub async fn record(
    state: &AppState,
    p: &Placement,
    resource: &outcall_twilio::CallResource,
) -> Result<Call, StoreError> {
    let p = p.clone();

    let mut call = Call::new(&resource.sid, &p.from, &p.to);
    let status: CallStatus = resource
        .status
        .as_str()
        .parse()
        .unwrap_or(CallStatus::Queued);
    // A call found already ended is stored as queued and its end applied as a status
    // update, so its end time and outcome are derived as a callback's would be.
    call.status = if status.is_terminal() {
        CallStatus::Queued
    } else {
        status
    };
    call.prompt = p.prompt;
    call.first_message = p.first_message;
    call.dynamic_variables = p.dynamic_variables;
    call.agent_id = p.agent_id;
    call.contact_name = p.contact_name;
    call.campaign_id = p.campaign_id;
    call.contact_id = p.contact_id;
    call.attempt_id = p.attempt_id;
    // The media bridge's hook: the signed URL is fetched now, while the phone rings.
    state.bridge.placed(state, &call);
    let call = match state.store.insert_call(call).await {
        Ok(call) => call,
        // A status callback overtook us and recorded the call first: keep that record.
        Err(e) if e.is_conflict() => state
            .store
            .get_call(&resource.sid)
            .await?
            .ok_or_else(|| StoreError::Internal("call vanished after a conflict".into()))?,
        Err(e) => return Err(e),
    };
    state.bus.call("new_call", &call.call_sid, &call);
    if status.is_terminal() && !call.status.is_terminal() {
        let update = outcall_domain::StatusUpdate {
            duration: resource.duration_secs().map(|d| d as i64),
            ..outcall_domain::StatusUpdate::to(status)
        };
        if let Some((ended, _)) = state
            .store
            .update_call_status(&call.call_sid, &update)
            .await?
        {
            crate::routes::calls::publish_status(state, &ended);
            return Ok(ended);
        }
    }
    Ok(call)
}

/// Creates the call, retrying only failures that prove Twilio did not place it: a 429
/// (rejected by rate limit) or a connection that never reached Twilio. A timeout or a
/// 5xx may hide a call Twilio did place, and a retry would ring the person twice.
async fn create_call_once(
    tel: &Telephony,
    request: &CreateCall,
) -> Result<outcall_twilio::CallResource, TwilioError> {
    let attempts = tel.retry.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match tel.client.create_call(request).await {
            Err(e) if attempt < attempts && (e.http_status() == Some(429) || e.is_connect()) => {
                tokio::time::sleep(tel.retry.delay_for(&e, attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use outcall_twilio::{ApiError, CreateCall, TwilioClient, TwilioConfig};

    use super::*;

    fn api(status: u16, retry_after: Option<Duration>) -> TwilioError {
        TwilioError::Api {
            status,
            error: ApiError {
                code: None,
                message: "m".into(),
                more_info: None,
                status: Some(status),
            },
            retry_after,
        }
    }

    #[test]
    fn twilios_answers_say_whether_a_call_exists() {
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            classify(&api(429, after)),
            DialFailure::NotSent { retry_after: after }
        );
        assert_eq!(classify(&api(400, None)), DialFailure::Refused);
        assert_eq!(classify(&api(404, None)), DialFailure::Refused);
        assert_eq!(classify(&api(500, None)), DialFailure::MaybeSent);
        assert_eq!(classify(&api(503, after)), DialFailure::MaybeSent);
        let unreadable = TwilioError::BadResponse {
            status: 201,
            detail: "x".into(),
        };
        assert_eq!(classify(&unreadable), DialFailure::MaybeSent);
    }

    fn client(base: &str, timeout: Duration) -> TwilioClient {
        let mut config = TwilioConfig::new(base, "AC123", "token");
        config.request_timeout = timeout;
        TwilioClient::new(config).expect("client")
    }

    fn request() -> CreateCall {
        CreateCall::new("+14155550100", "+15005550006", "http://127.0.0.1/voice")
    }

    /// What reqwest reports, over real sockets: a refused connection is a connect
    /// error (nothing was sent); a request that was written and never answered is a
    /// timeout that is not a connect error (it may have created a call).
    #[tokio::test]
    async fn transport_failures_tell_refused_from_unanswered() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        let refused = client(&format!("http://{addr}"), Duration::from_secs(5))
            .create_call(&request())
            .await
            .expect_err("nothing listens");
        assert_eq!(
            classify(&refused),
            DialFailure::NotSent { retry_after: None },
            "{refused:?}"
        );

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = silent.local_addr().expect("addr");
        let held = tokio::spawn(async move {
            let (mut socket, _) = silent.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            // Reads the request, then never answers.
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let unanswered = client(&format!("http://{addr}"), Duration::from_millis(300))
            .create_call(&request())
            .await
            .expect_err("never answered");
        assert_eq!(
            classify(&unanswered),
            DialFailure::MaybeSent,
            "{unanswered:?}"
        );
        held.abort();
    }
}
