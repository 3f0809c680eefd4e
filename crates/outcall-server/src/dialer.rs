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

impl PlaceError {
    /// Twilio refused the call for a reason of the request (bad number, unverified
    /// caller id): it was not placed, and placing it again would fail the same way.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Twilio(TwilioError::Api { status, .. })
            if (400..500).contains(status) && *status != 429)
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
    let resource = create_call_once(tel, &request).await?;

    let mut call = Call::new(&resource.sid, &p.from, &p.to);
    call.status = resource
        .status
        .as_str()
        .parse()
        .unwrap_or(CallStatus::Queued);
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
        Err(e) => return Err(e.into()),
    };
    state.bus.call("new_call", &call.call_sid, &call);
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
