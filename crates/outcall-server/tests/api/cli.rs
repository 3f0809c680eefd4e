//! The CLI works on the database a running server uses: it reads the same
//! configuration (`.env`, environment, flags, with the flags before or after the
//! subcommand's words), `--demo` means the demo's database, and its errors are one
//! plain line naming the database it looked in.

use std::path::Path;
use std::process::{Command, Output};

use outcall_domain::ObjectId;
use serde_json::json;

use crate::support::{TestServer, sqlite_path};

/// Runs `outcall` in `dir` with no database settings from the test's environment.
fn outcall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outcall"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("MONGODB_URI")
        .env_remove("MONGODB_DB")
        .env_remove("LOG_FORMAT")
        .output()
        .expect("run outcall")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// A file imported with the `DATABASE_URL` of a `.env` (as `outcall serve` reads it)
/// is what the running server's API lists, in the campaign given after the file.
#[tokio::test]
async fn contacts_imported_by_the_cli_are_listed_by_the_running_server() {
    let data = tempfile::tempdir().expect("tempdir");
    let db = sqlite_path(&data);
    let s = TestServer::start_in(data, &[]).await;
    let created = s
        .post("/api/db/campaigns", json!({"name": "Spring reminders"}))
        .await;
    let campaign = created.data()["_id"].as_str().expect("_id").to_string();

    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join(".env"),
        format!("DATABASE_URL=sqlite://{}\n", db.display()),
    )
    .expect("write .env");
    std::fs::write(
        work.path().join("leads.csv"),
        "phone,name\n+14155552671,Ada\n+14155552672,Grace\n",
    )
    .expect("write csv");
    let out = outcall(
        work.path(),
        &["contacts", "import", "leads.csv", "--campaign", &campaign],
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said} {}", text(&out.stderr));
    assert!(said.contains("2 created"), "{said}");
    assert!(
        said.contains(&format!("database: SQLite {}", db.display())),
        "the import names where it wrote: {said}"
    );

    let listed = s.get("/api/db/contacts?sort=name").await;
    assert_eq!(listed.column("name"), ["Ada", "Grace"], "{listed:?}");
    let enrolled = s
        .get(&format!("/api/db/campaigns/{campaign}/contacts"))
        .await;
    assert_eq!(enrolled.items().len(), 2, "{enrolled:?}");

    // The database flag before the subcommand's words, as after them.
    let url = format!("--database-url=sqlite://{}", db.display());
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = outcall(elsewhere.path(), &["campaign", &url, "start", &campaign]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("is now active"));
    let out = outcall(elsewhere.path(), &["campaign", "pause", &campaign, &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("is now paused"));
    let stats = s.get(&format!("/api/db/campaigns/{campaign}/stats")).await;
    assert_eq!(stats.data()["status"], json!("paused"), "{stats:?}");
}

/// An error is one plain line (no timestamp, no colours: stderr is a pipe here) that
/// names the database; `--demo` means the demo's, whatever `DATABASE_URL` says.
#[tokio::test]
async fn cli_errors_are_one_plain_line_naming_the_database() {
    let work = tempfile::tempdir().expect("tempdir");
    let missing = ObjectId::new().to_hex();
    let out = Command::new(env!("CARGO_BIN_EXE_outcall"))
        .args(["campaign", "pause", &missing, "--demo"])
        .current_dir(work.path())
        .env("DATABASE_URL", "sqlite://./data/elsewhere.db")
        .env_remove("MONGODB_URI")
        .env_remove("LOG_FORMAT")
        .output()
        .expect("run outcall");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let demo_db = std::path::absolute(work.path().join("data/demo.db")).expect("absolute");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&format!("no campaign with id {missing}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("SQLite {}", demo_db.display())),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "no colour codes: {err:?}");

    // An id that is not one, with the flag before the subcommand's words: named too.
    let url = format!("--database-url=sqlite://{}/cli.db", work.path().display());
    let out = outcall(work.path(), &["campaign", &url, "stop", "nope"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not a campaign id"), "{err}");
    assert!(
        err.contains(&format!("{}/cli.db", work.path().display())),
        "{err}"
    );
}
