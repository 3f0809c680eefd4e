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
    for (const k of ["spreadsheetId", "sheetName", "phoneColumn", "nameColumn", "statusColumn"]) {
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
        <Field label="Spreadsheet id" hint="The long id in the sheet's address.">
          <input name="spreadsheetId" required />
        </Field>
        <Field label="Sheet name">
          <input name="sheetName" defaultValue="Sheet1" />
        </Field>
        <Field label="Phone column">
          <input name="phoneColumn" defaultValue="A" />
        </Field>
        <Field label="Name column">
          <input name="nameColumn" defaultValue="B" />
        </Field>
        <Field label="Status column" hint="Where each call's result is written back.">
          <input name="statusColumn" />
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
