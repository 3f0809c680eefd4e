import type { ImportResult } from "../types";

export function ImportSummary({ result }: { result: ImportResult }) {
  return (
    <div class="import-result" role="status">
      <p>
        <strong>Imported {result.total.toLocaleString()} rows:</strong> {result.created} created, {result.updated} updated,{" "}
        {result.duplicates} duplicates, {result.invalid} invalid
        {result.enrolled !== undefined && <>, {result.enrolled} added to the campaign</>}.
      </p>
      {result.errors.length > 0 && (
        <details>
          <summary>{result.errors.length} skipped rows</summary>
          <ul>
            {result.errors.slice(0, 100).map((e) => (
              <li key={e.row}>
                Row {e.row}: {e.reason}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
