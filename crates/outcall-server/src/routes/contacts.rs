//! Contact API (seed): list, get (by id or number), create, update, delete, tags, call
//! history, import; plus the CSV export. Bulk work lives in [`crate::contacts`].

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use outcall_domain::ObjectId;
use outcall_domain::call::CallStatus;
use outcall_domain::contact::{Contact, ContactPatch, ContactStatus};
use outcall_domain::page::Sort;
use outcall_domain::phone::PhoneNumber;
use outcall_domain::validate::{ValidationError, Validator};
use outcall_store::{CALL_SORT_FIELDS, CONTACT_SORT_FIELDS, CallFilter, ContactFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::cache::{CacheKey, CachedRoute, Dep};
use crate::contacts::{self, ContactDraft, CsvError, ImportError, fields};
use crate::envelope::{self, created, ok, page, page_body};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, Params};

/// Imports may be far larger than other bodies (100,000 rows of CSV).
pub const IMPORT_BODY_LIMIT_BYTES: usize = 50 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/db/contacts", get(list).post(create))
        .route("/db/contacts/export", get(export))
        .route(
            "/db/contacts/import",
            post(import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT_BYTES)),
        )
        .route("/db/contacts/phone/{phoneNumber}", get(get_by_phone))
        .route(
            "/db/contacts/{contactId}",
            get(get_one).put(update).delete(delete),
        )
        .route(
            "/db/contacts/{contactId}/tags",
            post(add_tags).delete(remove_tags),
        )
        .route("/db/contacts/{contactId}/calls", get(calls))
}

fn contact_id(raw: &str) -> ApiResult<ObjectId> {
    raw.parse()
        .map_err(|_| ApiError::field("contactId", "must be a 24-hex-digit id"))
}

fn not_found(id: ObjectId) -> ApiError {
    ApiError::not_found(format!("no contact with id {id}"))
}

/// The list filters, shared by the list and the export.
fn filter(params: &mut Params) -> ApiResult<ContactFilter> {
    let email = params.text("email");
    let name = params.text("name");
    let q = params.text("q");
    let mut v = Validator::new();
    v.max_len("q", q.as_deref(), outcall_domain::validate::MAX_SHORT);
    v.finish()?;
    Ok(ContactFilter {
        status: params.parse::<ContactStatus>("status")?,
        tag: params.text("tag"),
        campaign_id: params.object_id("campaignId")?,
        email,
        name,
        q,
    })
}

async fn list(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let page_req = params.page(CONTACT_SORT_FIELDS, Sort::desc("createdAt"))?;
    let fields = params.fields()?;
    let filter = filter(&mut params)?;
    params.finish()?;
    page(
        state.store.list_contacts(&filter, &page_req).await?,
        fields.as_deref(),
    )
}

async fn export(State(state): State<AppState>, mut params: Params) -> ApiResult<Response> {
    let filter = filter(&mut params)?;
    params.finish()?;
    let body = Body::from_stream(contacts::export::stream(state.store.clone(), filter));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contacts.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// What a contact's cached answers depend on: the contact, and bulk imports.
fn contact_deps(id: ObjectId) -> [Dep; 2] {
    [Dep::contact(id), Dep::AnyContact]
}

/// Cached as contact details (5 min), until the contact changes.
async fn get_one(State(state): State<AppState>, ApiPath(raw): ApiPath) -> ApiResult<Response> {
    let id = contact_id(&raw)?;
    let key = CacheKey::new(CachedRoute::Contact, &json!({ "details": id }))?;
    let contact = state
        .cache
        .get_or_compute(key, &contact_deps(id), async {
            state
                .store
                .get_contact(id)
                .await?
                .ok_or_else(|| not_found(id))
        })
        .await?;
    ok(&*contact)
}

async fn get_by_phone(State(state): State<AppState>, ApiPath(raw): ApiPath) -> ApiResult<Response> {
    let phone = PhoneNumber::parse(&raw, state.region)
        .map_err(|e| ApiError::field("phoneNumber", format!("not a valid phone number ({e})")))?;
    let contact = state
        .store
        .get_contact_by_phone(phone.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no contact with phone number {phone}")))?;
    ok(contact)
}

/// The body of create (`phoneNumber` required) and update (`PUT`: only the fields
/// given change; `tags` and `customFields` replace the stored ones whole; the phone
/// number is the contact's identity and cannot change).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContactBody {
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    status: Option<ContactStatus>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    custom_fields: Option<Map<String, Value>>,
}

impl ContactBody {
    /// Checks every field but the number, reporting all problems at once.
    fn into_patch(self, v: &mut Validator) -> ContactPatch {
        fn check<T>(v: &mut Validator, field: &str, r: fields::Check<T>) -> Option<T> {
            r.map_err(|e| v.error(field, e)).ok()
        }
        ContactPatch {
            name: self.name.and_then(|s| check(v, "name", fields::short(&s))),
            email: self
                .email
                .and_then(|s| check(v, "email", fields::email(&s))),
            notes: self.notes.and_then(|s| check(v, "notes", fields::long(&s))),
            // Stored documents may hold other statuses; input holds outcall's.
            status: self.status.and_then(|s| {
                if s.is_known() {
                    Some(s)
                } else {
                    v.error(
                        "status",
                        format!(
                            "unknown contact status {:?}: expected one of active, inactive, do-not-call",
                            s.as_str()
                        ),
                    );
                    None
                }
            }),
            priority: self
                .priority
                .and_then(|p| check(v, "priority", fields::priority(p))),
            timezone: self
                .timezone
                .and_then(|s| check(v, "timezone", fields::timezone(&s))),
            tags: self.tags.and_then(|t| check(v, "tags", fields::tags(&t))),
            custom_fields: self.custom_fields.and_then(|f| {
                super::calling::reserved_variables(v, "customFields", &f);
                check(v, "customFields", fields::custom_fields(&f)).map(|()| f)
            }),
            sheet_info: None,
        }
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(mut body): ApiJson<ContactBody>,
) -> ApiResult<Response> {
    let mut v = Validator::new();
    let phone = match body.phone_number.take() {
        Some(p) => super::validate::phone(&mut v, "phoneNumber", &p, state.region),
        None => {
            v.error("phoneNumber", "is required");
            None
        }
    };
    let patch = body.into_patch(&mut v);
    v.finish()?;
    let Some(phone) = phone else {
        return Err(ApiError::Internal(
            "BUG: validated phone number missing".into(),
        ));
    };
    if let Some(existing) = state.store.get_contact_by_phone(phone.as_str()).await? {
        return Err(duplicate(&existing));
    }
    let mut contact = Contact::new(phone.to_string());
    patch.apply(&mut contact);
    let contact = match state.store.insert_contact(contact).await {
        Ok(c) => c,
        // Another request created it since we looked.
        Err(e) if e.is_conflict() => {
            match state.store.get_contact_by_phone(phone.as_str()).await? {
                Some(existing) => return Err(duplicate(&existing)),
                None => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    state.bus.contact("created", &contact.id.to_hex(), &contact);
    created(contact)
}

fn duplicate(existing: &Contact) -> ApiError {
    ApiError::Conflict {
        message: format!(
            "a contact with phone number {} already exists",
            existing.phone_number
        ),
        details: Some(json!({
            "existingId": existing.id,
            "phoneNumber": existing.phone_number,
        })),
    }
}

async fn update(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath,
    ApiJson(mut body): ApiJson<ContactBody>,
) -> ApiResult<Response> {
    let id = contact_id(&raw)?;
    let mut v = Validator::new();
    let phone = body
        .phone_number
        .take()
        .and_then(|p| super::validate::phone(&mut v, "phoneNumber", &p, state.region));
    let patch = body.into_patch(&mut v);
    v.finish()?;
    if let Some(phone) = phone {
        // The same number, however written, is no change; another one is refused.
        let current = state
            .store
            .get_contact(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if current.phone_number != phone.as_str() {
            return Err(ValidationError::field(
                "phoneNumber",
                "cannot be changed: create a contact with the new number instead",
            )
            .into());
        }
    }
    let contact = state
        .store
        .update_contact(id, &patch)
        .await?
        .ok_or_else(|| not_found(id))?;
    state.bus.contact("updated", &contact.id.to_hex(), &contact);
    ok(contact)
}

async fn delete(State(state): State<AppState>, ApiPath(raw): ApiPath) -> ApiResult<Response> {
    let id = contact_id(&raw)?;
    let Some(contact) = state.store.get_contact(id).await? else {
        return Err(not_found(id));
    };
    // Its places in campaigns go with it, unless a call to it is starting right now.
    for campaign in &contact.campaign_ids {
        super::campaigns::refuse_if_dialling(&state, *campaign, &[id]).await?;
    }
    for campaign in &contact.campaign_ids {
        if state.store.remove_campaign_contact(*campaign, id).await? {
            let delta = outcall_domain::campaign::StatsDelta::contacts(-1);
            state.store.add_campaign_stats(*campaign, &delta).await?;
        }
    }
    if !state.store.delete_contact(id).await? {
        return Err(not_found(id));
    }
    let data = json!({ "deleted": true, "_id": id });
    state.bus.contact("deleted", &id.to_hex(), &data);
    ok(data)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tags {
    tags: Vec<String>,
}

impl Tags {
    fn checked(self) -> ApiResult<Vec<String>> {
        if self.tags.is_empty() {
            return Err(ApiError::field("tags", "must name at least one tag"));
        }
        fields::tags(&self.tags).map_err(|e| ApiError::field("tags", e))
    }
}

async fn add_tags(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath,
    ApiJson(body): ApiJson<Tags>,
) -> ApiResult<Response> {
    let id = contact_id(&raw)?;
    let tags = body.checked()?;
    let current = state
        .store
        .get_contact(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let new = tags.iter().filter(|t| !current.tags.contains(t)).count();
    if current.tags.len() + new > fields::MAX_TAGS {
        return Err(ApiError::field(
            "tags",
            format!("a contact may have at most {} tags", fields::MAX_TAGS),
        ));
    }
    let contact = state
        .store
        .add_contact_tags(id, &tags)
        .await?
        .ok_or_else(|| not_found(id))?;
    state.bus.contact("updated", &contact.id.to_hex(), &contact);
    ok(contact)
}

async fn remove_tags(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath,
    ApiJson(body): ApiJson<Tags>,
) -> ApiResult<Response> {
    let id = contact_id(&raw)?;
    let tags = body.checked()?;
    let contact = state
        .store
        .remove_contact_tags(id, &tags)
        .await?
        .ok_or_else(|| not_found(id))?;
    state.bus.contact("updated", &contact.id.to_hex(), &contact);
    ok(contact)
}

/// A contact's calls, newest first.
async fn calls(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath,
    mut params: Params,
) -> ApiResult<Response> {
    let id = contact_id(&raw)?;
    let page_req = params.page(CALL_SORT_FIELDS, Sort::desc("createdAt"))?;
    let fields = params.fields()?;
    let filter = CallFilter {
        contact_id: Some(id),
        status: params.parse::<CallStatus>("status")?,
        ..CallFilter::default()
    };
    params.finish()?;
    // The normalised query: defaults filled in, so `?page=1` and no page share an entry.
    let key = CacheKey::new(
        CachedRoute::Contact,
        &json!({
            "calls": id,
            "status": filter.status,
            "page": page_req.page,
            "limit": page_req.limit,
            "sort": [page_req.sort.field, format!("{:?}", page_req.sort.order)],
            "fields": fields,
        }),
    )?;
    let body = state
        .cache
        .get_or_compute(key, &contact_deps(id), async {
            if state.store.get_contact(id).await?.is_none() {
                return Err(not_found(id));
            }
            page_body(
                state.store.list_calls(&filter, &page_req).await?,
                fields.as_deref(),
            )
        })
        .await?;
    envelope::body(&body)
}

/// One item of a JSON import: the create body's fields, values not yet checked (a bad
/// one skips its row instead of refusing the whole array).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportItem {
    phone_number: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    custom_fields: Option<Map<String, Value>>,
}

impl ImportItem {
    fn into_draft(self, row: usize) -> ContactDraft {
        ContactDraft {
            row,
            phone_number: self.phone_number,
            name: self.name,
            email: self.email,
            tags: self.tags.unwrap_or_default(),
            notes: self.notes,
            priority: self.priority.map(|p| p.to_string()),
            status: self.status,
            timezone: self.timezone,
            custom_fields: self.custom_fields.unwrap_or_default(),
            sheet: None,
        }
    }
}

/// `POST /api/db/contacts/import`: a JSON array of contacts (the seed; `{"contacts":
/// [...]}` too) or a CSV file (`text/csv`).
async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    import_into(&state, &headers, body, None).await
}

/// An import's body (JSON or CSV) into contacts, and into `campaign` when given.
pub(crate) async fn import_into(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    campaign: Option<outcall_domain::ObjectId>,
) -> ApiResult<Response> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "an import may be at most {} MiB",
                IMPORT_BODY_LIMIT_BYTES / (1024 * 1024)
            ))
        } else {
            ApiError::validation(format!("unreadable body: {e}"))
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let drafts = if content_type.starts_with("application/json") {
        json_drafts(&body)?
    } else if content_type.starts_with("text/csv") || content_type.starts_with("application/csv") {
        tokio::task::spawn_blocking(move || contacts::parse_csv(&body[..]))
            .await
            .map_err(|e| ApiError::Internal(format!("CSV reader task: {e}")))?
            .map_err(csv_error)?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send a JSON array of contacts (Content-Type: application/json) or a CSV file (Content-Type: text/csv)".into(),
        ));
    };
    let report = contacts::import_contacts(
        state.store.as_ref(),
        state.region,
        drafts,
        campaign,
        &|_| {},
    )
    .await
    .map_err(import_error)?;
    state.bus.contact(
        "imported",
        "",
        json!({
            "created": report.created,
            "updated": report.updated,
            "duplicates": report.duplicates,
            "invalid": report.invalid,
            "total": report.total,
        }),
    );
    ok(report)
}

/// A JSON import's items, each checked for shape on its own so an error names it.
fn json_drafts(body: &[u8]) -> ApiResult<Vec<ContactDraft>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut o) if o.len() == 1 && o.get("contacts").is_some_and(Value::is_array) => {
            match o.remove("contacts") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        _ => {
            return Err(ApiError::validation(
                "expected a JSON array of contacts (or {\"contacts\": [...]})",
            ));
        }
    };
    if items.len() > contacts::MAX_ROWS {
        return Err(import_error(ImportError::TooManyRows));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<ImportItem>(item)
                .map(|it| it.into_draft(i + 1))
                .map_err(|e| ApiError::Validation {
                    message: format!("contact {} of the array: {e}", i + 1),
                    details: Some(json!({ "row": i + 1 })),
                })
        })
        .collect()
}

fn csv_error(e: CsvError) -> ApiError {
    let details = e.row().map(|row| json!({ "row": row }));
    ApiError::Validation {
        message: format!("the CSV cannot be imported: {e}; nothing was written"),
        details,
    }
}

pub(crate) fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::TooManyRows => ApiError::validation(e.to_string()),
        ImportError::CampaignNotFound(_) => ApiError::not_found(e.to_string()),
        ImportError::Store(e) => e.into(),
    }
}
