// Requests of the analytics and dashboard routes, and the chart configurations that
// draw their answers (shared by the Overview and Analytics pages).
import type { ChartConfiguration } from "chart.js";
import { get } from "./api";
import { PALETTE } from "./components/chart";
import { label } from "./format";
import type { CallDuration, CallOutcomes, CallVolume, Sentiment } from "./types";

export interface Range {
  startDate: string;
  endDate: string;
  tz: string;
  groupBy: "hour" | "day" | "week";
}

export const browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export function volume(range: Range) {
  return get<CallVolume>("/api/db/analytics/call-volume", { ...range });
}
export function durations(range: Range) {
  return get<CallDuration>("/api/db/analytics/call-duration", { startDate: range.startDate, endDate: range.endDate, tz: range.tz });
}
export function outcomes(range: Range) {
  return get<CallOutcomes>("/api/db/analytics/call-outcomes", { startDate: range.startDate, endDate: range.endDate, tz: range.tz });
}
export function sentiment(range: Range) {
  return get<Sentiment>("/api/db/analytics/conversation-sentiment", { ...range });
}

function bucketLabel(iso: string, groupBy: string, tz: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts: Intl.DateTimeFormatOptions =
    groupBy === "hour" ? { hour: "2-digit", minute: "2-digit", timeZone: tz } : { month: "short", day: "numeric", timeZone: tz };
  try {
    return d.toLocaleString(undefined, opts);
  } catch {
    return d.toLocaleString();
  }
}

export function volumeChart(v: CallVolume): ChartConfiguration {
  const labels = v.buckets.map((b) => bucketLabel(b.start, v.groupBy, v.tz));
  const series: [keyof CallVolume["buckets"][number], string][] = [
    ["completed", "Completed"],
    ["noAnswer", "No answer"],
    ["busy", "Busy"],
    ["failed", "Failed"],
    ["canceled", "Canceled"],
  ];
  return {
    type: "bar",
    data: {
      labels,
      datasets: series.map(([key, name], i) => ({
        label: name,
        data: v.buckets.map((b) => Number(b[key]) || 0),
        backgroundColor: [PALETTE[1], PALETTE[3], PALETTE[6], PALETTE[2], PALETTE[7]][i],
        stack: "calls",
      })),
    },
    options: {
      plugins: { legend: { position: "bottom" } },
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    },
  };
}

/// The same colour for a status or outcome on every chart.
const COLORS: Record<string, string> = {
  completed: PALETTE[1],
  answered: PALETTE[1],
  human: PALETTE[1],
  held: PALETTE[1],
  "no-answer": PALETTE[3],
  noAnswer: PALETTE[3],
  busy: PALETTE[6],
  failed: PALETTE[2],
  canceled: PALETTE[7],
  voicemail: PALETTE[4],
  machine: PALETTE[4],
  unknown: PALETTE[7],
};

/// Counts by status or outcome; `omit` leaves out keys (e.g. calls still live).
export function doughnut(counts: Record<string, number>, omit: string[] = []): ChartConfiguration {
  const entries = Object.entries(counts).filter(([k, n]) => n > 0 && !omit.includes(k));
  return {
    type: "doughnut",
    data: {
      labels: entries.map(([k]) => label(k)),
      datasets: [{ data: entries.map(([, n]) => n), backgroundColor: entries.map(([k], i) => COLORS[k] ?? (k.startsWith("machine") ? COLORS.machine : PALETTE[(i + 5) % PALETTE.length])) }],
    },
    // Beside the ring on wide cards, under it on phones.
    options: { plugins: { legend: { position: window.innerWidth < 600 ? "bottom" : "right" } } },
  };
}

export function hasCounts(counts?: Record<string, number>, omit: string[] = []): boolean {
  return !!counts && Object.entries(counts).some(([k, n]) => n > 0 && !omit.includes(k));
}

/// Start of today and of tomorrow, as `YYYY-MM-DD`, and of `days` ago.
export function lastDays(days: number): { startDate: string; endDate: string } {
  const end = new Date();
  end.setDate(end.getDate() + 1);
  const start = new Date();
  start.setDate(start.getDate() - (days - 1));
  return { startDate: isoDay(start), endDate: isoDay(end) };
}

export function isoDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}
