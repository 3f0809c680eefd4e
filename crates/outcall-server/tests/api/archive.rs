//! `outcall archive`: old calls leave the database for a verified file, and their days
//! keep a sealed rollup. Runs on a real SQLite store, with the caller's "today" moved
//! two days ahead so calls created now count as old.

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use chrono::TimeDelta;
use outcall_domain::call::CallStatus;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::{Call, CallEvent, Recording, Transcript};
use outcall_server::archive::{archive, check_request, roll_up_recent_days};
use outcall_store::{CallFilter, Store};
use outcall_store_sqlite::SqliteStore;

async fn store_in(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}/outcall.db", dir.path().display());
    Arc::new(SqliteStore::open(&url).await.expect("open sqlite"))
}

/// 12 calls: every third unanswered, the others completed with 10·n seconds; each with
/// two events, a recording and a transcript.
async fn seed(store: &Arc<dyn Store>) {
    for n in 0..12u32 {
        let sid = format!("CAarchive{n:02}");
        let mut call = Call::new(&sid, "+15005550006", "+14155552671");
        if n % 3 == 0 {
            call.status = CallStatus::NoAnswer;
        } else {
            call.status = CallStatus::Completed;
            call.duration = Some(i64::from(n) * 10);
            call.answered_by = Some("human".into());
        }
        store.insert_call(call).await.expect("call");
        for kind in ["initiated", "completed"] {
            store
                .insert_event(CallEvent::new(&sid, kind, Default::default()))
                .await
                .expect("event");
        }
        store
            .insert_recording(Recording::new(format!("RE{sid}"), &sid, "completed"))
            .await
            .expect("recording");
        store
            .insert_transcript(Transcript::new(&sid))
            .await
            .expect("transcript");
    }
}

async fn stored_calls(store: &Arc<dyn Store>) -> u64 {
    let page = PageRequest::new(Some(1), Some(1), Sort::desc("createdAt")).expect("page");
    store
        .list_calls(&CallFilter::default(), &page)
        .await
        .expect("list")
        .total
}

#[tokio::test]
async fn archive_writes_a_verified_file_seals_the_days_then_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir).await;
    seed(&store).await;
    let today = outcall_domain::time::now().date_naive();
    let (before, their_today) = (today + TimeDelta::days(1), today + TimeDelta::days(2));
    let out = dir.path().join("old.jsonl.gz");

    let report = archive(store.clone(), before, &out, their_today, false)
        .await
        .expect("archive");
    assert_eq!(
        (
            report.calls,
            report.events,
            report.recordings,
            report.transcripts
        ),
        (12, 24, 12, 12)
    );
    assert_eq!(
        (report.days_sealed, report.days_kept, report.deleted),
        (1, 0, 12)
    );

    // The file: one gzip'd JSON line per call, with everything stored for it.
    let lines: Vec<serde_json::Value> = BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&out).expect("file"),
    ))
    .lines()
    .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
    .collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[0]["call"]["callSid"], "CAarchive00", "oldest first");
    for line in &lines {
        let sid = line["call"]["callSid"].as_str().expect("callSid");
        assert_eq!(line["events"].as_array().map(Vec::len), Some(2), "{sid}");
        assert_eq!(line["recordings"][0]["recordingSid"], format!("RE{sid}"));
        assert_eq!(line["transcript"]["callSid"], sid);
    }
    assert!(!dir.path().join("old.jsonl.gz.partial").exists());

    // The database: no calls or records left; the day's rollup sealed with exact counts.
    assert_eq!(stored_calls(&store).await, 0);
    assert!(
        store
            .get_transcript("CAarchive05")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .get_recording("RECAarchive05")
            .await
            .expect("get")
            .is_none()
    );
    let rollup = store
        .get_daily_stats(today)
        .await
        .expect("get")
        .expect("rolled up");
    assert!(rollup.sealed);
    assert_eq!((rollup.calls, rollup.answered), (12, 8));
    // Answered: n = 1,2,4,5,7,8,10,11 → 10·(48) seconds.
    assert_eq!(rollup.total_duration, 480);
    assert_eq!(rollup.by_status.get("no-answer"), Some(&4));
    assert_eq!(rollup.by_answered_by.get("human"), Some(&8));

    // A daily recompute leaves the sealed rollup alone; a second archive finds nothing.
    roll_up_recent_days(&store, their_today, 3)
        .await
        .expect("rollups");
    assert_eq!(
        store
            .get_daily_stats(today)
            .await
            .expect("get")
            .map(|r| r.calls),
        Some(12)
    );
    let again = dir.path().join("again.jsonl.gz");
    let report = archive(store.clone(), before, &again, their_today, false)
        .await
        .expect("archive again");
    assert_eq!((report.file, report.calls), (None, 0));
    assert!(!again.exists(), "no empty archive files");
}

#[tokio::test]
async fn a_dry_run_writes_and_verifies_but_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir).await;
    seed(&store).await;
    let today = outcall_domain::time::now().date_naive();
    let out = dir.path().join("dry.jsonl.gz");
    let report = archive(
        store.clone(),
        today + TimeDelta::days(1),
        &out,
        today + TimeDelta::days(2),
        true,
    )
    .await
    .expect("dry run");
    assert_eq!(
        (report.calls, report.deleted, report.days_sealed),
        (12, 0, 0)
    );
    assert!(out.exists());
    assert_eq!(stored_calls(&store).await, 12);
    assert!(store.get_daily_stats(today).await.expect("get").is_none());
}

#[tokio::test]
async fn daily_rollups_count_recent_days_and_are_recomputed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(&dir).await;
    seed(&store).await;
    let today = outcall_domain::time::now().date_naive();
    let tomorrow = today + TimeDelta::days(1);
    assert_eq!(
        roll_up_recent_days(&store, tomorrow, 2)
            .await
            .expect("rollups"),
        1
    );
    let rollup = store
        .get_daily_stats(today)
        .await
        .expect("get")
        .expect("rolled up");
    assert_eq!(
        (rollup.calls, rollup.answered, rollup.sealed),
        (12, 8, false)
    );
    store
        .insert_call(Call::new("CAarchivelate", "+15005550006", "+14155552671"))
        .await
        .expect("call");
    roll_up_recent_days(&store, tomorrow, 2)
        .await
        .expect("rollups");
    assert_eq!(
        store
            .get_daily_stats(today)
            .await
            .expect("get")
            .map(|r| r.calls),
        Some(13)
    );
}

#[test]
fn archive_refuses_today_the_future_and_an_existing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let today = outcall_domain::time::now().date_naive();
    let fresh = dir.path().join("new.jsonl.gz");
    let err = check_request(today, &fresh, today).expect_err("today");
    assert!(err.to_string().contains("may still be live"), "{err}");
    let err = check_request(today + TimeDelta::days(3), &fresh, today).expect_err("future");
    assert!(err.to_string().contains("after today"), "{err}");
    let existing = dir.path().join("there.jsonl.gz");
    std::fs::write(&existing, b"keep me").expect("write");
    let err = check_request(today - TimeDelta::days(1), &existing, today).expect_err("exists");
    assert!(err.to_string().contains("never overwritten"), "{err}");
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
    check_request(today - TimeDelta::days(1), &fresh, today).expect("a past day and a new file");
}

#[test]
fn the_command_says_why_it_refuses_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let today = outcall_domain::time::now().date_naive();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_outcall"))
        .args(["archive", "--before", &today.to_string()])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/cli.db", dir.path().display()),
        )
        .current_dir(dir.path())
        .output()
        .expect("run outcall archive");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("may still be live"), "{stderr}");
    assert!(
        !dir.path().join("cli.db").exists(),
        "refused before touching the database"
    );
}
