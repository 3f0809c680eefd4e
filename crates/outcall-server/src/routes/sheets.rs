//! Google Sheets routes: a campaign's contacts imported from a sheet (the JSON form of
//! `POST /api/db/campaigns/:id/contacts/import`) and `POST …/sheets/sync`, which
//! writes every contact's status and result to the campaign's sheet now.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::post;
use outcall_domain::Campaign;
use outcall_domain::campaign::{CampaignPatch, CampaignStatus, SheetInfo};
use outcall_domain::validate::{MAX_SHORT, Validator};
use outcall_sheets::{SheetsClient, ValueRange, cell_range};
use outcall_store::Transition;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::envelope::ok;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::sheets::results::WriteError;
use crate::sheets::source::{SourceError, read_contacts, spreadsheet_id_of};
use crate::sheets::{api_error, require, sync_campaign};

pub fn router() -> Router<AppState> {
    Router::new().route("/db/campaigns/{campaignId}/sheets/sync", post(sync))
}

/// The body of a Sheets import: the campaign's `sheetInfo` fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SheetImport {
    /// The id, or the sheet's URL.
    spreadsheet_id: String,
    #[serde(default)]
    sheet_name: Option<String>,
    #[serde(default)]
    phone_column: Option<String>,
    #[serde(default)]
    name_column: Option<String>,
    #[serde(default)]
    email_column: Option<String>,
    #[serde(default)]
    status_column: Option<String>,
    #[serde(default)]
    result_column: Option<String>,
    #[serde(default)]
    custom_message_column: Option<String>,
}

impl SheetImport {
    fn into_info(self) -> ApiResult<SheetInfo> {
        let mut v = Validator::new();
        let id = spreadsheet_id_of(&self.spreadsheet_id).to_string();
        v.not_blank("spreadsheetId", &id);
        v.max_len("spreadsheetId", Some(&id), MAX_SHORT);
        let columns = [
            ("sheetName", &self.sheet_name),
            ("phoneColumn", &self.phone_column),
            ("nameColumn", &self.name_column),
            ("emailColumn", &self.email_column),
            ("statusColumn", &self.status_column),
            ("resultColumn", &self.result_column),
            ("customMessageColumn", &self.custom_message_column),
        ];
        for (field, value) in columns {
            if let Some(value) = value {
                v.not_blank(field, value);
                v.max_len(field, Some(value), MAX_SHORT);
            }
        }
        v.finish()?;
        let trim = |s: Option<String>| s.map(|s| s.trim().to_string());
        Ok(SheetInfo {
            spreadsheet_id: id,
            sheet_name: self.sheet_name,
            phone_column: trim(self.phone_column),
            name_column: trim(self.name_column),
            email_column: trim(self.email_column),
            status_column: trim(self.status_column),
            result_column: trim(self.result_column),
            custom_message_column: trim(self.custom_message_column),
        })
    }
}

/// The Sheets import in a campaign import's body, if it is one: a JSON object with
/// `spreadsheetId` (a JSON import is an array, or `{"contacts": [...]}`).
pub(crate) fn sheet_import(headers: &HeaderMap, body: &[u8]) -> ApiResult<Option<SheetImport>> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !json || !object {
        return Ok(None);
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None); // not JSON: the JSON import says why
    };
    if !fields.contains_key("spreadsheetId") {
        return Ok(None);
    }
    serde_json::from_value(Value::Object(fields))
        .map(Some)
        .map_err(|e| ApiError::validation(format!("invalid Google Sheets import: {e}")))
}

/// Imports the sheet into the contacts and `campaign`, and makes it the campaign's
/// sheet. The whole sheet is read and checked before anything is written.
pub(crate) async fn import_sheet(
    state: &AppState,
    campaign: &Campaign,
    request: SheetImport,
) -> ApiResult<Response> {
    let client = require(state.sheets.as_ref())?;
    let mut info = request.into_info()?;
    let rows = read_contacts(client, &info)
        .await
        .map_err(|e| source_error(client, e))?;
    info.sheet_name = Some(rows.sheet_name.clone());
    let added_columns = rows.missing_result_columns.clone();
    if !added_columns.is_empty() {
        add_header_cells(
            client,
            &info,
            &rows.sheet_name,
            rows.header.len(),
            &added_columns,
        )
        .await?;
    }
    let patch = CampaignPatch {
        sheet_info: Some(info.clone()),
        ..CampaignPatch::default()
    };
    let editable = [
        CampaignStatus::Draft,
        CampaignStatus::Active,
        CampaignStatus::Paused,
    ];
    match state
        .store
        .update_campaign(campaign.id, &patch, &editable)
        .await?
    {
        Transition::Applied(_) => {}
        Transition::Refused(status) => {
            return Err(ApiError::Conflict {
                message: format!("the campaign is {status}; its contacts are final"),
                details: Some(json!({ "currentStatus": status })),
            });
        }
        Transition::NotFound => {
            return Err(ApiError::not_found(format!(
                "no campaign with id {}",
                campaign.id
            )));
        }
    }
    let report = crate::contacts::import_contacts(
        state.store.as_ref(),
        state.region,
        rows.drafts,
        Some(campaign.id),
        &|_| {},
    )
    .await
    .map_err(super::contacts::import_error)?;
    state.bus.contact(
        "imported",
        "",
        json!({"created": report.created, "updated": report.updated, "total": report.total}),
    );
    let mut answer = serde_json::to_value(&report)
        .map_err(|e| ApiError::Internal(format!("import report: {e}")))?;
    answer["sheetInfo"] = json!(info);
    answer["addedColumns"] = json!(added_columns);
    ok(answer)
}

/// Names the write-back columns the sheet lacks, right of its last header cell.
async fn add_header_cells(
    client: &SheetsClient,
    info: &SheetInfo,
    sheet: &str,
    width: usize,
    names: &[String],
) -> ApiResult<()> {
    let range = cell_range(sheet, width, 1, width + names.len() - 1, 1);
    let cells = ValueRange::new(range, vec![names.to_vec()]);
    client
        .batch_update(&info.spreadsheet_id, vec![cells])
        .await
        .map_err(|e| api_error(client, e))?;
    Ok(())
}

fn source_error(client: &SheetsClient, e: SourceError) -> ApiError {
    match e {
        SourceError::Sheets(e) => api_error(client, e),
        SourceError::Unusable(m) => ApiError::validation(format!(
            "the sheet cannot be imported: {m}; nothing was written"
        )),
    }
}

/// `POST /api/db/campaigns/:id/sheets/sync`.
async fn sync(State(state): State<AppState>, ApiPath(raw): ApiPath) -> ApiResult<Response> {
    let id = raw
        .parse()
        .map_err(|_| ApiError::field("campaignId", "must be a 24-hex-digit id"))?;
    let campaign = state
        .store
        .get_campaign(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no campaign with id {id}")))?;
    if let Err(WriteError::NoSheet(m)) = crate::sheets::results::target(&campaign) {
        return Err(ApiError::Conflict {
            message: m,
            details: None,
        });
    }
    let client = require(state.sheets.as_ref())?;
    match sync_campaign(client, state.store.as_ref(), state.region, &campaign).await {
        Ok(report) => ok(report),
        Err(WriteError::NoSheet(m)) => Err(ApiError::Conflict {
            message: m,
            details: None,
        }),
        Err(WriteError::Source(SourceError::Sheets(e))) => Err(api_error(client, e)),
        Err(WriteError::Source(SourceError::Unusable(m))) => Err(ApiError::Conflict {
            message: format!("the campaign's sheet does not fit its sheetInfo: {m}"),
            details: None,
        }),
        Err(WriteError::Store(e)) => Err(e.into()),
    }
}
