import type { ChartConfiguration } from "chart.js";
import { useState } from "preact/hooks";
import { browserTz, doughnut, durations, hasCounts, lastDays, outcomes, sentiment, volume, volumeChart, type Range } from "../analytics";
import { ChartView, PALETTE } from "../components/chart";
import { Async, Card, Field, Kpi, Select } from "../components/ui";
import { duration, num } from "../format";
import { useLoad } from "../hooks";
import { LIVE_STATUSES, type CallDuration, type Sentiment } from "../types";

export function AnalyticsPage() {
  const [range, setRange] = useState<Range>({ ...lastDays(7), tz: browserTz, groupBy: "day" });
  const key = JSON.stringify(range);
  const vol = useLoad(() => volume(range), [key]);
  const dur = useLoad(() => durations(range), [key]);
  const outs = useLoad(() => outcomes(range), [key]);
  const sent = useLoad(() => sentiment(range), [key]);

  return (
    <div class="page">
      <h1>Analytics</h1>
      <Card>
        <form
          key={key}
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            const d = new FormData(e.currentTarget);
            setRange({
              startDate: String(d.get("startDate") ?? ""),
              endDate: String(d.get("endDate") ?? ""),
              tz: String(d.get("tz") ?? "").trim() || "UTC",
              groupBy: (String(d.get("groupBy")) as Range["groupBy"]) || "day",
            });
          }}
        >
          <Field label="From">
            <input type="date" name="startDate" defaultValue={range.startDate} required />
          </Field>
          <Field label="Before">
            <input type="date" name="endDate" defaultValue={range.endDate} required />
          </Field>
          <Field label="Time zone">
            <input name="tz" defaultValue={range.tz} />
          </Field>
          <Field label="Group by">
            <Select name="groupBy" initial={range.groupBy} options={["hour", "day", "week"]} />
          </Field>
          <div class="filter-actions">
            <button type="submit">Apply</button>
          </div>
        </form>
      </Card>
      <Card title="Call volume">
        <Async loaded={vol}>
          {(v) => (
            <ChartView label="Calls over time" config={volumeChart(v)} empty={!v.buckets.some((b) => b.total > 0) && "No calls in this range."} height={280} />
          )}
        </Async>
      </Card>
      <div class="grid two">
        <Card title="Call duration">
          <Async loaded={dur}>{(d) => <DurationView d={d} />}</Async>
        </Card>
        <Card title="Outcomes">
          <Async loaded={outs}>
            {(o) => (
              <div class="grid two tight">
                <figure>
                  <figcaption>Finished calls by status</figcaption>
                  <ChartView label="Finished calls by status" config={doughnut(o.byStatus, LIVE_STATUSES)} empty={!hasCounts(o.byStatus, LIVE_STATUSES) && "No finished calls."} height={200} />
                </figure>
                <figure>
                  <figcaption>Who answered (AMD)</figcaption>
                  <ChartView label="Who answered" config={doughnut(o.byAnsweredBy)} empty={!hasCounts(o.byAnsweredBy) && "No answered calls."} height={200} />
                </figure>
                {hasCounts(o.byOutcome) && (
                  <figure>
                    <figcaption>By outcome</figcaption>
                    <ChartView label="Calls by outcome" config={doughnut(o.byOutcome)} height={200} />
                  </figure>
                )}
              </div>
            )}
          </Async>
        </Card>
      </div>
      <Card title="Conversation sentiment">
        <Async loaded={sent}>{(s) => <SentimentView s={s} />}</Async>
      </Card>
    </div>
  );
}

function DurationView({ d }: { d: CallDuration }) {
  const config: ChartConfiguration = {
    type: "bar",
    data: { labels: d.buckets.map((b) => b.label), datasets: [{ label: "Calls", data: d.buckets.map((b) => b.count), backgroundColor: PALETTE[0] }] },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
  return (
    <>
      <div class="kpis small">
        <Kpi name="Calls" value={num(d.count)} />
        <Kpi name="Mean" value={duration(d.mean)} />
        <Kpi name="Median" value={duration(d.median)} />
        <Kpi name="90th pct" value={duration(d.p90)} />
      </div>
      <ChartView label="Calls by duration" config={config} empty={!d.count && "No answered calls in this range."} height={200} />
    </>
  );
}

function SentimentView({ s }: { s: Sentiment }) {
  const config: ChartConfiguration = {
    type: "line",
    data: {
      labels: s.trend.map((t) => new Date(t.start).toLocaleDateString(undefined, { month: "short", day: "numeric" })),
      datasets: [{ label: "Average score", data: s.trend.map((t) => (t.count ? t.averageScore : null)), borderColor: PALETTE[4], backgroundColor: PALETTE[4] }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { suggestedMin: -1, suggestedMax: 1 } } },
  };
  return (
    <>
      <div class="kpis small">
        <Kpi name="Scored conversations" value={num(s.total)} />
        <Kpi name="Average score" value={s.total ? s.averageScore.toFixed(2) : "—"} />
        <Kpi name="Positive" value={num(s.distribution.positive)} />
        <Kpi name="Neutral" value={num(s.distribution.neutral)} />
        <Kpi name="Negative" value={num(s.distribution.negative)} />
      </div>
      <ChartView label="Sentiment over time" config={config} empty={!s.total && "No scored conversations in this range."} height={220} />
    </>
  );
}
