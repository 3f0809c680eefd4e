//! Drafts to contacts. Every row is checked first (bad rows are reported, not written;
//! reserved custom fields such as `call_sid` are dropped with a warning) and
//! deduplicated on the E.164 number (the first row with a number wins); then each
//! row creates a contact, or updates the contact that already has its number, and,
//! for a campaign import, enrolls the contact in the campaign. Numbers are unique in
//! the store, so two imports at once (the CLI and the API) meet on one contact: the
//! later insert is refused and becomes an update.
//!
//! An update fills or replaces the fields the row gives, adds its tags to the stored
//! ones and merges its custom fields into the stored ones. It reads the stored contact
//! and writes the result back, so an edit made to the same contact in between is lost;
//! imports are bulk work, not concurrent editing.

use std::collections::HashMap;

use futures::StreamExt;
use outcall_domain::ObjectId;
use outcall_domain::campaign::StatsDelta;
use outcall_domain::campaign_contact::{CampaignContact, DialStatus, SkipReason};
use outcall_domain::contact::{
    Contact, ContactPatch, ContactSheetInfo, ContactStatus, is_reserved_variable, reserved_keys,
};
use outcall_domain::phone::{PhoneNumber, Region};
use outcall_store::{Store, StoreError, StoreResult};
use serde_json::{Map, Value};

use super::{ContactDraft, ImportReport, MAX_ROWS, RowError, fields};

/// Rows written at once: the store serialises what it must (SQLite has one writer);
/// MongoDB gains from the overlap.
const CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("more than {MAX_ROWS} rows: split the input into parts of at most {MAX_ROWS} rows")]
    TooManyRows,
    #[error("no campaign with id {0}")]
    CampaignNotFound(ObjectId),
    /// The store failed; the rows written before it stay written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports `rows` (from CSV, a JSON array or a sheet) into the contacts and, when
/// `campaign` is given, into that campaign. Checks everything before writing
/// anything: an invalid row (bad phone number, priority, status, …) is skipped and
/// reported with its row number; a number seen on an earlier row is a duplicate.
/// `progress` is called after each row is handled, with how many of `rows.len()` are
/// done. A campaign's status is the caller's to check (this does not refuse a running
/// campaign); its `totalContacts` grows by the contacts newly enrolled.
pub async fn import_contacts(
    store: &dyn Store,
    region: Region,
    rows: Vec<ContactDraft>,
    campaign: Option<ObjectId>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportReport, ImportError> {
    if rows.len() > MAX_ROWS {
        return Err(ImportError::TooManyRows);
    }
    if let Some(id) = campaign
        && store.get_campaign(id).await?.is_none()
    {
        return Err(ImportError::CampaignNotFound(id));
    }
    let mut report = ImportReport {
        total: rows.len(),
        enrolled: campaign.map(|_| 0),
        ..ImportReport::default()
    };
    let (valid, skipped, warnings) = check_all(rows, region);
    report.warnings = warnings;
    for e in &skipped {
        match e {
            Skip::Invalid(_) => report.invalid += 1,
            Skip::Duplicate(_) => report.duplicates += 1,
        }
    }
    let mut errors: Vec<RowError> = skipped.into_iter().map(Skip::into_error).collect();
    let mut done = errors.len();
    progress(done);

    let mut writes = futures::stream::iter(valid)
        .map(|row| write_row(store, row, campaign))
        .buffer_unordered(CONCURRENCY);
    let mut first_failure = None;
    while let Some(result) = writes.next().await {
        match result {
            Ok(Written { created, enrolled }) => {
                if created {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
                if enrolled && let Some(n) = &mut report.enrolled {
                    *n += 1;
                }
            }
            Err(RowFailure::Duplicate(e)) => {
                report.duplicates += 1;
                errors.push(e);
            }
            Err(RowFailure::Store(e)) => {
                first_failure.get_or_insert(e);
            }
        }
        done += 1;
        progress(done);
    }
    drop(writes);
    if let (Some(id), Some(n)) = (campaign, report.enrolled)
        && n > 0
    {
        let delta = StatsDelta::contacts(n as i64);
        store.add_campaign_stats(id, &delta).await?;
        // A campaign that completed as these came in dials them.
        crate::engine::reopen_if_completed(store, id).await?;
    }
    if let Some(e) = first_failure {
        return Err(e.into());
    }
    errors.sort_by_key(|e| e.row);
    report.errors = errors;
    Ok(report)
}

/// Adds one existing contact to a campaign: its `campaignIds`, and its dial state
/// (`pending` with the contact's priority, or `skipped` for a do-not-call contact).
/// Returns whether the contact was newly enrolled (`false` if it already was, or no
/// longer exists). Does not touch the campaign's
/// `totalContacts`: the caller adds the enrolled count.
pub async fn enroll(
    store: &dyn Store,
    campaign_id: ObjectId,
    contact: &Contact,
) -> StoreResult<bool> {
    if store
        .add_contact_campaign(contact.id, campaign_id)
        .await?
        .is_none()
    {
        return Ok(false); // deleted meanwhile: nothing to enroll
    }
    let mut cc = CampaignContact::new(campaign_id, contact.id, contact.phone_number.clone());
    cc.priority = contact.priority;
    if contact.status == ContactStatus::DoNotCall {
        cc.status = DialStatus::Skipped;
        cc.skip_reason = Some(SkipReason::DoNotCall);
    }
    let (_, created) = store.upsert_campaign_contact(cc).await?;
    Ok(created)
}

/// A row whose fields passed every check.
#[derive(Debug)]
struct ValidRow {
    row: usize,
    phone: PhoneNumber,
    name: Option<String>,
    email: Option<String>,
    tags: Vec<String>,
    notes: Option<String>,
    priority: Option<i64>,
    status: Option<ContactStatus>,
    timezone: Option<String>,
    custom_fields: Map<String, Value>,
    sheet: Option<ContactSheetInfo>,
}

#[derive(Debug)]
enum Skip {
    Invalid(RowError),
    Duplicate(RowError),
}

impl Skip {
    fn into_error(self) -> RowError {
        match self {
            Self::Invalid(e) | Self::Duplicate(e) => e,
        }
    }
}

/// Checks every row and drops repeated numbers (the first row keeps its number).
/// Also returns a warning for each kept row whose reserved custom fields were dropped.
fn check_all(rows: Vec<ContactDraft>, region: Region) -> (Vec<ValidRow>, Vec<Skip>, Vec<RowError>) {
    let mut first_row: HashMap<PhoneNumber, usize> = HashMap::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    for draft in rows {
        let row = draft.row;
        match check_row(draft, region) {
            Err(reason) => skipped.push(Skip::Invalid(RowError { row, reason })),
            Ok((v, dropped)) => match first_row.get(&v.phone) {
                Some(first) => skipped.push(Skip::Duplicate(RowError {
                    row,
                    reason: format!("duplicate: {} is already on row {first}", v.phone),
                })),
                None => {
                    if !dropped.is_empty() {
                        warnings.push(RowError {
                            row,
                            reason: format!(
                                "custom field {} dropped: reserved for the call's own dynamic variables",
                                dropped.join(", ")
                            ),
                        });
                    }
                    first_row.insert(v.phone.clone(), row);
                    valid.push(v);
                }
            },
        }
    }
    (valid, skipped, warnings)
}

/// Every problem of one row, joined into its reason; or the checked row and the
/// reserved custom fields taken out of it.
fn check_row(mut d: ContactDraft, region: Region) -> Result<(ValidRow, Vec<String>), String> {
    let dropped = reserved_keys(&d.custom_fields);
    d.custom_fields.retain(|k, _| !is_reserved_variable(k));
    let mut problems = Vec::new();
    let phone = if d.phone_number.trim().is_empty() {
        take(&mut problems, "phoneNumber", Err("missing".to_string()))
    } else {
        let parsed = PhoneNumber::parse(&d.phone_number, region).map_err(|e| {
            format!(
                "{:?} is not a valid phone number ({e})",
                d.phone_number.trim()
            )
        });
        take(&mut problems, "phoneNumber", parsed)
    };
    let p = &mut problems;
    let name = d
        .name
        .as_deref()
        .and_then(|s| take(p, "name", fields::short(s)));
    let email = d
        .email
        .as_deref()
        .and_then(|s| take(p, "email", fields::email(s)));
    let notes = d
        .notes
        .as_deref()
        .and_then(|s| take(p, "notes", fields::long(s)));
    let tags = take(p, "tags", fields::tags(&d.tags)).unwrap_or_default();
    let priority = d
        .priority
        .as_deref()
        .and_then(|s| take(p, "priority", fields::priority_text(s)));
    let status = d
        .status
        .as_deref()
        .and_then(|s| take(p, "status", fields::status_text(s)));
    let timezone = d
        .timezone
        .as_deref()
        .and_then(|s| take(p, "timezone", fields::timezone(s)));
    take(p, "customFields", fields::custom_fields(&d.custom_fields));
    match phone {
        Some(phone) if problems.is_empty() => Ok((
            ValidRow {
                row: d.row,
                phone,
                name,
                email,
                tags,
                notes,
                priority,
                status,
                timezone,
                custom_fields: d.custom_fields,
                sheet: d.sheet,
            },
            dropped,
        )),
        _ => Err(problems.join("; ")),
    }
}

/// The value of a passed check; a failed one is noted as `field: why`.
fn take<T>(problems: &mut Vec<String>, field: &str, check: fields::Check<T>) -> Option<T> {
    match check {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{field}: {e}"));
            None
        }
    }
}

struct Written {
    created: bool,
    enrolled: bool,
}

enum RowFailure {
    /// Another contact with the row's number is already in the campaign; the others go on.
    Duplicate(RowError),
    /// The store failed: the import stops.
    Store(StoreError),
}

async fn write_row(
    store: &dyn Store,
    row: ValidRow,
    campaign: Option<ObjectId>,
) -> Result<Written, RowFailure> {
    let at = row.row;
    let (contact, created) = upsert(store, row).await.map_err(RowFailure::Store)?;
    let enrolled = match campaign {
        None => false,
        Some(id) => match enroll(store, id, &contact).await {
            Ok(new) => new,
            Err(StoreError::Conflict { .. }) => {
                return Err(RowFailure::Duplicate(RowError {
                    row: at,
                    reason: format!(
                        "duplicate: another contact with {} is already in this campaign",
                        contact.phone_number
                    ),
                }));
            }
            Err(e) => return Err(RowFailure::Store(e)),
        },
    };
    Ok(Written { created, enrolled })
}

/// Creates the contact, or updates the one with its number. `true` when created.
async fn upsert(store: &dyn Store, row: ValidRow) -> StoreResult<(Contact, bool)> {
    if let Some(existing) = store.get_contact_by_phone(row.phone.as_str()).await? {
        return update(store, existing, &row).await;
    }
    let mut c = Contact::new(row.phone.to_string());
    c.name = row.name.clone();
    c.email = row.email.clone();
    c.tags = row.tags.clone();
    c.notes = row.notes.clone();
    c.priority = row.priority.unwrap_or(0);
    c.status = row.status.clone().unwrap_or_default();
    c.timezone = row.timezone.clone();
    c.custom_fields = row.custom_fields.clone();
    c.sheet_info = row.sheet.clone();
    match store.insert_contact(c).await {
        Ok(c) => Ok((c, true)),
        // Created by someone else since we looked: update theirs.
        Err(StoreError::Conflict { .. }) => {
            match store.get_contact_by_phone(row.phone.as_str()).await? {
                Some(existing) => update(store, existing, &row).await,
                None => Err(StoreError::Internal(format!(
                    "contact {} conflicted on insert but cannot be found",
                    row.phone
                ))),
            }
        }
        Err(e) => Err(e),
    }
}

async fn update(
    store: &dyn Store,
    existing: Contact,
    row: &ValidRow,
) -> StoreResult<(Contact, bool)> {
    let mut tags = existing.tags.clone();
    for t in &row.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let mut custom = existing.custom_fields.clone();
    custom.extend(row.custom_fields.clone());
    let patch = ContactPatch {
        name: row.name.clone(),
        email: row.email.clone(),
        notes: row.notes.clone(),
        status: row.status.clone(),
        priority: row.priority,
        timezone: row.timezone.clone(),
        tags: (tags != existing.tags).then_some(tags),
        custom_fields: (custom != existing.custom_fields).then_some(custom),
        sheet_info: row.sheet.clone(),
    };
    let updated = store
        .update_contact(existing.id, &patch)
        .await?
        // Deleted since we looked: nothing to update; report the stored state we saw.
        .unwrap_or(existing);
    Ok((updated, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(row: usize, phone: &str, fields: serde_json::Value) -> ContactDraft {
        ContactDraft {
            row,
            phone_number: phone.into(),
            custom_fields: fields.as_object().cloned().unwrap_or_default(),
            ..ContactDraft::default()
        }
    }

    #[test]
    fn reserved_custom_fields_are_dropped_with_a_warning_for_the_row() {
        let region = Region::parse("US").expect("region");
        let rows = vec![
            draft(
                2,
                "+14155550100",
                json!({"call_sid": "CAx", "plan": "gold"}),
            ),
            draft(3, "+14155550101", json!({"plan": "silver"})),
            draft(4, "+14155550100", json!({"phone_number": "+1"})),
        ];
        let (valid, skipped, warnings) = check_all(rows, region);
        assert_eq!(valid.len(), 2);
        assert_eq!(skipped.len(), 1, "row 4 repeats row 2's number");
        assert_eq!(
            valid[0].custom_fields,
            *json!({"plan": "gold"}).as_object().expect("map")
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].row, 2);
        assert!(warnings[0].reason.contains("call_sid"), "{warnings:?}");
    }
}
