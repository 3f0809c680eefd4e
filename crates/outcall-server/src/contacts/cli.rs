//! `outcall contacts import FILE.csv [--campaign ID]`: the same import as the API's,
//! from a file, into the store that `outcall migrate` and `serve` open, with a progress
//! bar over the rows. A malformed file is refused whole (exit status 1, nothing
//! written); invalid rows are skipped and listed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use outcall_domain::ObjectId;
use outcall_domain::phone::Region;

use super::{ImportReport, import_contacts, parse_csv};
use crate::cli_store::CliStore;

#[derive(Debug, clap::Args)]
pub struct ContactsArgs {
    #[command(subcommand)]
    pub command: ContactsCommand,

    #[command(flatten)]
    pub store: CliStore,
}

#[derive(Debug, clap::Subcommand)]
pub enum ContactsCommand {
    /// Import contacts from a CSV file: a phone column is required; name, email,
    /// tags, notes, priority, status and timezone are recognised; every other column
    /// becomes a custom field. A number already stored updates that contact.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8; `,` or `;` separated; the first line names the columns).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,

    /// Also add every imported contact to this campaign (its 24-hex-digit id).
    #[arg(long, value_name = "ID")]
    pub campaign: Option<ObjectId>,

    /// Region for phone numbers written without a country code (ISO 3166 code).
    #[arg(long, env = "DEFAULT_REGION", default_value = "US")]
    pub default_region: String,
}

pub async fn run(args: ContactsArgs) -> anyhow::Result<()> {
    let store = &args.store;
    let result = match args.command {
        ContactsCommand::Import(args) => import(args, store).await,
    };
    store.name_in(result)
}

async fn import(args: ImportArgs, db: &CliStore) -> anyhow::Result<()> {
    let region =
        Region::parse(&args.default_region).map_err(|e| anyhow::anyhow!("DEFAULT_REGION: {e}"))?;
    let started = Instant::now();
    let path = args.file.clone();
    // Parsing is blocking file I/O and CPU work: off the async workers.
    let rows = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        parse_csv(file)
            .with_context(|| format!("{} is not a CSV file outcall can import", path.display()))
    })
    .await
    .context("the CSV reader stopped")??;
    let store = db.open().await?;

    let bar = ProgressBar::new(rows.len() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec}, {eta} left)")
    {
        bar.set_style(style);
    }
    let report = import_contacts(store.as_ref(), region, rows, args.campaign, &|done| {
        bar.set_position(done as u64)
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "{}",
        summary(&report, &args.file.display().to_string(), started.elapsed())
    );
    println!("database: {}", db.describe());
    Ok(())
}

/// Rows listed one by one at most; the counts cover the rest.
const LISTED: usize = 100;

fn summary(r: &ImportReport, file: &str, took: std::time::Duration) -> String {
    let mut out = format!(
        "{file}: {} rows in {:.1} s: {} created, {} updated, {} duplicates, {} invalid",
        r.total,
        took.as_secs_f64(),
        r.created,
        r.updated,
        r.duplicates,
        r.invalid
    );
    if let Some(n) = r.enrolled {
        out.push_str(&format!("; {n} newly in the campaign"));
    }
    for e in r.errors.iter().take(LISTED) {
        out.push_str(&format!("\n  row {}: {}", e.row, e.reason));
    }
    if r.errors.len() > LISTED {
        out.push_str(&format!("\n  … and {} more", r.errors.len() - LISTED));
    }
    for w in r.warnings.iter().take(LISTED) {
        out.push_str(&format!("\n  row {} (written): {}", w.row, w.reason));
    }
    if r.warnings.len() > LISTED {
        out.push_str(&format!(
            "\n  … and {} more warnings",
            r.warnings.len() - LISTED
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::RowError;

    #[test]
    fn the_summary_lists_skipped_rows_and_dropped_fields() {
        let r = ImportReport {
            created: 1,
            invalid: 1,
            total: 2,
            errors: vec![RowError {
                row: 3,
                reason: "bad number".into(),
            }],
            warnings: vec![RowError {
                row: 2,
                reason: "custom field call_sid dropped".into(),
            }],
            ..ImportReport::default()
        };
        let text = summary(&r, "leads.csv", std::time::Duration::from_millis(100));
        assert!(text.contains("row 3: bad number"), "{text}");
        assert!(
            text.contains("row 2 (written): custom field call_sid dropped"),
            "{text}"
        );
    }
}
