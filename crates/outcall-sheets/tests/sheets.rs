//! Runs the real `SheetsClient` against the Google Sheets simulator of
//! `outcall-sim` on loopback: the JWT-bearer token grant, reads, batch
//! updates, and Google's failures (bad key, 503, unknown sheet).

use std::time::Duration;

use outcall_sheets::{
    RetryPolicy, ServiceAccountKey, SheetsClient, SheetsError, Url, ValueRange, a1,
};
use outcall_sim::sheets::SheetsSim;

const BOOK: &str = "1sim-spreadsheet";

fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
    cells
        .iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

/// Retries quickly: these tests run on the real clock (a paused Tokio clock
/// would fire the HTTP timeouts while a request waits on the socket).
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

fn client_with_key(sim: &SheetsSim, key_json: &str) -> SheetsClient {
    let key = ServiceAccountKey::from_json(key_json).expect("the key JSON parses");
    let base = Url::parse(sim.base_url()).expect("sim base URL");
    SheetsClient::new(base, key)
        .expect("client")
        .with_retry_policy(fast_retry())
}

async fn sim_with_contacts() -> (SheetsSim, SheetsClient) {
    let sim = SheetsSim::start().await.expect("sim starts");
    sim.put_sheet(
        BOOK,
        "Contacts",
        rows(&[
            &["Name", "Phone", "Status"],
            &["Ada", "+15550001"],
            &[],
            &["Bob", "+15550002", "done"],
            &["", ""],
            &["Cy", "+15550003", "", "note"],
        ]),
    );
    sim.put_sheet(
        BOOK,
        "My Sheet",
        rows(&[&["a1", "b1"], &["a2", "b2", "c2"]]),
    );
    let client = client_with_key(&sim, &sim.service_account_json());
    (sim, client)
}

#[tokio::test]
async fn token_is_fetched_once_and_reused() {
    let (sim, client) = sim_with_contacts().await;
    assert_eq!(sim.tokens_issued(), 0, "no token before the first request");
    // Concurrent first requests share one token fetch.
    let reads = (0..8).map(|_| client.read_values(BOOK, "Contacts!A1:A1"));
    for read in futures::future::join_all(reads).await {
        assert_eq!(read.expect("read"), rows(&[&["Name"]]));
    }
    client
        .batch_update(
            BOOK,
            vec![ValueRange::new("Contacts!D1", rows(&[&["Note"]]))],
        )
        .await
        .expect("write");
    client
        .clone()
        .read_table(BOOK, "Contacts")
        .await
        .expect("read");
    assert_eq!(sim.tokens_issued(), 1);
    assert_eq!(sim.reads(), 9);
    assert!(
        !format!("{client:?}").contains("ya29."),
        "Debug hides the token"
    );
}

#[tokio::test]
async fn reads_a_table_and_ranges() {
    let (_sim, client) = sim_with_contacts().await;
    let table = client.read_table(BOOK, "Contacts").await.expect("table");
    assert_eq!(table.header, ["Name", "Phone", "Status"]);
    let numbers: Vec<u32> = table.rows.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [2, 4, 6], "blank rows 3 and 5 are skipped");
    assert_eq!(
        table.rows[0].1,
        ["Ada", "+15550001", ""],
        "padded to the header"
    );
    assert_eq!(
        table.rows[2].1,
        ["Cy", "+15550003", "", "note"],
        "never cut"
    );
    assert_eq!(table.get(&table.rows[1].1, "status"), Some("done"));

    let space = client
        .read_table(BOOK, "My Sheet")
        .await
        .expect("quoted name");
    assert_eq!(space.header, ["a1", "b1"]);

    for (range, want) in [
        (
            "Contacts!A1:B2",
            rows(&[&["Name", "Phone"], &["Ada", "+15550001"]]),
        ),
        ("'My Sheet'!B2", rows(&[&["b2"]])),
        ("Contacts!C4", rows(&[&["done"]])),
        (
            "Contacts!B:C",
            rows(&[
                &["Phone", "Status"],
                &["+15550001"],
                &[],
                &["+15550002", "done"],
                &[],
                &["+15550003"],
            ]),
        ),
        ("Contacts!A2:A3", rows(&[&["Ada"]])),
        ("Contacts!Z1:Z9", Vec::new()),
    ] {
        assert_eq!(
            client.read_values(BOOK, range).await.expect(range),
            want,
            "{range}"
        );
    }

    let first = client
        .read_range(BOOK, "A1:B1")
        .await
        .expect("no sheet named");
    assert_eq!(
        first.range, "Contacts!A1:B1",
        "the echo names the first sheet"
    );
    assert_eq!(first.values, rows(&[&["Name", "Phone"]]));
}

#[tokio::test]
async fn batch_update_is_visible_in_the_sim() {
    let (sim, client) = sim_with_contacts().await;
    let answer = client
        .batch_update(
            BOOK,
            vec![
                ValueRange::new(a1::cell("Contacts", 2, 2), rows(&[&["called"]])),
                ValueRange::new(
                    a1::cell_range("My Sheet", 1, 3, 2, 4),
                    rows(&[&["x", "y"], &["z"]]),
                ),
            ],
        )
        .await
        .expect("batch update");
    assert_eq!(answer.spreadsheet_id, BOOK);
    assert_eq!(answer.total_updated_cells, 4);
    assert_eq!(answer.total_updated_sheets, 2);
    assert_eq!(answer.responses[1].updated_range, "'My Sheet'!B3:C4");
    assert_eq!(sim.batch_updates(), 1);
    assert_eq!(
        sim.sheet(BOOK, "Contacts")[1],
        ["Ada", "+15550001", "called"]
    );
    assert_eq!(
        sim.sheet(BOOK, "My Sheet"),
        rows(&[
            &["a1", "b1"],
            &["a2", "b2", "c2"],
            &["", "x", "y"],
            &["", "z"]
        ])
    );

    // A write that overflows its bounded range is refused whole: the first
    // range of the batch is not applied either.
    let err = client
        .batch_update(
            BOOK,
            vec![
                ValueRange::new("Contacts!A2", rows(&[&["changed"]])),
                ValueRange::new("Contacts!A1:B1", rows(&[&["1", "2", "3"]])),
            ],
        )
        .await
        .expect_err("overflowing write");
    assert_eq!(err.http_status(), Some(400), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(sim.sheet(BOOK, "Contacts")[1][0], "Ada");
    assert_eq!(sim.batch_updates(), 1);
}

#[tokio::test]
async fn a_different_private_key_is_refused() {
    let (sim, _) = sim_with_contacts().await;
    let mut json: serde_json::Value =
        serde_json::from_str(&sim.service_account_json()).expect("sim key JSON");
    json["private_key"] = include_str!("other_key.pem").into();
    let client = client_with_key(&sim, &json.to_string());
    let err = client
        .read_values(BOOK, "Contacts")
        .await
        .expect_err("bad signature");
    match &err {
        SheetsError::Token {
            status,
            error,
            description,
        } => {
            assert_eq!((*status, error.as_str()), (400, "invalid_grant"));
            assert_eq!(description.as_deref(), Some("Invalid JWT Signature."));
        }
        other => panic!("expected a token refusal, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert_eq!(sim.tokens_issued(), 0);
}

#[tokio::test]
async fn retries_after_injected_503() {
    let (sim, client) = sim_with_contacts().await;
    sim.fail_next(2, 503);
    let values = client
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect("third try");
    assert_eq!(values, rows(&[&["Name"]]));

    sim.fail_next(1, 503);
    client
        .batch_update(
            BOOK,
            vec![ValueRange::new("Contacts!A1", rows(&[&["Who"]]))],
        )
        .await
        .expect("second try");
    assert_eq!(sim.batch_updates(), 1);

    let once = client.clone().with_retry_policy(RetryPolicy::no_retry());
    sim.fail_next(1, 503);
    let err = once
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect_err("503");
    assert_eq!(err.http_status(), Some(503));
    assert!(err.is_retryable(), "{err}");
    sim.fail_next(5, 429);
    let err = client
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect_err("all 3 tries see 429");
    assert_eq!(err.http_status(), Some(429), "{err}");
    assert_eq!(sim.tokens_issued(), 1);
}

#[tokio::test]
async fn unknown_sheet_and_spreadsheet_are_not_found() {
    let (sim, client) = sim_with_contacts().await;
    let err = client
        .read_table(BOOK, "Nope")
        .await
        .expect_err("no such sheet");
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_retryable());
    let err = client
        .read_values("no-such-book", "Contacts")
        .await
        .expect_err("no such spreadsheet");
    assert!(
        err.is_not_found() && err.http_status() == Some(404),
        "{err}"
    );
    let err = client
        .batch_update(BOOK, vec![ValueRange::new("Nope!A1", rows(&[&["x"]]))])
        .await
        .expect_err("no such sheet");
    assert!(err.is_not_found(), "{err}");
    assert_eq!(sim.batch_updates(), 0);
}

#[tokio::test]
async fn refreshes_expiring_and_revoked_tokens() {
    let (sim, client) = sim_with_contacts().await;
    // A 2 s token is refreshed at half-life.
    sim.set_token_lifetime(Duration::from_secs(2));
    client
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect("first");
    client
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect("cached");
    assert_eq!(sim.tokens_issued(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect("refreshed");
    assert_eq!(sim.tokens_issued(), 2);

    // A token revoked before it expires: the 401 brings a new one.
    sim.set_token_lifetime(Duration::from_secs(3599));
    sim.revoke_tokens();
    client
        .read_values(BOOK, "Contacts!A1")
        .await
        .expect("after revocation");
    assert_eq!(sim.tokens_issued(), 3);
}

#[tokio::test]
async fn key_file_is_read_from_disk() {
    let (sim, _) = sim_with_contacts().await;
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("outcall-sheets-sim-key.json");
    std::fs::write(&path, sim.service_account_json()).expect("write key file");
    let key = ServiceAccountKey::from_file(&path).expect("key file parses");
    assert_eq!(key.client_email(), sim.client_email());
    assert_eq!(key.token_uri().as_str(), sim.token_uri());
    assert!(
        !format!("{key:?}").contains("PRIVATE KEY"),
        "Debug hides the key"
    );
    let client = SheetsClient::new(Url::parse(sim.base_url()).expect("url"), key).expect("client");
    assert_eq!(
        client
            .read_values(BOOK, "'My Sheet'!A1")
            .await
            .expect("read"),
        rows(&[&["a1"]])
    );
}
