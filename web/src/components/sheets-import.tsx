import { useState } from "preact/hooks";
import { errorText, post } from "../api";
import type { ImportResult } from "../types";
import { Field } from "./ui";
import { ImportSummary } from "./import-result";

/// Google Sheets import into a campaign (the server reads the sheet with its service account).
export function SheetsImport({ campaignId, onDone }: { campaignId: string; onDone: () => void }) {
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const body: Record<string, string> = {};
    for (const k of ["spreadsheetId", "sheetName", "phoneColumn", "nameColumn", "statusColumn", "resultColumn"]) {
      const v = String(data.get(k) ?? "").trim();
      if (v) body[k] = v;
    }
    setBusy(true);
    setError(null);
    try {
      setResult(await post<ImportResult>(`/api/db/campaigns/${campaignId}/contacts/import`, body));
      onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="sheets-form" onSubmit={submit}>
      <div class="form-grid">
        <Field label="Spreadsheet" hint="Its address, or the long id in it. Share the sheet with the server's service account.">
          <input name="spreadsheetId" required />
        </Field>
        <Field label="Sheet name" hint="Empty: the first sheet.">
          <input name="sheetName" placeholder="Leads" />
        </Field>
        <Field label="Phone column" hint="The header in row 1; empty: a column named phone, number, mobile…">
          <input name="phoneColumn" placeholder="Phone" />
        </Field>
        <Field label="Name column" hint="The header in row 1.">
          <input name="nameColumn" placeholder="Name" />
        </Field>
        <Field label="Status column" hint="Where each contact's call status is written back (added if missing).">
          <input name="statusColumn" placeholder="Call status" />
        </Field>
        <Field label="Result column" hint="Optional: the call's outcome, beside the status.">
          <input name="resultColumn" placeholder="Result" />
        </Field>
      </div>
      <button type="submit" disabled={busy}>
        {busy ? "Importing…" : "Import from Google Sheets"}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {result && <ImportSummary result={result} />}
    </form>
  );
}
