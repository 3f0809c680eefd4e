//! `outcall demo`: the real server with the Twilio and ElevenLabs simulators on
//! loopback, wired by configuration alone, placing a few calls a minute with a
//! realistic mix of callees (people who talk, voicemail, no answer, busy, failures,
//! people who hang up), so a newcomer sees calls, transcripts and events appear
//! without any account. With `--faults flaky|chaos` both simulators inject a
//! seeded fault profile and the demo also runs a small campaign with retries, so
//! the dashboard shows how outcall's retries and checks absorb the faults.

use std::time::Duration;

use clap::{Args, Parser};
use outcall_sim::elevenlabs::{ElevenLabsFaults, ElevenLabsSim, ElevenLabsSimConfig};
use outcall_sim::faults::Profile;
use outcall_sim::sheets::SheetsSim;
use outcall_sim::twilio::{
    MediaConfig, ScenarioBook, Timings, TwilioFaultRates, TwilioSim, TwilioSimConfig,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::config::ServerConfig;

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// The demo's own database, apart from the real one (the CLI's `--demo` flag).
    #[arg(long, default_value = DEMO_DATABASE_URL)]
    pub database_url: String,
    /// API key of the demo server.
    #[arg(long, default_value = "demo")]
    pub api_key: String,
    /// Calls placed per minute.
    #[arg(long, default_value_t = 6)]
    pub calls_per_minute: u32,
    /// Seed of the callee mix (the same seed gives the same calls).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Fault profile of the simulated Twilio and ElevenLabs: none, flaky (occasional
    /// faults of every kind) or chaos (frequent ones). With faults the demo also runs
    /// a campaign.
    #[arg(long, default_value = "none")]
    pub faults: Profile,
    /// Seed of the fault profile's decisions.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
}

/// Where the demo keeps its data unless told otherwise; `outcall contacts … --demo`
/// and `outcall campaign … --demo` work on it.
pub const DEMO_DATABASE_URL: &str = "sqlite://./data/demo.db";

/// Parses server settings from flags, exactly as `outcall serve` would.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    config: ServerConfig,
}

const NAMES: [&str; 12] = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Radia",
    "Ken",
    "Barbara",
    "Tim",
    "Frances",
];

pub async fn run(
    args: DemoArgs,
    signals: impl futures::Stream<Item = ()> + Send + Unpin + 'static,
) -> anyhow::Result<()> {
    let twilio = TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(400),
            ring: Duration::from_secs(3),
            talk: Duration::from_secs(12),
            amd: Duration::from_secs(2),
        },
        calls_per_second: Some(1),
        scenarios: ScenarioBook::realistic(args.seed),
        media: MediaConfig {
            enabled: true,
            ..Default::default()
        },
        faults: TwilioFaultRates::for_profile(args.faults),
        fault_seed: args.fault_seed,
        ..Default::default()
    })
    .await?;
    let eleven = ElevenLabsSim::start(ElevenLabsSimConfig {
        faults: ElevenLabsFaults::for_profile(args.faults, args.fault_seed),
        ..Default::default()
    })
    .await?;
    let sheets = demo_sheet().await?;
    // The simulator's key: a test key of no value, written where the server reads it.
    let key_path = std::env::temp_dir().join(format!(
        "outcall-demo-sheets-key-{}.json",
        std::process::id()
    ));
    std::fs::write(&key_path, sheets.service_account_json())?;
    let flags = [
        "outcall".to_string(),
        format!("--host={}", args.host),
        format!("--port={}", args.port),
        format!("--database-url={}", args.database_url),
        format!("--api-key={}", args.api_key),
        format!("--twilio-account-sid={}", twilio.account_sid()),
        format!("--twilio-auth-token={}", twilio.auth_token()),
        "--twilio-from-number=+15005550006".to_string(),
        format!("--twilio-api-base={}", twilio.base_url()),
        format!("--elevenlabs-api-key={}", eleven.api_key()),
        format!("--elevenlabs-agent-id={}", eleven.agent_id()),
        format!("--elevenlabs-webhook-secret={}", eleven.webhook_secret()),
        format!("--elevenlabs-api-base={}", eleven.base_url()),
        format!("--google-service-account-key={}", key_path.display()),
        format!("--google-sheets-api-base={}", sheets.base_url()),
        // The demo's own database, never one given in the environment.
        "--mongodb-uri=".to_string(),
        // Demo calls last about 20 s: Ctrl-C lets them finish, not five minutes.
        format!("--shutdown-grace-secs={DEMO_GRACE_SECS}"),
    ];
    let config = Flags::try_parse_from(&flags)?.config;
    let database = crate::store::describe(&config.store);
    let database_url = args.database_url.clone();
    let key = args.api_key.clone();
    let per_minute = args.calls_per_minute.max(1);
    let seed = args.seed;
    let faults = args.faults;
    let fault_seed = args.fault_seed;
    let removed_key = key_path.clone();
    let served = crate::serve(config, signals, move |state| {
        // Read at start-up: the file is not needed any more.
        let _ = std::fs::remove_file(&removed_key);
        eleven.set_webhook_url(format!("{}/webhooks/elevenlabs", state.public_url));
        let base = state.public_url.to_string();
        println!();
        println!("  outcall demo is running at {base}");
        println!("  dashboard: open {base}/ and sign in with the API key below");
        println!(
            "  simulated Twilio at {} and ElevenLabs at {}",
            twilio.base_url(),
            eleven.base_url()
        );
        println!("  API key: {key}   (placing {per_minute} calls a minute)");
        println!("  database: {database}");
        if database_url == DEMO_DATABASE_URL {
            println!("  the CLI works on it with --demo: outcall contacts import leads.csv --demo");
        } else {
            println!("  the CLI works on it with --database-url={database_url}");
        }
        println!(
            "  Ctrl-C stops: live calls may finish for {DEMO_GRACE_SECS} s; Ctrl-C again ends them at once"
        );
        println!(
            "{}",
            crate::sim_cli::fault_banner(faults, fault_seed, twilio.base_url())
        );
        if faults != Profile::None {
            println!(
                "  campaign \"{FAULT_CAMPAIGN}\": {} contacts, retries on busy, no-answer and failed",
                FAULT_CONTACTS
            );
            tokio::spawn(fault_campaign(base.clone(), key.clone()));
        }
        println!();
        println!("  curl -s -H 'Authorization: Bearer {key}' '{base}/api/db/calls?limit=5'");
        println!();
        println!(
            "  simulated Google Sheets at {}: import its sheet into a campaign with",
            sheets.base_url()
        );
        println!(
            "  {{\"spreadsheetId\": \"{DEMO_SPREADSHEET}\", \"sheetName\": \"Leads\", \"statusColumn\": \"Call status\"}}"
        );
        println!();
        // The simulators live as long as the demo's tasks.
        tokio::spawn(place_calls(
            base,
            key,
            per_minute,
            seed,
            state.drain.clone(),
            (twilio, eleven, sheets),
        ));
    })
    .await;
    let _ = std::fs::remove_file(&key_path);
    served
}

/// The campaign `--faults` runs, and how many contacts it dials.
const FAULT_CAMPAIGN: &str = "Fault drill";
const FAULT_CONTACTS: usize = 20;

/// Creates and starts the fault drill: contacts imported as CSV into a campaign that
/// retries, so the dashboard shows retries and unconfirmed dials being checked.
async fn fault_campaign(base: String, key: String) {
    let client = reqwest::Client::new();
    let post = |path: String, body: reqwest::Body, content_type: &'static str| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let settings = json!({
        // Zero is zero in any unit: calls as fast as the account's pacing allows.
        "callDelay": 0, "retryDelay": 0, "maxConcurrentCalls": 3, "retryCount": 2,
        "retryOn": ["busy", "no-answer", "failed"],
    });
    let body = json!({"name": FAULT_CAMPAIGN, "prompt": "You are Sam from Acme Solar.", "settings": settings});
    let created = match post(
        "/api/db/campaigns".into(),
        body.to_string().into(),
        "application/json",
    )
    .await
    {
        Ok(res) if res.status().is_success() => res.json::<serde_json::Value>().await.ok(),
        Ok(res) => {
            tracing::warn!(status = %res.status(), "demo: the fault drill campaign was refused");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "demo: could not reach the server");
            None
        }
    };
    let Some(id) = created.and_then(|v| v["data"]["_id"].as_str().map(str::to_string)) else {
        return;
    };
    let mut csv = String::from("phone,name\n");
    for i in 0..FAULT_CONTACTS {
        let name = NAMES[i % NAMES.len()];
        // 555-01XX numbers are reserved for fiction.
        csv.push_str(&format!("+1415555{:04},{name}\n", 170 + i));
    }
    let steps = [
        (
            format!("/api/db/campaigns/{id}/contacts/import"),
            csv,
            "text/csv",
        ),
        (
            format!("/api/db/campaigns/{id}/start"),
            "{}".to_string(),
            "application/json",
        ),
    ];
    for (path, body, content_type) in steps {
        match post(path.clone(), body.into(), content_type).await {
            Ok(res) if res.status().is_success() => {}
            Ok(res) => {
                tracing::warn!(%path, status = %res.status(), "demo: fault drill step refused");
                return;
            }
            Err(e) => {
                tracing::warn!(%path, error = %e, "demo: could not reach the server");
                return;
            }
        }
    }
    tracing::info!(campaign = %id, "demo: fault drill campaign started");
}

/// The demo's spreadsheet in the Sheets simulator.
const DEMO_SPREADSHEET: &str = "demo-leads";

/// A Sheets simulator holding a small sheet of leads (numbers reserved for fiction).
async fn demo_sheet() -> std::io::Result<SheetsSim> {
    let sheets = SheetsSim::start().await?;
    let mut rows = vec![vec![
        "Name".to_string(),
        "Phone".to_string(),
        "Company".to_string(),
        "Call status".to_string(),
    ]];
    for (i, name) in NAMES.iter().enumerate() {
        rows.push(vec![
            (*name).to_string(),
            format!("+1415555{:04}", 150 + i),
            "Acme Solar prospect".to_string(),
            String::new(),
        ]);
    }
    sheets.put_sheet(DEMO_SPREADSHEET, "Leads", rows);
    Ok(sheets)
}

/// How long live demo calls may go on after Ctrl-C.
const DEMO_GRACE_SECS: u64 = 30;

/// Places a demo call every `60 / per_minute` seconds through the public API, until
/// the server shuts down.
async fn place_calls(
    base: String,
    key: String,
    per_minute: u32,
    seed: u64,
    drain: std::sync::Arc<crate::drain::Drain>,
    _sims: (TwilioSim, ElevenLabsSim, SheetsSim),
) {
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut every = tokio::time::interval(Duration::from_secs_f64(60.0 / per_minute as f64));
    loop {
        every.tick().await;
        if drain.is_draining() {
            // The simulators stay up (this task owns them) for the calls still live.
            std::future::pending::<()>().await;
        }
        // 555-01XX numbers are reserved for fiction.
        let to = format!("+1415555{:04}", 100 + rng.random_range(0..100));
        let name = NAMES.choose(&mut rng).copied().unwrap_or("Ada");
        let body = json!({
            "to": to,
            "contactName": name,
            "firstMessage": format!("Hi {name}, this is Sam from Acme Solar. Do you have a minute?"),
            "prompt": "You are Sam, a friendly solar sales agent. Be brief and polite.",
            "dynamicVariables": {"name": name},
        });
        match client
            .post(format!("{base}/api/outbound-call"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
        {
            Ok(res) if res.status().is_success() => {
                let sid = res
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["data"]["callSid"].as_str().map(str::to_string));
                tracing::info!(%to, %name, call_sid = sid.as_deref().unwrap_or("?"), "demo: placed a call");
            }
            Ok(res) => tracing::warn!(status = %res.status(), "demo: the call was refused"),
            Err(e) => tracing::warn!(error = %e, "demo: could not reach the server"),
        }
    }
}
