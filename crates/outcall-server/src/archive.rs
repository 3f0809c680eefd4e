//! `outcall archive --before DAY`: moves old calls out of the database into a file,
//! keeping their daily rollups (`callstats`) so analytics over those days still answer.
//!
//! The order makes every step safe to interrupt and repeat:
//! 1. write every call created before DAY, with its events, recordings and transcript,
//!    to gzip-compressed JSON Lines (one call per line), and flush it to disk;
//! 2. read the file back and check it holds exactly the calls written;
//! 3. seal each day's rollup (computed while all of the day's calls are still stored;
//!    a day sealed by an earlier, interrupted run keeps its rollup);
//! 4. only then delete the calls and their records.
//!
//! A run that stops in step 4 leaves some calls behind; the next run archives those
//! into its own file. Keep every archive file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{NaiveDate, TimeDelta};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use outcall_domain::callstats::DailyCallStats;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::{Call, Page};
use outcall_store::{CallFilter, EventFilter, RecordingFilter, Store};
use serde_json::json;

use crate::config::StoreConfig;

#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// Archive the calls created before this UTC day (YYYY-MM-DD). It must be before
    /// today: today's calls may still be live.
    #[arg(long, value_name = "DAY")]
    pub before: NaiveDate,

    /// The file to write: gzip-compressed JSON Lines, one call per line with its events,
    /// recordings and transcript. Default: `outcall-archive-before-DAY.jsonl.gz`. An
    /// existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Write and verify the file, seal nothing and delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub store: StoreConfig,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ArchiveReport {
    pub file: Option<PathBuf>,
    pub calls: u64,
    pub events: u64,
    pub recordings: u64,
    pub transcripts: u64,
    /// Days whose rollup this run sealed.
    pub days_sealed: u64,
    /// Days already sealed by an earlier run (their rollup stands).
    pub days_kept: u64,
    pub deleted: u64,
    pub bytes: u64,
}

/// `outcall archive`: opens the store and archives.
pub async fn run(args: ArchiveArgs) -> anyhow::Result<()> {
    let today = outcall_domain::time::now().date_naive();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("outcall-archive-before-{}.jsonl.gz", args.before))
    });
    check_request(args.before, &out, today)?;
    let store = crate::store::open(&args.store).await?;
    let report = archive(store, args.before, &out, today, args.dry_run).await?;
    println!("{}", summary(&report, args.before, args.dry_run));
    Ok(())
}

/// Refuses what cannot be right, before anything is touched.
pub fn check_request(before: NaiveDate, out: &Path, today: NaiveDate) -> anyhow::Result<()> {
    if before > today {
        bail!("--before {before} is after today ({today}); archive only days that are over");
    }
    if before == today {
        bail!(
            "--before {before} is today: today's calls may still be live; use {} or earlier",
            today - TimeDelta::days(1)
        );
    }
    if out.exists() {
        bail!(
            "{} already exists; archives are never overwritten: choose another --out",
            out.display()
        );
    }
    Ok(())
}

/// Archives every call created before `before` into `out` (see the module doc).
/// `today` is the caller's clock, so tests can run on calls created "today".
pub async fn archive(
    store: Arc<dyn Store>,
    before: NaiveDate,
    out: &Path,
    today: NaiveDate,
    dry_run: bool,
) -> anyhow::Result<ArchiveReport> {
    check_request(before, out, today)?;
    let cutoff = before
        .and_hms_opt(0, 0, 0)
        .context("BUG: midnight exists")?
        .and_utc();
    let mut report = ArchiveReport::default();
    let mut days: BTreeMap<NaiveDate, DailyCallStats> = BTreeMap::new();
    let mut written: Vec<String> = Vec::new();

    // 1. Write. Nothing is deleted yet, so paging by offset is stable.
    let filter = CallFilter {
        end_date: Some(cutoff),
        ..Default::default()
    };
    let first = list(&store, &filter, 1).await?;
    if first.total == 0 {
        return Ok(report);
    }
    let partial = partial_path(out);
    let file = std::fs::File::create_new(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut gz = GzEncoder::new(BufWriter::new(file), Compression::default());
    let pages = first.pages();
    let mut page = first;
    for n in 1..=pages {
        if n > 1 {
            page = list(&store, &filter, n).await?;
        }
        for call in &page.items {
            let line = full_record(&store, call, &mut report).await?;
            serde_json::to_writer(&mut gz, &line)?;
            gz.write_all(b"\n")?;
            days.entry(call.created_at.date_naive())
                .or_insert_with(|| DailyCallStats::empty(call.created_at.date_naive()))
                .add(call);
            written.push(call.call_sid.clone());
            if written.len().is_multiple_of(1000) {
                eprintln!("archive: written {} of {} calls", written.len(), page.total);
            }
        }
    }
    let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move {} to {}", partial.display(), out.display()))?;
    report.file = Some(out.to_path_buf());
    report.calls = written.len() as u64;
    report.bytes = std::fs::metadata(out)?.len();

    // 2. Verify.
    verify(out, &written).with_context(|| {
        format!(
            "{} did not read back as written; nothing was deleted",
            out.display()
        )
    })?;
    eprintln!(
        "archive: {} verified ({} calls, {} bytes)",
        out.display(),
        report.calls,
        report.bytes
    );
    if dry_run {
        return Ok(report);
    }

    // 3. Seal the days' rollups before any of their calls goes.
    for (_, mut stats) in days {
        stats.sealed = true;
        let (_, wrote) = store.put_daily_stats(stats).await?;
        if wrote {
            report.days_sealed += 1;
        } else {
            report.days_kept += 1;
        }
    }

    // 4. Delete.
    for (i, sid) in written.iter().enumerate() {
        if store.delete_call_records(sid).await? {
            report.deleted += 1;
        }
        if (i + 1).is_multiple_of(1000) {
            eprintln!("archive: deleted {} of {} calls", i + 1, written.len());
        }
    }
    Ok(report)
}

/// Recomputes the (unsealed) rollups of the `days` days before `today` from the stored
/// calls. Sealed days are left alone by the store.
pub async fn roll_up_recent_days(
    store: &Arc<dyn Store>,
    today: NaiveDate,
    days: i64,
) -> anyhow::Result<u64> {
    let mut written = 0;
    for back in 1..=days {
        let day = today - TimeDelta::days(back);
        let start = day
            .and_hms_opt(0, 0, 0)
            .context("BUG: midnight exists")?
            .and_utc();
        let filter = CallFilter {
            start_date: Some(start),
            end_date: Some(start + TimeDelta::days(1)),
            ..Default::default()
        };
        let mut stats = DailyCallStats::empty(day);
        let first = list(store, &filter, 1).await?;
        if first.total == 0 {
            continue;
        }
        let pages = first.pages();
        let mut page = first;
        for n in 1..=pages {
            if n > 1 {
                page = list(store, &filter, n).await?;
            }
            page.items.iter().for_each(|c| stats.add(c));
        }
        if store.put_daily_stats(stats).await?.1 {
            written += 1;
        }
    }
    Ok(written)
}

const PAGE: i64 = 100;

async fn list(store: &Arc<dyn Store>, filter: &CallFilter, n: u64) -> anyhow::Result<Page<Call>> {
    let page = PageRequest::new(Some(n as i64), Some(PAGE), Sort::asc("createdAt"))
        .map_err(|e| anyhow::anyhow!("BUG: archive page: {e}"))?;
    Ok(store.list_calls(filter, &page).await?)
}

/// One archive line: the call with everything stored for it.
async fn full_record(
    store: &Arc<dyn Store>,
    call: &Call,
    report: &mut ArchiveReport,
) -> anyhow::Result<serde_json::Value> {
    let mut events = Vec::new();
    let mut n = 1;
    loop {
        let page = PageRequest::new(Some(n), Some(PAGE), Sort::asc("timestamp"))
            .map_err(|e| anyhow::anyhow!("BUG: archive page: {e}"))?;
        let got = store
            .list_events(&call.call_sid, &EventFilter::default(), &page)
            .await?;
        let last = got.pages() <= n as u64;
        events.extend(got.items);
        if last {
            break;
        }
        n += 1;
    }
    let by_call = RecordingFilter {
        call_sid: Some(call.call_sid.clone()),
        ..Default::default()
    };
    let page = PageRequest::new(Some(1), Some(PAGE), Sort::asc("createdAt"))
        .map_err(|e| anyhow::anyhow!("BUG: archive page: {e}"))?;
    let recordings = store.list_recordings(&by_call, &page).await?.items;
    let transcript = store.get_transcript(&call.call_sid).await?;
    report.events += events.len() as u64;
    report.recordings += recordings.len() as u64;
    report.transcripts += u64::from(transcript.is_some());
    Ok(json!({
        "call": call,
        "events": events,
        "recordings": recordings,
        "transcript": transcript,
    }))
}

/// Reads the archive back: every line parses and the calls are exactly those written.
fn verify(path: &Path, written: &[String]) -> anyhow::Result<()> {
    let reader = BufReader::new(GzDecoder::new(std::fs::File::open(path)?));
    let mut n = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("line {}", i + 1))?;
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("line {} is not JSON", i + 1))?;
        let sid = value["call"]["callSid"].as_str().unwrap_or_default();
        if written.get(i).map(String::as_str) != Some(sid) {
            bail!(
                "line {} holds call {sid:?}, expected {:?}",
                i + 1,
                written.get(i)
            );
        }
        n += 1;
    }
    if n != written.len() {
        bail!("{n} lines for {} calls", written.len());
    }
    Ok(())
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn summary(r: &ArchiveReport, before: NaiveDate, dry_run: bool) -> String {
    let Some(file) = &r.file else {
        return format!("no calls created before {before}: nothing to archive");
    };
    let what = format!(
        "{} calls ({} events, {} recordings, {} transcripts) created before {before} written to {} ({} bytes, verified)",
        r.calls,
        r.events,
        r.recordings,
        r.transcripts,
        file.display(),
        r.bytes
    );
    if dry_run {
        return format!("{what}; dry run: nothing sealed or deleted");
    }
    format!(
        "{what}; {} daily rollups sealed ({} kept from an earlier run); {} calls deleted",
        r.days_sealed, r.days_kept, r.deleted
    )
}
