import { useMemo, useState } from "preact/hooks";
import { get, list } from "../api";
import { browserTz, doughnut, hasCounts, lastDays, outcomes, volume, volumeChart, type Range } from "../analytics";
import { ChartView } from "../components/chart";
import { CallsTable } from "../components/calls-table";
import { Async, Badge, Card, Empty, Kpi } from "../components/ui";
import { duration, label, num, percent, time } from "../format";
import { useLoad, useThrottle } from "../hooks";
import { useLiveEvent, type CallUpdate } from "../realtime";
import { LIVE_STATUSES, type Activity, type Call, type Overview } from "../types";

export function OverviewPage() {
  const overview = useLoad(() => get<Overview>("/api/db/dashboard/overview", { tz: browserTz }), [], 10000);
  const range: Range = useMemo(() => ({ ...lastDays(1), tz: browserTz, groupBy: "hour" }), []);
  const vol = useLoad(() => volume(range), [range], 30000);
  const outs = useLoad(() => outcomes(range), [range], 30000);
  const recent = useLoad(() => list<Call>("/api/db/calls", { limit: 8 }), [], 5000);

  const refresh = useThrottle(() => {
    overview.reload();
    recent.reload();
  });
  useLiveEvent<CallUpdate>("subscribe_to_calls", undefined, "call_update", refresh);

  return (
    <div class="page">
      <h1>Overview</h1>
      <Async loaded={overview}>
        {(o) => (
          <div class="kpis">
            <Kpi name="Calls today" value={num(o.today.calls)} hint={`${num(o.yesterday.calls)} yesterday`} />
            <Kpi name="Answer rate" value={percent(o.answerRate)} hint={`${num(o.totals.answered)} of ${num(o.totals.calls)} answered`} />
            <Kpi name="Average duration" value={duration(o.averageDuration)} hint={`${duration(o.today.averageDuration)} today`} />
            <Kpi name="Live calls" value={num(o.activeCalls)} hint={`${num(o.activeCampaigns)} active campaigns`} />
            <Kpi name="Completed" value={num(o.totals.completed)} hint={`${num(o.today.completed)} today`} />
            <Kpi name="Failed" value={num(o.totals.failed)} hint={`${num(o.today.failed)} today`} />
          </div>
        )}
      </Async>
      <div class="grid two">
        <Card title="Call volume, last 24 hours">
          <Async loaded={vol}>
            {(v) => (
              <ChartView
                label="Calls per hour"
                config={volumeChart(v)}
                empty={!v.buckets.some((b) => b.total > 0) && "No calls in the last 24 hours."}
              />
            )}
          </Async>
        </Card>
        <Card title="Outcomes, last 24 hours">
          <Async loaded={outs}>
            {(o) => (
              <ChartView
                label="Calls by status"
                config={doughnut(o.byStatus, LIVE_STATUSES)}
                empty={!hasCounts(o.byStatus, LIVE_STATUSES) && "No finished calls yet."}
              />
            )}
          </Async>
        </Card>
      </div>
      <div class="grid two">
        <LiveActivity names={new Map((recent.data?.items ?? []).map((c) => [c.callSid, c.contactName ?? c.to]))} />
        <Card title="Latest calls" actions={<a href="#/calls">All calls →</a>}>
          <Async loaded={recent}>
            {(page) => (page.items.length ? <CallsTable calls={page.items} caption="Latest calls" compact /> : <Empty>No calls yet.</Empty>)}
          </Async>
        </Card>
      </div>
    </div>
  );
}

/// `names` labels pushed events, which carry no call details, by the calls already known.
function LiveActivity({ names }: { names: Map<string, string> }) {
  const activity = useLoad(() => list<Activity>("/api/db/dashboard/activity", { limit: 12 }), [], 10000);
  const [pushed, setPushed] = useState<Activity[]>([]);
  useLiveEvent<CallUpdate>("subscribe_to_calls", undefined, "call_update", (u) => {
    setPushed((p) => [{ eventType: u.type, callSid: u.callSid, timestamp: u.timestamp, data: u.data }, ...p].slice(0, 12));
  });
  return (
    <Card title="Live activity">
      <Async loaded={activity}>
        {(page) => {
          const seen = new Set(page.items.map((a) => `${a.callSid}${a.timestamp}`));
          const items = [...pushed.filter((a) => !seen.has(`${a.callSid}${a.timestamp}`)), ...page.items].slice(0, 12);
          return items.length ? (
            <ul class="activity" aria-live="polite">
              {items.map((a) => (
                <li key={`${a.callSid}-${a.timestamp}-${a.eventType}`}>
                  <time class="muted">{time(a.timestamp)}</time>
                  <span>{label(a.eventType)}</span>
                  {typeof a.data?.status === "string" && <Badge value={a.data.status} />}
                  <a href={`#/calls/${a.callSid}`} class="mono">
                    {a.call?.contactName ?? a.call?.to ?? names.get(a.callSid) ?? a.callSid.slice(0, 10) + "…"}
                  </a>
                </li>
              ))}
            </ul>
          ) : (
            <Empty>No activity yet. Events appear here as calls progress.</Empty>
          );
        }}
      </Async>
    </Card>
  );
}
