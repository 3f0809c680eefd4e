import { useState } from "preact/hooks";
import { errorText, list } from "../api";
import { CallsTable } from "../components/calls-table";
import { Async, Card, Empty, Field, Pager, Select } from "../components/ui";
import { download, toCsv } from "../csv";
import { useLoad } from "../hooks";
import { setQuery } from "../router";
import { CALL_STATUSES, type Call } from "../types";

const FILTERS = ["status", "to", "campaignId", "startDate", "endDate"] as const;
const EXPORT_COLUMNS = [
  "callSid", "createdAt", "startTime", "endTime", "status", "outcome", "answeredBy", "duration",
  "from", "to", "contactName", "contactId", "campaignId", "terminatedBy", "errorCode", "errorMessage",
];
/// The export reads the filtered calls page by page, up to this many.
const EXPORT_MAX = 10000;

function filtersOf(query: URLSearchParams): Record<string, string> {
  const f: Record<string, string> = {};
  for (const k of FILTERS) {
    const v = query.get(k);
    if (v) f[k] = v;
  }
  return f;
}

export function CallsPage({ query }: { query: URLSearchParams }) {
  const filters = filtersOf(query);
  const page = Number(query.get("page")) || 1;
  const key = JSON.stringify([filters, page]);
  const calls = useLoad(() => list<Call>("/api/db/calls", { ...filters, page, limit: 25 }), [key], 10000);
  const [exporting, setExporting] = useState<string | null>(null);

  async function exportCsv() {
    setExporting("Exporting…");
    try {
      const rows: Call[] = [];
      for (let p = 1; rows.length < EXPORT_MAX; p++) {
        const res = await list<Call>("/api/db/calls", { ...filters, page: p, limit: 100 });
        rows.push(...res.items);
        setExporting(`Exporting… ${rows.length} of ${res.pagination.total}`);
        if (p >= res.pagination.pages) break;
      }
      download(`calls-${new Date().toISOString().slice(0, 10)}.csv`, toCsv(EXPORT_COLUMNS, rows as unknown as Record<string, unknown>[]));
      setExporting(null);
    } catch (e) {
      setExporting(`Export failed: ${errorText(e)}`);
    }
  }

  return (
    <div class="page">
      <h1>Calls</h1>
      <Card>
        <form
          key={JSON.stringify(filters)}
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            const data = new FormData(e.currentTarget);
            const values: Record<string, string | undefined> = { page: undefined };
            for (const k of FILTERS) values[k] = String(data.get(k) ?? "").trim() || undefined;
            setQuery(values);
          }}
        >
          <Field label="Status">
            <Select name="status" initial={filters.status ?? ""} options={[["", "Any"], ...CALL_STATUSES]} />
          </Field>
          <Field label="To (number)">
            <input name="to" defaultValue={filters.to ?? ""} placeholder="+14155550100" />
          </Field>
          <Field label="Campaign id">
            <input name="campaignId" defaultValue={filters.campaignId ?? ""} />
          </Field>
          <Field label="From date">
            <input type="date" name="startDate" defaultValue={filters.startDate ?? ""} />
          </Field>
          <Field label="Before date">
            <input type="date" name="endDate" defaultValue={filters.endDate ?? ""} />
          </Field>
          <div class="filter-actions">
            <button type="submit">Filter</button>
            <button type="button" class="secondary" onClick={() => setQuery({ ...Object.fromEntries(FILTERS.map((k) => [k, undefined])), page: undefined })}>
              Clear
            </button>
            <button type="button" class="secondary" onClick={exportCsv} disabled={exporting?.startsWith("Exporting") ?? false}>
              Export CSV
            </button>
          </div>
        </form>
        {exporting && <p role="status">{exporting}</p>}
      </Card>
      <Card>
        <Async loaded={calls}>
          {(res) =>
            res.items.length ? (
              <>
                <CallsTable calls={res.items} caption="Calls" />
                <Pager pagination={res.pagination} onPage={(p) => setQuery({ page: p })} />
              </>
            ) : (
              <Empty>{Object.keys(filters).length ? "No call matches these filters." : "No calls yet."}</Empty>
            )
          }
        </Async>
      </Card>
    </div>
  );
}
