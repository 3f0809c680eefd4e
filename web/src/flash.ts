// A result to show once on the next page (e.g. the CSV import done while creating a
// campaign, shown on the campaign's page).
import type { ImportResult } from "./types";

const results = new Map<string, ImportResult>();

export function flashImport(campaignId: string, result: ImportResult): void {
  results.set(campaignId, result);
}

export function takeImport(campaignId: string): ImportResult | undefined {
  const r = results.get(campaignId);
  results.delete(campaignId);
  return r;
}
