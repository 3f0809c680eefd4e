//! Campaign API (seed): list, get, create, update, delete; the campaign's contacts;
//! start, pause, resume, stop (compare-and-set transitions in the store); stats.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use outcall_domain::campaign::{
    Campaign, CampaignPatch, CampaignSettings, CampaignStatus, SheetInfo, StatsDelta,
};
use outcall_domain::campaign_contact::DialStatus;
use outcall_domain::dialing::Window;
use outcall_domain::page::Sort;
use outcall_domain::time::Timestamp;
use outcall_domain::validate::{MAX_SHORT, MAX_TEXT, Validator};
use outcall_domain::{CampaignAction, ObjectId, PageRequest};
use outcall_store::{
    CAMPAIGN_CONTACT_SORT_FIELDS, CAMPAIGN_SORT_FIELDS, CallFilter, CampaignFilter, Transition,
};
use serde::Deserialize;
use serde_json::json;

use super::campaign_input::{SettingsInput, SheetInput};
use super::validate::phone;
use crate::AppState;
use crate::cache::{CacheKey, CachedRoute, Dep};
use crate::envelope::{created, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, Params};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/campaigns", get(list).post(create))
        .route(
            "/db/campaigns/{campaignId}",
            get(get_one).put(update).delete(delete),
        )
        .route(
            "/db/campaigns/{campaignId}/contacts",
            get(list_contacts)
                .post(add_contacts)
                .delete(remove_contacts),
        )
        .route(
            "/db/campaigns/{campaignId}/contacts/import",
            post(import).layer(axum::extract::DefaultBodyLimit::max(
                super::contacts::IMPORT_BODY_LIMIT_BYTES,
            )),
        )
        .route("/db/campaigns/{campaignId}/start", post(start))
        .route("/db/campaigns/{campaignId}/pause", post(pause))
        .route("/db/campaigns/{campaignId}/resume", post(resume))
        .route("/db/campaigns/{campaignId}/stop", post(stop))
        .route("/db/campaigns/{campaignId}/stats", get(stats))
}

fn campaign_id(raw: &str) -> ApiResult<ObjectId> {
    raw.parse()
        .map_err(|_| ApiError::field("campaignId", "must be a 24-hex-digit id"))
}

async fn load(state: &AppState, id: ObjectId) -> ApiResult<Campaign> {
    state
        .store
        .get_campaign(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no campaign with id {id}")))
}

async fn list(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let page_req = params.page(CAMPAIGN_SORT_FIELDS, Sort::desc("createdAt"))?;
    let fields = params.fields()?;
    let filter = CampaignFilter {
        status: params.parse::<CampaignStatus>("status")?,
        name: params.text("name"),
    };
    params.finish()?;
    page(
        state.store.list_campaigns(&filter, &page_req).await?,
        fields.as_deref(),
    )
}

/// Cached as campaign details (5 min), until the campaign changes.
async fn get_one(State(state): State<AppState>, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let key = CacheKey::new(CachedRoute::Campaign, &json!({ "details": id }))?;
    let campaign = state
        .cache
        .get_or_compute(key, &[Dep::campaign(id)], load(&state, id))
        .await?;
    ok(&*campaign)
}

/// The editable fields, as create and update take them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CampaignBody {
    name: Option<String>,
    description: Option<String>,
    prompt: Option<String>,
    first_message: Option<String>,
    caller_id: Option<String>,
    region: Option<String>,
    sheet_info: Option<SheetInput>,
    settings: Option<SettingsInput>,
    next_execution: Option<Timestamp>,
}

const RETRY_OUTCOMES: [&str; 4] = ["busy", "no-answer", "failed", "voicemail"];

fn check_settings(v: &mut Validator, s: &CampaignSettings) {
    if !(s.call_delay.is_finite() && (0.0..=86_400.0).contains(&s.call_delay)) {
        v.error("settings.callDelay", "must be 0 to 86400 seconds");
    }
    if !(1..=100).contains(&s.max_concurrent_calls) {
        v.error("settings.maxConcurrentCalls", "must be 1 to 100");
    }
    if !(0..=10).contains(&s.retry_count) {
        v.error("settings.retryCount", "must be 0 to 10");
    }
    if !(s.retry_delay.is_finite() && (0.0..=30.0 * 86_400.0).contains(&s.retry_delay)) {
        v.error("settings.retryDelay", "must be 0 to 2592000 seconds");
    }
    if let Some(bad) = s
        .retry_on
        .iter()
        .find(|r| !RETRY_OUTCOMES.contains(&r.as_str()))
    {
        v.error(
            "settings.retryOn",
            format!("{bad:?} is not one of busy, no-answer, failed, voicemail"),
        );
    }
    if let Some(w) = &s.calling_window
        && let Err(e) = Window::parse(w)
    {
        v.error("settings.callingWindow", e.to_string());
    }
    if let Some(vm) = &s.voicemail
        && !matches!(vm.action.as_str(), "hangup" | "leave-message")
    {
        v.error(
            "settings.voicemail.action",
            "must be hangup or leave-message",
        );
    }
    v.max_len("settings.agentId", s.agent_id.as_deref(), MAX_SHORT);
}

impl CampaignBody {
    fn into_patch(self, state: &AppState, creating: bool) -> ApiResult<CampaignPatch> {
        let mut v = Validator::new();
        match &self.name {
            Some(n) => v.not_blank("name", n),
            None if creating => v.error("name", "is required"),
            None => {}
        }
        v.max_len("name", self.name.as_deref(), MAX_SHORT);
        v.max_len("description", self.description.as_deref(), MAX_TEXT);
        v.max_len("prompt", self.prompt.as_deref(), MAX_TEXT);
        v.max_len("firstMessage", self.first_message.as_deref(), MAX_TEXT);
        v.max_len("region", self.region.as_deref(), MAX_SHORT);
        let caller_id = self
            .caller_id
            .as_deref()
            .and_then(|c| phone(&mut v, "callerId", c, state.region))
            .map(|p| p.to_string());
        let settings = self.settings.map(CampaignSettings::from);
        if let Some(s) = &settings {
            check_settings(&mut v, s);
        }
        let sheet_info = self.sheet_info.map(SheetInfo::from);
        if let Some(sheet) = &sheet_info {
            v.not_blank("sheetInfo.spreadsheetId", &sheet.spreadsheet_id);
        }
        v.finish()?;
        Ok(CampaignPatch {
            name: self.name.map(|n| n.trim().to_string()),
            description: self.description,
            prompt: self.prompt,
            first_message: self.first_message,
            caller_id,
            region: self.region,
            sheet_info,
            settings,
            next_execution: self.next_execution,
        })
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CampaignBody>,
) -> ApiResult<Response> {
    let patch = body.into_patch(&state, true)?;
    let mut campaign = Campaign::new("");
    patch.apply(&mut campaign);
    let campaign = state.store.insert_campaign(campaign).await?;
    state
        .bus
        .campaign("status_update", &campaign.id.to_hex(), &campaign);
    created(campaign)
}

async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<CampaignBody>,
) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let patch = body.into_patch(&state, false)?;
    match state
        .store
        .update_campaign(id, &patch, &[CampaignStatus::Draft, CampaignStatus::Paused])
        .await?
    {
        Transition::Applied(c) => {
            state.bus.campaign("status_update", &id.to_hex(), &*c);
            ok(*c)
        }
        Transition::Refused(status) => Err(ApiError::Conflict {
            message: format!("a campaign that is {status} cannot be edited; pause it first"),
            details: Some(json!({ "currentStatus": status })),
        }),
        Transition::NotFound => Err(ApiError::not_found(format!("no campaign with id {id}"))),
    }
}

async fn delete(State(state): State<AppState>, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let campaign = load(&state, id).await?;
    if campaign.status == CampaignStatus::Active {
        return Err(ApiError::Conflict {
            message: "the campaign is running; pause or stop it first".into(),
            details: Some(json!({ "currentStatus": campaign.status })),
        });
    }
    state.store.delete_campaign_contacts(id).await?;
    state.store.delete_campaign(id).await?;
    state
        .bus
        .campaign("status_update", &id.to_hex(), json!({"deleted": true}));
    ok(json!({ "deleted": true, "campaignId": id }))
}

async fn list_contacts(
    State(state): State<AppState>,
    ApiPath(id): ApiPath,
    mut params: Params,
) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let page_req = params.page(CAMPAIGN_CONTACT_SORT_FIELDS, Sort::asc("createdAt"))?;
    let fields = params.fields()?;
    let status = params.parse::<DialStatusParam>("status")?.map(|s| s.0);
    params.finish()?;
    load(&state, id).await?;
    let got = state
        .store
        .list_campaign_contacts(id, status, &page_req)
        .await?;
    page(got, fields.as_deref())
}

struct DialStatusParam(DialStatus);

impl std::str::FromStr for DialStatusParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(json!(s)).map(Self).map_err(|_| {
            "must be one of pending, dialing, retry, completed, failed, skipped, cancelled".into()
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContactIds {
    contact_ids: Vec<ObjectId>,
}

impl ContactIds {
    fn check(&self) -> ApiResult<()> {
        if self.contact_ids.is_empty() || self.contact_ids.len() > 10_000 {
            return Err(ApiError::field(
                "contactIds",
                "must list 1 to 10000 contact ids",
            ));
        }
        Ok(())
    }
}

fn editable(campaign: &Campaign) -> ApiResult<()> {
    if campaign.status.is_final() {
        return Err(ApiError::Conflict {
            message: format!(
                "the campaign is {}; its contacts are final",
                campaign.status
            ),
            details: Some(json!({ "currentStatus": campaign.status })),
        });
    }
    Ok(())
}

/// Adds existing contacts to the campaign: each gets its own dial state here (pending,
/// or skipped if do-not-call), whatever it has in other campaigns.
async fn add_contacts(
    State(state): State<AppState>,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<ContactIds>,
) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let campaign = load(&state, id).await?;
    editable(&campaign)?;
    body.check()?;
    let mut contacts = Vec::with_capacity(body.contact_ids.len());
    for cid in &body.contact_ids {
        let c =
            state.store.get_contact(*cid).await?.ok_or_else(|| {
                ApiError::field("contactIds", format!("no contact with id {cid}"))
            })?;
        contacts.push(c);
    }
    let mut added = 0;
    for contact in &contacts {
        if enroll(&state, id, contact).await? {
            added += 1;
        }
    }
    if added > 0 {
        contacts_added(&state, id).await?;
    }
    let campaign = load(&state, id).await?;
    state.bus.campaign(
        "progress_update",
        &id.to_hex(),
        json!({"stats": campaign.stats}),
    );
    ok(json!({ "added": added, "alreadyIn": contacts.len() - added, "campaign": campaign }))
}

/// `POST /api/db/campaigns/:id/contacts/import`: a CSV file or JSON array of contacts
/// (the contacts import's rules), or `{spreadsheetId, …}` to read a Google Sheet, into
/// the contact database and this campaign.
async fn import(
    State(state): State<AppState>,
    ApiPath(id): ApiPath,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let campaign = load(&state, id).await?;
    editable(&campaign)?;
    let sheet = match &body {
        Ok(bytes) => super::sheets::sheet_import(&headers, bytes)?,
        Err(_) => None,
    };
    let answer = match sheet {
        Some(request) => super::sheets::import_sheet(&state, &campaign, request).await?,
        None => super::contacts::import_into(&state, &headers, body, Some(id)).await?,
    };
    let campaign = load(&state, id).await?;
    state.bus.campaign(
        "progress_update",
        &id.to_hex(),
        json!({"stats": campaign.stats}),
    );
    contacts_added(&state, id).await?;
    Ok(answer)
}

/// Puts one contact in a campaign; `false` if it was already in.
async fn enroll(
    state: &AppState,
    campaign_id: ObjectId,
    contact: &outcall_domain::Contact,
) -> ApiResult<bool> {
    let created = crate::contacts::enroll(state.store.as_ref(), campaign_id, contact).await?;
    if created {
        let delta = StatsDelta::contacts(1);
        state.store.add_campaign_stats(campaign_id, &delta).await?;
    }
    Ok(created)
}

async fn remove_contacts(
    State(state): State<AppState>,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<ContactIds>,
) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let campaign = load(&state, id).await?;
    editable(&campaign)?;
    body.check()?;
    // All or nothing: refuse before removing any if one of them is being dialled.
    refuse_if_dialling(&state, id, &body.contact_ids).await?;
    let mut removed = 0;
    for cid in &body.contact_ids {
        if state.store.remove_campaign_contact(id, *cid).await? {
            removed += 1;
            let delta = StatsDelta::contacts(-1);
            state.store.add_campaign_stats(id, &delta).await?;
        }
        state.store.remove_contact_campaign(*cid, id).await?;
    }
    if let Some(campaign) = state.store.get_campaign(id).await? {
        state.bus.campaign(
            "progress_update",
            &id.to_hex(),
            json!({"stats": campaign.stats}),
        );
    }
    ok(json!({ "removed": removed }))
}

/// 409 naming the contacts of `contact_ids` whose attempt in the campaign is live now.
/// A claim can still start between this check and the removal; the store then refuses
/// that one removal (`Conflict`), which this check makes rare, not impossible.
pub(crate) async fn refuse_if_dialling(
    state: &AppState,
    campaign_id: ObjectId,
    contact_ids: &[ObjectId],
) -> ApiResult<()> {
    let mut busy = Vec::new();
    for cid in contact_ids {
        let cc = state.store.get_campaign_contact(campaign_id, *cid).await?;
        if cc.is_some_and(|cc| cc.status == DialStatus::Dialing) {
            busy.push(*cid);
        }
    }
    if busy.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict {
        message: format!(
            "{} contact(s) are being dialled in campaign {campaign_id} now; nothing was removed, try again when their calls end",
            busy.len()
        ),
        details: Some(json!({ "campaignId": campaign_id, "dialing": busy })),
    })
}

async fn transition(state: &AppState, id: ObjectId, action: CampaignAction) -> ApiResult<Campaign> {
    match state.store.transition_campaign(id, action).await? {
        Transition::Applied(c) => {
            state.bus.campaign("status_update", &id.to_hex(), &*c);
            Ok(*c)
        }
        Transition::Refused(current) => Err(ApiError::Conflict {
            message: format!("cannot {} a campaign that is {current}", action.verb()),
            details: Some(json!({ "currentStatus": current })),
        }),
        Transition::NotFound => Err(ApiError::not_found(format!("no campaign with id {id}"))),
    }
}

async fn start(State(state): State<AppState>, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    if state.telephony.is_none() {
        return Err(ApiError::ServiceUnavailable(
            "calling is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER"
                .into(),
        ));
    }
    let campaign = load(&state, id).await?;
    if campaign.status == CampaignStatus::Draft {
        let counts = state
            .store
            .count_campaign_contacts(id, outcall_domain::time::now())
            .await?;
        if let Some(why) = counts.refuses_start() {
            return Err(ApiError::Conflict {
                message: why.to_string(),
                details: Some(json!({ "contacts": 0 })),
            });
        }
    }
    let c = transition(&state, id, CampaignAction::Start).await?;
    state.engine.wake();
    ok(c)
}

async fn resume(State(state): State<AppState>, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let c = transition(&state, campaign_id(&id)?, CampaignAction::Resume).await?;
    state.engine.wake();
    ok(c)
}

/// Answers only once no call of the campaign can start any more, in any process: the
/// status changed, and no dial that re-read it before is still in flight.
async fn pause(State(state): State<AppState>, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let c = transition(&state, id, CampaignAction::Pause).await?;
    settle_dials(&state, id).await?;
    ok(c)
}

async fn settle_dials(state: &AppState, id: ObjectId) -> ApiResult<()> {
    state.engine.wake();
    crate::engine::await_dials(state.store.as_ref(), id).await?;
    Ok(())
}

/// Contacts were added: a campaign that completed meanwhile reopens, and the engine
/// looks at once.
async fn contacts_added(state: &AppState, id: ObjectId) -> ApiResult<()> {
    crate::engine::reopen_if_completed(state.store.as_ref(), id).await?;
    state.engine.wake();
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StopBody {
    #[serde(default)]
    hangup: bool,
}

async fn stop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    // The body is optional: an empty one means `{}`.
    let hangup = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<StopBody>(&body)
            .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?
            .hangup
    };
    let c = transition(&state, id, CampaignAction::Stop).await?;
    settle_dials(&state, id).await?;
    let cancelled = state.store.cancel_campaign_contacts(id).await?;
    let hung_up = if hangup {
        hang_up_live_calls(&state, id).await?
    } else {
        0
    };
    state.bus.campaign(
        "progress_update",
        &id.to_hex(),
        json!({"cancelledContacts": cancelled}),
    );
    ok(json!({ "campaign": c, "cancelledContacts": cancelled, "hungUpCalls": hung_up }))
}

async fn hang_up_live_calls(state: &AppState, id: ObjectId) -> ApiResult<u64> {
    let mut n = 0;
    for p in 1.. {
        let filter = CallFilter {
            campaign_id: Some(id),
            ..Default::default()
        };
        let req = PageRequest::new(Some(p), Some(100), Sort::asc("createdAt"))?;
        let calls = state.store.list_calls(&filter, &req).await?;
        let last = calls.items.len() < 100;
        for call in calls.items.iter().filter(|c| !c.status.is_terminal()) {
            crate::bridge::session::hang_up_if_live(state, &call.call_sid).await;
            n += 1;
        }
        if last {
            break;
        }
    }
    Ok(n)
}

/// Cached as campaign statistics (5 min), until the campaign or its contacts' dial
/// states change (the engine publishes each step).
async fn stats(State(state): State<AppState>, ApiPath(id): ApiPath) -> ApiResult<Response> {
    let id = campaign_id(&id)?;
    let key = CacheKey::new(CachedRoute::Campaign, &json!({ "stats": id }))?;
    let stats = state
        .cache
        .get_or_compute(key, &[Dep::campaign(id)], compute_stats(&state, id))
        .await?;
    ok(&*stats)
}

async fn compute_stats(state: &AppState, id: ObjectId) -> ApiResult<serde_json::Value> {
    let campaign = load(state, id).await?;
    let contacts = state
        .store
        .count_campaign_contacts(id, outcall_domain::time::now())
        .await?;
    Ok(json!({
        "campaignId": id,
        "status": campaign.status,
        "stats": campaign.stats,
        "contacts": contacts,
        "lastExecuted": campaign.last_executed,
        "nextExecution": campaign.next_execution,
    }))
}
