//! `outcall mongo shard` refuses clearly where it cannot shard. Sharding itself needs a
//! mongos of a sharded cluster, which these machines cannot run; the command documents
//! it sends are pinned by unit tests in `outcall_store_mongo::sharding`.

use std::process::{Command, Output};

fn shard(envs: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_outcall"));
    command
        .args(["mongo", "shard"])
        .env_remove("MONGODB_URI")
        .env_remove("DATABASE_URL")
        .env("MONGODB_SERVER_SELECTION_TIMEOUT_MS", "3000")
        .current_dir(dir.path());
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run outcall mongo shard")
}

/// The lines of stderr that are errors (`error: …`, plain): the refusal is one of them,
/// alone.
fn error_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_server_that_is_not_a_mongos_is_refused_in_one_line() {
    let Some(uri) = std::env::var("OUTCALL_TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: OUTCALL_TEST_MONGODB_URI is not set");
        return;
    };
    let db = format!("shard_cli_{}", std::process::id());
    let output = shard(&[("MONGODB_URI", &uri), ("MONGODB_DB", &db)]);
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("sharding needs a mongos router of a sharded cluster"),
        "{errors:?}"
    );
    assert!(output.stdout.is_empty(), "nothing was sharded");
}

#[test]
fn sqlite_is_refused_in_one_line() {
    let output = shard(&[("DATABASE_URL", "sqlite://./never.db")]);
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("outcall mongo shard works on MongoDB"),
        "{errors:?}"
    );
}
