export function dateTime(iso?: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function time(iso?: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

export function duration(secs?: number | null): string {
  if (secs === undefined || secs === null || Number.isNaN(secs)) return "—";
  const s = Math.round(secs);
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export function percent(ratio?: number | null): string {
  if (ratio === undefined || ratio === null || Number.isNaN(ratio)) return "—";
  // Accept both 0–1 ratios and 0–100 percentages.
  const pct = ratio <= 1 ? ratio * 100 : ratio;
  return `${pct.toFixed(pct < 10 ? 1 : 0)}%`;
}

export function num(n?: number | null): string {
  return n === undefined || n === null ? "—" : n.toLocaleString();
}

export function label(raw: string): string {
  return raw.replace(/[-_]/g, " ");
}

export function offsetSecs(secs?: number): string {
  if (secs === undefined) return "";
  const s = Math.floor(secs);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
