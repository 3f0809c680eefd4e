import { useState } from "preact/hooks";
import { errorText, post } from "../api";
import type { ImportResult } from "../types";
import { ImportSummary } from "./import-result";

/// A CSV file picker that posts the file to `path` and shows the counts it answers.
export function CsvImport({ path, onDone, initial }: { path: string; onDone: () => void; initial?: ImportResult }) {
  const [result, setResult] = useState<ImportResult | undefined>(initial);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const file = new FormData(form).get("file");
    if (!(file instanceof File) || file.size === 0) {
      setError("Choose a CSV file first.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setResult(await post<ImportResult>(path, await file.text()));
      form.reset();
      onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="inline-form" onSubmit={submit}>
      <label class="field">
        <span class="field-label">CSV file</span>
        <input type="file" name="file" accept=".csv,text/csv" />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Importing…" : "Import CSV"}
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
