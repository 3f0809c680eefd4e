import { useState } from "preact/hooks";
import { errorText, get, list, post } from "../api";
import { CsvImport } from "../components/csv-import";
import { Progress } from "../components/progress";
import { SheetsImport } from "../components/sheets-import";
import { Async, Badge, Card, Empty, Kpi, Pager, Table } from "../components/ui";
import { takeImport } from "../flash";
import { dateTime, duration, label, num } from "../format";
import { useLoad, useThrottle } from "../hooks";
import { useLiveEvent } from "../realtime";
import { setQuery } from "../router";
import type { Campaign, CampaignContact, CampaignProgress } from "../types";

const DIAL_STATUSES = ["pending", "dialing", "retry", "completed", "failed", "skipped", "cancelled"];

const ACTIONS: Record<string, [string, string][]> = {
  draft: [["start", "Start"]],
  active: [["pause", "Pause"], ["stop", "Stop"]],
  paused: [["resume", "Resume"], ["stop", "Stop"]],
};

export function CampaignPage({ campaignId, query }: { campaignId: string; query: URLSearchParams }) {
  const campaign = useLoad(() => get<Campaign>(`/api/db/campaigns/${campaignId}`), [campaignId], 5000);
  const progress = useLoad(() => get<CampaignProgress>(`/api/db/campaigns/${campaignId}/stats`), [campaignId], 5000);
  const [flash] = useState(() => takeImport(campaignId));
  const refresh = useThrottle(() => {
    campaign.reload();
    progress.reload();
  });
  useLiveEvent("subscribe_to_campaign", campaignId, "campaign_update", refresh);
  return (
    <div class="page">
      <p class="crumbs">
        <a href="#/campaigns">← Campaigns</a>
      </p>
      <Async loaded={campaign}>
        {(c) => (
          <>
            <div class="page-head">
              <h1>
                {c.name} <Badge value={c.status} />
              </h1>
              <Actions campaign={c} onChanged={refresh} />
            </div>
            {c.description && <p>{c.description}</p>}
            <div class="kpis">
              <Kpi name="Contacts" value={num(c.stats.totalContacts)} />
              <Kpi name="Calls placed" value={num(c.stats.callsPlaced)} />
              <Kpi name="Answered" value={num(c.stats.callsAnswered)} />
              <Kpi name="Failed" value={num(c.stats.callsFailed)} />
              <Kpi name="Average talk" value={duration(c.stats.averageDuration)} />
              <Kpi name="Live now" value={num(progress.data?.contacts.live ?? 0)} />
            </div>
            <Progress stats={c.stats} />
            <Settings campaign={c} />
          </>
        )}
      </Async>
      <CampaignContacts campaignId={campaignId} query={query} onImported={refresh} flash={flash} />
    </div>
  );
}

function Actions({ campaign, onChanged }: { campaign: Campaign; onChanged: () => void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function act(action: string) {
    if (action === "stop" && !window.confirm("Stop this campaign? Contacts still waiting are cancelled.")) return;
    setBusy(action);
    setError(null);
    try {
      await post(`/api/db/campaigns/${campaign._id}/${action}`);
      onChanged();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  }
  const editable = campaign.status === "draft" || campaign.status === "paused";
  return (
    <div class="actions">
      {(ACTIONS[campaign.status] ?? []).map(([action, text]) => (
        <button key={action} type="button" class={action === "stop" ? "danger" : ""} disabled={busy !== null} onClick={() => act(action)}>
          {busy === action ? `${text}…` : text}
        </button>
      ))}
      {editable && (
        <a class="button secondary" href={`#/campaigns/${campaign._id}/edit`}>
          Edit
        </a>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function Settings({ campaign }: { campaign: Campaign }) {
  const s = campaign.settings;
  const w = s.callingWindow;
  return (
    <details class="card settings">
      <summary>Settings</summary>
      <dl class="facts">
        <dt>First message</dt>
        <dd>{campaign.firstMessage ?? "—"}</dd>
        <dt>Prompt</dt>
        <dd class="pre">{campaign.prompt ?? "—"}</dd>
        <dt>Caller id</dt>
        <dd class="mono">{campaign.callerId ?? "server default"}</dd>
        <dt>Pacing</dt>
        <dd>
          {s.callDelay}s between calls, up to {s.maxConcurrentCalls} at once
        </dd>
        <dt>Retries</dt>
        <dd>
          {s.retryCount ? `${s.retryCount} after ${duration(s.retryDelay)} on ${s.retryOn.join(", ") || "nothing"}` : "none"}
        </dd>
        <dt>Calling window</dt>
        <dd>{w ? `${w.start}–${w.end} ${w.days.join(" ")} (${w.timezone})` : "any time"}</dd>
        <dt>Voicemail</dt>
        <dd>{s.voicemail ? label(s.voicemail.action) : "server default"}</dd>
        <dt>Created</dt>
        <dd>{dateTime(campaign.createdAt)}</dd>
      </dl>
    </details>
  );
}

function CampaignContacts({
  campaignId,
  query,
  onImported,
  flash,
}: {
  campaignId: string;
  query: URLSearchParams;
  onImported: () => void;
  flash?: ReturnType<typeof takeImport>;
}) {
  const status = query.get("status") ?? "";
  const page = Number(query.get("page")) || 1;
  const contacts = useLoad(
    () => list<CampaignContact>(`/api/db/campaigns/${campaignId}/contacts`, { status, page, limit: 25 }),
    [campaignId, status, page],
    5000,
  );
  return (
    <Card
      title="Contacts in this campaign"
      actions={
        <label class="inline-field">
          <span>Status</span>
          <select value={status} onChange={(e) => setQuery({ status: e.currentTarget.value, page: undefined })}>
            <option value="">Any</option>
            {DIAL_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      }
    >
      <Async loaded={contacts}>
        {(res) =>
          res.items.length ? (
            <>
              <Table caption="Campaign contacts">
                <thead>
                  <tr>
                    <th scope="col">Number</th>
                    <th scope="col">Status here</th>
                    <th scope="col" class="num">
                      Attempts
                    </th>
                    <th scope="col">Last result</th>
                    <th scope="col">Next attempt</th>
                  </tr>
                </thead>
                <tbody>
                  {res.items.map((cc) => (
                    <tr key={cc._id}>
                      <td>
                        <a class="mono" href={`#/contacts/${cc.contactId}`}>
                          {cc.phoneNumber}
                        </a>
                      </td>
                      <td>
                        <Badge value={cc.status} />
                        {cc.skipReason && <span class="muted small"> {cc.skipReason}</span>}
                      </td>
                      <td class="num">{cc.attempts}</td>
                      <td>
                        {cc.lastCallSid ? <a href={`#/calls/${cc.lastCallSid}`}>{cc.lastResult ?? "call"}</a> : (cc.lastResult ?? "—")}
                      </td>
                      {/* Only a contact still waiting has a next attempt; a final one's is stale. */}
                      <td>{cc.status === "pending" || cc.status === "retry" ? dateTime(cc.nextAttemptAt) : "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
              <Pager pagination={res.pagination} onPage={(p) => setQuery({ page: p })} />
            </>
          ) : (
            <Empty>{status ? `No contact is ${status} here.` : "No contacts yet: import a CSV file or a Google Sheet below."}</Empty>
          )
        }
      </Async>
      <details class="import" open={!!flash}>
        <summary>Import contacts from a CSV file</summary>
        <CsvImport path={`/api/db/campaigns/${campaignId}/contacts/import`} onDone={() => { contacts.reload(); onImported(); }} initial={flash} />
      </details>
      <details class="import">
        <summary>Import contacts from Google Sheets</summary>
        <SheetsImport campaignId={campaignId} onDone={() => { contacts.reload(); onImported(); }} />
      </details>
    </Card>
  );
}
