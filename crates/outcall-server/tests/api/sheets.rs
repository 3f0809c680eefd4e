//! Google Sheets against the Sheets simulator over HTTP: a campaign imports its
//! contacts from a sheet (counts, sheet row numbers, custom fields, all or nothing),
//! calls' results appear in the sheet's status and result columns as a campaign runs
//! (through 429s from Google), the sync route writes every row on demand, and without
//! a service account key the routes say how to configure one.

use std::time::Duration;

use outcall_sim::sheets::SheetsSim;
use outcall_sim::twilio::{Scenario, ScenarioBook, TwilioSim};
use serde_json::{Value, json};

use crate::support::TestServer;

const BOOK: &str = "1LeadsBook";

fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
    cells
        .iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

struct Setup {
    server: TestServer,
    sheets: SheetsSim,
    _twilio: Option<TwilioSim>,
    _key_dir: tempfile::TempDir,
}

/// A server whose service account key points at a fresh Sheets simulator, with the
/// Twilio simulator answering by `book` when given.
async fn start(book: Option<ScenarioBook>) -> Setup {
    let sheets = SheetsSim::start()
        .await
        .expect("start the Sheets simulator");
    let key_dir = tempfile::tempdir().expect("tempdir");
    let key = key_dir.path().join("service-account.json");
    std::fs::write(&key, sheets.service_account_json()).expect("write the key");
    let mut flags = vec![
        format!("--google-service-account-key={}", key.display()),
        format!("--google-sheets-api-base={}", sheets.base_url()),
    ];
    let twilio = match book {
        None => None,
        Some(book) => {
            let (sim, twilio_flags) = crate::campaigns::fast_twilio(book).await;
            flags.extend(twilio_flags);
            Some(sim)
        }
    };
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Setup {
        server: TestServer::start_with(&flags).await,
        sheets,
        _twilio: twilio,
        _key_dir: key_dir,
    }
}

async fn new_campaign(s: &TestServer, settings: Value) -> String {
    let answer = s
        .post(
            "/api/db/campaigns",
            json!({"name": "Solar leads", "settings": settings}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    answer.data()["_id"].as_str().expect("_id").to_string()
}

fn import_path(campaign: &str) -> String {
    format!("/api/db/campaigns/{campaign}/contacts/import")
}

/// The cells of column `name` (by header) of the sheet, row by row from row 2.
fn column(sheet: &[Vec<String>], name: &str) -> Vec<String> {
    let at = sheet[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name:?} in {:?}", sheet[0]));
    sheet[1..]
        .iter()
        .map(|r| r.get(at).cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_sheet_imports_into_a_campaign_with_sheet_row_numbers_and_custom_fields() {
    let setup = start(None).await;
    let (s, sheets) = (&setup.server, &setup.sheets);
    sheets.put_sheet(
        BOOK,
        "Leads",
        rows(&[
            &["Name", "Mobile", "E-mail", "Company", "Status"],
            &[
                "Ada",
                "(415) 555-0101",
                "ada@example.com",
                "Engines",
                "done",
            ],
            &["Bob", "not a number", "", "Bob's"],
            &[],
            &["Cy", "+1 415 555 0101"],
            &["Di", "+14155550102", "di@example.com", "", "", "a note"],
        ]),
    );
    let campaign = new_campaign(s, json!({})).await;
    let answer = s
        .post(
            &import_path(&campaign),
            json!({
                "spreadsheetId": format!("https://docs.google.com/spreadsheets/d/{BOOK}/edit#gid=0"),
                "sheetName": "Leads",
                "phoneColumn": "mobile",
                "emailColumn": "E-mail",
                "statusColumn": "Status",
                "resultColumn": "Call result",
            }),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{answer:?}");
    let report = answer.data();
    assert_eq!(
        (
            &report["created"],
            &report["updated"],
            &report["duplicates"],
            &report["invalid"],
            &report["total"]
        ),
        (&json!(2), &json!(0), &json!(1), &json!(1), &json!(4)),
        "{report}"
    );
    let errors = report["errors"].as_array().expect("errors");
    let error_rows: Vec<&Value> = errors.iter().map(|e| &e["row"]).collect();
    assert_eq!(
        error_rows,
        [&json!(3), &json!(5)],
        "sheet row numbers: {report}"
    );
    assert!(
        errors[1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("row 2")),
        "the duplicate names the row it repeats: {report}"
    );
    assert_eq!(report["addedColumns"], json!(["Call result"]));
    assert_eq!(
        sheets.sheet(BOOK, "Leads")[0],
        [
            "Name",
            "Mobile",
            "E-mail",
            "Company",
            "Status",
            "Call result"
        ],
        "the missing result column was added to the header"
    );

    let ada = s.get("/api/db/contacts/phone/%2B14155550101").await;
    let ada = ada.data();
    assert_eq!(ada["name"], "Ada");
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["customFields"], json!({"Company": "Engines"}));
    assert_eq!(
        ada["status"], "active",
        "the status column is outcall's to write, not the contact's status"
    );
    assert_eq!(
        ada["sheetInfo"],
        json!({"spreadsheetId": BOOK, "sheetName": "Leads", "rowIndex": 2})
    );
    let di = s.get("/api/db/contacts/phone/%2B14155550102").await;
    assert_eq!(di.data()["sheetInfo"]["rowIndex"], 6);
    assert_eq!(
        di.data()["customFields"],
        json!({}),
        "a cell right of the header is not data"
    );

    let stored = s.get(&format!("/api/db/campaigns/{campaign}")).await;
    assert_eq!(
        stored.data()["sheetInfo"],
        json!({"spreadsheetId": BOOK, "sheetName": "Leads", "phoneColumn": "mobile",
            "emailColumn": "E-mail", "statusColumn": "Status", "resultColumn": "Call result"})
    );
    assert_eq!(stored.data()["stats"]["totalContacts"], 2);
    assert_eq!(
        s.total(&format!("/api/db/campaigns/{campaign}/contacts"))
            .await,
        2
    );
}

#[tokio::test]
async fn a_sheet_that_cannot_be_read_or_used_imports_nothing() {
    let setup = start(None).await;
    let (s, sheets) = (&setup.server, &setup.sheets);
    sheets.put_sheet(
        BOOK,
        "Leads",
        rows(&[&["Name", "Phone"], &["Ada", "+14155550101"]]),
    );
    sheets.put_sheet(
        BOOK,
        "No phones",
        rows(&[&["Name", "City"], &["Ada", "London"]]),
    );
    let campaign = new_campaign(s, json!({})).await;
    let cases = [
        (
            json!({"spreadsheetId": BOOK, "sheetName": "Missing"}),
            "not found",
        ),
        (
            json!({"spreadsheetId": "1Unknown", "sheetName": "Leads"}),
            "not found",
        ),
        (
            json!({"spreadsheetId": BOOK, "sheetName": "No phones"}),
            "phone",
        ),
        (
            json!({"spreadsheetId": BOOK, "sheetName": "Leads", "nameColumn": "Full name"}),
            "Full name",
        ),
        (
            json!({"spreadsheetId": BOOK, "sheetName": "Leads", "statusColumn": "Phone"}),
            "statusColumn",
        ),
        (
            json!({"spreadsheetId": " ", "sheetName": "Leads"}),
            "spreadsheetId",
        ),
        (
            json!({"spreadsheetId": BOOK, "sheetNmae": "Leads"}),
            "sheetNmae",
        ),
    ];
    for (body, says) in cases {
        let answer = s.post(&import_path(&campaign), body.clone()).await;
        answer.assert_error(400, "validation_error");
        assert!(answer.message().contains(says), "{body}: {answer:?}");
    }
    assert_eq!(s.total("/api/db/contacts").await, 0, "no contact written");
    let stored = s.get(&format!("/api/db/campaigns/{campaign}")).await;
    assert_eq!(
        stored.data().get("sheetInfo"),
        None,
        "the campaign is unchanged"
    );
    assert_eq!(sheets.batch_updates(), 0, "nothing written to the sheet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_results_are_written_to_the_sheet_as_calls_end_through_429s() {
    let numbers = [
        "+14155550101",
        "+14155550102",
        "+14155550103",
        "+14155550104",
    ];
    let book = ScenarioBook::all(Scenario::CalleeHangsUp)
        .with(numbers[1], Scenario::Busy)
        .with(numbers[2], Scenario::NoAnswer);
    let setup = start(Some(book)).await;
    let (s, sheets) = (&setup.server, &setup.sheets);
    sheets.put_sheet(
        BOOK,
        "Leads",
        rows(&[
            &["Name", "Phone", "Call status", "Result"],
            &["Ada", numbers[0]],
            &["Bob", numbers[1]],
            &["Cy", numbers[2]],
            &["Di", numbers[3], "", "", "do not call"],
        ]),
    );
    let campaign = new_campaign(s, json!({"callDelay": 0, "maxConcurrentCalls": 4})).await;
    let imported = s
        .post(
            &import_path(&campaign),
            json!({"spreadsheetId": BOOK, "sheetName": "Leads",
                "statusColumn": "Call status", "resultColumn": "Result"}),
        )
        .await;
    assert_eq!(imported.data()["created"], 4, "{imported:?}");
    // Di is do-not-call: the engine skips her, which is a result too.
    let di = s.get("/api/db/contacts/phone/%2B14155550104").await;
    let di_id = di.data()["_id"].as_str().expect("id").to_string();
    let dnc = s
        .put(
            &format!("/api/db/contacts/{di_id}"),
            json!({"status": "do-not-call"}),
        )
        .await;
    assert_eq!(dnc.status.as_u16(), 200, "{dnc:?}");

    // Google refuses the first requests of the write-back: it must retry them.
    sheets.fail_next(2, 429);
    let started = s
        .post(&format!("/api/db/campaigns/{campaign}/start"), json!({}))
        .await;
    assert_eq!(started.status.as_u16(), 200, "{started:?}");

    let want = [
        ("completed", "held"),
        ("failed", "busy"),
        ("failed", "no-answer"),
        ("skipped", "do-not-call"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sheet = sheets.sheet(BOOK, "Leads");
        let got: Vec<(String, String)> = column(&sheet, "Call status")
            .into_iter()
            .zip(column(&sheet, "Result"))
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect();
        if got == want {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let ccs = s
                .get(&format!("/api/db/campaigns/{campaign}/contacts"))
                .await;
            panic!("the sheet never showed the results: {sheet:?}; campaign contacts: {ccs:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sheet = sheets.sheet(BOOK, "Leads");
    assert_eq!(
        column(&sheet, "Name"),
        ["Ada", "Bob", "Cy", "Di"],
        "other cells stay"
    );
    assert_eq!(sheet[4][4], "do not call", "cells right of the header stay");
    assert!(
        sheets.batch_updates() <= 6,
        "results are batched, not one request per contact: {} batch updates",
        sheets.batch_updates()
    );
}

#[tokio::test]
async fn sync_writes_every_contact_to_its_row_now() {
    let setup = start(None).await;
    let (s, sheets) = (&setup.server, &setup.sheets);
    let header: &[&str] = &["Phone", "Name", "Status"];
    sheets.put_sheet(
        BOOK,
        "Leads",
        rows(&[header, &["+14155550101", "Ada"], &["+14155550102", "Bob"]]),
    );
    let campaign = new_campaign(s, json!({})).await;
    let imported = s
        .post(
            &import_path(&campaign),
            json!({"spreadsheetId": BOOK, "sheetName": "Leads", "statusColumn": "Status"}),
        )
        .await;
    assert_eq!(imported.data()["created"], 2, "{imported:?}");
    // A contact added to the campaign by hand is in no row.
    let other = s
        .post("/api/db/contacts", json!({"phoneNumber": "+14155550199"}))
        .await;
    let other_id = other.data()["_id"].as_str().expect("id").to_string();
    let added = s
        .post(
            &format!("/api/db/campaigns/{campaign}/contacts"),
            json!({"contactIds": [other_id]}),
        )
        .await;
    assert_eq!(added.status.as_u16(), 200, "{added:?}");
    // Someone sorted the sheet since the import: rows are found by number.
    sheets.put_sheet(
        BOOK,
        "Leads",
        rows(&[
            header,
            &["(415) 555-0102", "Bob"],
            &["+14155550101", "Ada", "old"],
        ]),
    );

    sheets.fail_next(1, 500);
    let writes_before = sheets.batch_updates();
    let sync = s
        .post(
            &format!("/api/db/campaigns/{campaign}/sheets/sync"),
            json!({}),
        )
        .await;
    assert_eq!(sync.status.as_u16(), 200, "{sync:?}");
    assert_eq!(
        sync.data(),
        &json!({"contacts": 3, "rowsWritten": 2, "notInSheet": 1})
    );
    assert_eq!(
        sheets.batch_updates() - writes_before,
        1,
        "both rows written in one batchUpdate"
    );
    assert_eq!(
        sheets.sheet(BOOK, "Leads"),
        rows(&[
            header,
            &["(415) 555-0102", "Bob", "pending"],
            &["+14155550101", "Ada", "pending"]
        ])
    );

    let unknown = s
        .post(
            "/api/db/campaigns/0123456789abcdef01234567/sheets/sync",
            json!({}),
        )
        .await;
    unknown.assert_error(404, "not_found");
    let plain = new_campaign(s, json!({})).await;
    let no_sheet = s
        .post(&format!("/api/db/campaigns/{plain}/sheets/sync"), json!({}))
        .await;
    no_sheet.assert_error(409, "conflict");
    assert!(no_sheet.message().contains("sheetInfo"), "{no_sheet:?}");
}

#[tokio::test]
async fn without_a_service_account_key_sheets_routes_say_how_to_configure_one() {
    let s = TestServer::start().await;
    let campaign = new_campaign(&s, json!({})).await;
    let answer = s
        .post(
            &import_path(&campaign),
            json!({"spreadsheetId": BOOK, "sheetName": "Leads"}),
        )
        .await;
    answer.assert_error(503, "unavailable");
    assert!(
        answer.message().contains("GOOGLE_SERVICE_ACCOUNT_KEY"),
        "{answer:?}"
    );
    let set = s
        .put(
            &format!("/api/db/campaigns/{campaign}"),
            json!({"sheetInfo": {"spreadsheetId": BOOK, "statusColumn": "Status"}}),
        )
        .await;
    assert_eq!(set.status.as_u16(), 200, "{set:?}");
    let sync = s
        .post(
            &format!("/api/db/campaigns/{campaign}/sheets/sync"),
            json!({}),
        )
        .await;
    sync.assert_error(503, "unavailable");
    assert!(
        sync.message().contains("GOOGLE_SERVICE_ACCOUNT_KEY"),
        "{sync:?}"
    );
    // A JSON import without a sheet still works without Google.
    let plain = s
        .post(
            &import_path(&campaign),
            json!([{"phoneNumber": "+14155550101"}]),
        )
        .await;
    assert_eq!(plain.data()["created"], 1, "{plain:?}");

    let settings = outcall_server::config::GoogleSettings {
        google_service_account_key: Some("/nonexistent/key.json".into()),
        google_sheets_api_base: "https://sheets.googleapis.com".into(),
    };
    let err = outcall_server::sheets::client_from_settings(&settings)
        .expect_err("a missing key file stops start-up")
        .to_string();
    assert!(
        err.starts_with("GOOGLE_SERVICE_ACCOUNT_KEY") && err.contains("/nonexistent/key.json"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}
