//! `outcall campaign start|pause|resume|stop ID`: the same compare-and-set transitions
//! as the API, on the database `outcall serve` uses (`--demo`: the demo's); errors
//! name it. Pause and stop return, as the API
//! answers, once no dial of the campaign is in flight in any process: after that, no
//! running server's engine starts a call of it.

use anyhow::{Context, bail};
use outcall_domain::{CampaignAction, ObjectId};
use outcall_store::Transition;

use crate::cli_store::CliStore;

#[derive(Debug, clap::Args)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub action: CampaignCommand,
    #[command(flatten)]
    pub store: CliStore,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum CampaignCommand {
    /// Start a draft campaign.
    Start { id: String },
    /// Pause an active campaign: no new call starts; live calls finish.
    Pause { id: String },
    /// Resume a paused campaign.
    Resume { id: String },
    /// Stop a campaign for good; contacts still waiting are cancelled.
    Stop { id: String },
}

pub async fn run(args: CampaignArgs) -> anyhow::Result<()> {
    args.store.name_in(act(&args).await)
}

async fn act(args: &CampaignArgs) -> anyhow::Result<()> {
    let (action, raw) = match &args.action {
        CampaignCommand::Start { id } => (CampaignAction::Start, id),
        CampaignCommand::Pause { id } => (CampaignAction::Pause, id),
        CampaignCommand::Resume { id } => (CampaignAction::Resume, id),
        CampaignCommand::Stop { id } => (CampaignAction::Stop, id),
    };
    let id: ObjectId = raw
        .parse()
        .ok()
        .with_context(|| format!("{raw:?} is not a campaign id (24 hex digits)"))?;
    let store = args.store.open().await?;
    if action == CampaignAction::Start
        && let Some(c) = store.get_campaign(id).await?
        && c.status == outcall_domain::CampaignStatus::Draft
        && let Some(why) = store
            .count_campaign_contacts(id, outcall_domain::time::now())
            .await?
            .refuses_start()
    {
        bail!("cannot start campaign {id}: {why}");
    }
    match store.transition_campaign(id, action).await? {
        Transition::Applied(c) => {
            if matches!(action, CampaignAction::Pause | CampaignAction::Stop) {
                crate::engine::await_dials(store.as_ref(), id).await?;
            }
            if action == CampaignAction::Stop {
                let n = store.cancel_campaign_contacts(id).await?;
                println!(
                    "campaign {id} ({}) is now {}; {n} waiting contacts cancelled",
                    c.name, c.status
                );
            } else {
                println!("campaign {id} ({}) is now {}", c.name, c.status);
            }
            Ok(())
        }
        Transition::Refused(current) => {
            bail!("cannot {} campaign {id}: it is {current}", action.verb())
        }
        Transition::NotFound => bail!("no campaign with id {id}"),
    }
}
