//! `outcall sim twilio|elevenlabs`: one simulator on its own, to point a separately
//! started `outcall serve` (or anything else) at. `--faults NAME` makes either
//! simulator inject a seeded fault profile (`outcall_sim::faults`).

use clap::{Args, Subcommand};
use outcall_sim::elevenlabs::{ElevenLabsFaults, ElevenLabsSim, ElevenLabsSimConfig};
use outcall_sim::faults::Profile;
use outcall_sim::twilio::{
    MediaConfig, ScenarioBook, TwilioFaultRates, TwilioSim, TwilioSimConfig,
};

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// Twilio's REST API for calls, signed callbacks and media streams.
    Twilio {
        #[arg(long, default_value = "127.0.0.1:4010")]
        listen: String,
        #[arg(long, default_value = "AC00000000000000000000000000000000")]
        account_sid: String,
        #[arg(long, default_value = "sim-auth-token")]
        auth_token: String,
        /// Calls accepted per second before 429 (Twilio's default is 1).
        #[arg(long, default_value_t = 1)]
        calls_per_second: u32,
        /// Seed of the realistic callee mix.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Fault profile: none, flaky (occasional faults of every kind) or chaos
        /// (frequent ones), with latency on every hop.
        #[arg(long, default_value = "none")]
        faults: Profile,
        /// Seed of the fault profile's decisions (the same seed, the same faults).
        #[arg(long, default_value_t = 1)]
        fault_seed: u64,
    },
    /// ElevenLabs' signed-URL endpoint, ConvAI agent and post-call webhooks.
    Elevenlabs {
        #[arg(long, default_value = "127.0.0.1:4020")]
        listen: String,
        #[arg(long, default_value = "sim-xi-key")]
        api_key: String,
        #[arg(long, default_value = "agent_sim")]
        agent_id: String,
        #[arg(long, default_value = "sim-webhook-secret")]
        webhook_secret: String,
        /// Where post-call webhooks go, e.g. http://127.0.0.1:3000/webhooks/elevenlabs.
        #[arg(long)]
        webhook_url: Option<String>,
        /// Fault profile: none, flaky (signed URLs and connects that sometimes fail, a
        /// silent agent now and then) or chaos (more often, connects that hang,
        /// duplicated webhooks), with latency on both hops.
        #[arg(long, default_value = "none")]
        faults: Profile,
        /// Seed of the fault profile's decisions (the same seed, the same faults).
        #[arg(long, default_value_t = 1)]
        fault_seed: u64,
    },
}

pub async fn run(
    args: SimArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    match args.which {
        Which::Twilio {
            listen,
            account_sid,
            auth_token,
            calls_per_second,
            seed,
            faults,
            fault_seed,
        } => {
            let sim = TwilioSim::start_on(
                &listen,
                TwilioSimConfig {
                    account_sid,
                    auth_token,
                    calls_per_second: Some(calls_per_second),
                    scenarios: ScenarioBook::realistic(seed),
                    media: MediaConfig {
                        enabled: true,
                        ..Default::default()
                    },
                    faults: TwilioFaultRates::for_profile(faults),
                    fault_seed,
                    ..Default::default()
                },
            )
            .await?;
            println!("Twilio simulator at {}; give outcall:", sim.base_url());
            println!(
                "  TWILIO_API_BASE={} TWILIO_ACCOUNT_SID={} TWILIO_AUTH_TOKEN={}",
                sim.base_url(),
                sim.account_sid(),
                sim.auth_token()
            );
            println!("{}", fault_banner(faults, fault_seed, sim.base_url()));
            shutdown.await;
        }
        Which::Elevenlabs {
            listen,
            api_key,
            agent_id,
            webhook_secret,
            webhook_url,
            faults,
            fault_seed,
        } => {
            let sim = ElevenLabsSim::start_on(
                &listen,
                ElevenLabsSimConfig {
                    api_key,
                    agent_id,
                    webhook_secret,
                    webhook_url,
                    faults: ElevenLabsFaults::for_profile(faults, fault_seed),
                    ..Default::default()
                },
            )
            .await?;
            println!("ElevenLabs simulator at {}; give outcall:", sim.base_url());
            println!(
                "  ELEVENLABS_API_BASE={} ELEVENLABS_API_KEY={} ELEVENLABS_AGENT_ID={} ELEVENLABS_WEBHOOK_SECRET={}",
                sim.base_url(),
                sim.api_key(),
                sim.agent_id(),
                sim.webhook_secret()
            );
            if faults != Profile::None {
                println!(
                    "  faults: {faults} ({}), seed {fault_seed}",
                    faults.describe()
                );
            }
            shutdown.await;
        }
    }
    Ok(())
}

/// What a fault profile does, printed when a simulator starts.
pub(crate) fn fault_banner(profile: Profile, seed: u64, base_url: &str) -> String {
    match profile {
        Profile::None => "  faults: none (--faults flaky or chaos injects them)".to_string(),
        p => format!(
            "  faults: {p} ({}), seed {seed}; what the simulator received: {base_url}/_sim/log",
            p.describe()
        ),
    }
}
