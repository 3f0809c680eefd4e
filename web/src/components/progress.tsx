import type { CampaignStats } from "../types";

/// Calls placed out of contacts: how far a campaign has got.
export function Progress({ stats }: { stats: CampaignStats }) {
  const total = stats.totalContacts || 0;
  const done = Math.min(stats.callsPlaced, total);
  const pct = total ? Math.round((done / total) * 100) : 0;
  return (
    <div class="progress-wrap">
      <progress max={total || 1} value={done} aria-label={`${done} of ${total} contacts called`} />
      <span class="muted small">
        {done}/{total} called · {stats.callsAnswered} answered · {pct}%
      </span>
    </div>
  );
}
