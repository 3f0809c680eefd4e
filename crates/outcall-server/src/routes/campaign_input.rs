//! A campaign's nested input (`settings`, `sheetInfo`) as the API takes it: strict,
//! so a misspelt key is a 400 naming it (`settings.callDelya`) instead of a setting
//! silently left at its default. Stored campaigns read through the domain's own,
//! lenient types; these convert into them.

use outcall_domain::campaign::{CallingWindow, CampaignSettings, SheetInfo, VoicemailSettings};
use serde::Deserialize;

/// `settings`: a field left out takes its default, as the domain type gives it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsInput {
    call_delay: Option<f64>,
    max_concurrent_calls: Option<i64>,
    retry_count: Option<i64>,
    retry_delay: Option<f64>,
    calling_window: Option<WindowInput>,
    retry_on: Option<Vec<String>>,
    voicemail: Option<VoicemailInput>,
    agent_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowInput {
    start: String,
    end: String,
    #[serde(default)]
    days: Vec<String>,
    timezone: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VoicemailInput {
    action: String,
    message: Option<String>,
}

impl From<SettingsInput> for CampaignSettings {
    fn from(s: SettingsInput) -> Self {
        let d = CampaignSettings::default();
        Self {
            call_delay: s.call_delay.unwrap_or(d.call_delay),
            max_concurrent_calls: s.max_concurrent_calls.unwrap_or(d.max_concurrent_calls),
            retry_count: s.retry_count.unwrap_or(d.retry_count),
            retry_delay: s.retry_delay.unwrap_or(d.retry_delay),
            calling_window: s.calling_window.map(|w| CallingWindow {
                start: w.start,
                end: w.end,
                days: w.days,
                timezone: w.timezone,
            }),
            retry_on: s.retry_on.unwrap_or(d.retry_on),
            voicemail: s.voicemail.map(|v| VoicemailSettings {
                action: v.action,
                message: v.message,
            }),
            agent_id: s.agent_id,
        }
    }
}

/// `sheetInfo`: the spreadsheet a campaign imports from and writes results back to.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SheetInput {
    spreadsheet_id: String,
    sheet_name: Option<String>,
    phone_column: Option<String>,
    name_column: Option<String>,
    email_column: Option<String>,
    status_column: Option<String>,
    result_column: Option<String>,
    custom_message_column: Option<String>,
}

impl From<SheetInput> for SheetInfo {
    fn from(s: SheetInput) -> Self {
        Self {
            spreadsheet_id: s.spreadsheet_id,
            sheet_name: s.sheet_name,
            phone_column: s.phone_column,
            name_column: s.name_column,
            email_column: s.email_column,
            status_column: s.status_column,
            result_column: s.result_column,
            custom_message_column: s.custom_message_column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_out_settings_take_the_stored_defaults() {
        let s: SettingsInput = serde_json::from_str("{}").expect("empty settings");
        assert_eq!(CampaignSettings::from(s), CampaignSettings::default());
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err =
            serde_json::from_str::<SettingsInput>(r#"{"callDelya": 1}"#).expect_err("misspelt key");
        assert!(err.to_string().contains("callDelya"), "{err}");
        let err = serde_json::from_str::<SettingsInput>(
            r#"{"callingWindow": {"start": "09:00", "end": "17:00", "timezone": "UTC", "tz": "x"}}"#,
        )
        .expect_err("unknown window key");
        assert!(err.to_string().contains("tz"), "{err}");
    }
}
