//! `outcall sim twilio|elevenlabs`: one simulator on its own, to point a separately
//! started `outcall serve` (or anything else) at.

use clap::{Args, Subcommand};
use outcall_sim::elevenlabs::{ElevenLabsSim, ElevenLabsSimConfig};
use outcall_sim::twilio::{MediaConfig, ScenarioBook, TwilioSim, TwilioSimConfig};

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
            shutdown.await;
        }
        Which::Elevenlabs {
            listen,
            api_key,
            agent_id,
            webhook_secret,
            webhook_url,
        } => {
            let sim = ElevenLabsSim::start_on(
                &listen,
                ElevenLabsSimConfig {
                    api_key,
                    agent_id,
                    webhook_secret,
                    webhook_url,
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
            shutdown.await;
        }
    }
    Ok(())
}
