import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { errorText } from "../api";
import { label } from "../format";
import type { Pagination } from "../api";
import type { Loaded } from "../hooks";

export function Spinner({ text = "Loading…" }: { text?: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> {text}
    </p>
  );
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="error" role="alert">
      <strong>Error:</strong> <span class="error-message">{errorText(error)}</span>
      {retry && (
        <button type="button" class="link" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/// Renders `loaded` as spinner, error, or its content (which keeps showing while polling).
export function Async<T>({
  loaded,
  children,
}: {
  loaded: Loaded<T>;
  children: (data: T) => ComponentChildren;
}) {
  if (loaded.data !== null) {
    return (
      <>
        {loaded.error !== null && <ErrorBox error={loaded.error} retry={loaded.reload} />}
        {children(loaded.data)}
      </>
    );
  }
  if (loaded.error !== null) return <ErrorBox error={loaded.error} retry={loaded.reload} />;
  return <Spinner />;
}

const TONES: Record<string, string> = {
  completed: "ok",
  active: "ok",
  answered: "ok",
  human: "ok",
  positive: "ok",
  "in-progress": "live",
  ringing: "live",
  initiated: "live",
  dialing: "live",
  live: "live",
  paused: "warn",
  pending: "muted",
  draft: "muted",
  retry: "warn",
  busy: "warn",
  "no-answer": "warn",
  neutral: "muted",
  voicemail: "warn",
  skipped: "muted",
  inactive: "muted",
  failed: "bad",
  canceled: "bad",
  cancelled: "bad",
  negative: "bad",
  "do-not-call": "bad",
};

export function Badge({ value }: { value?: string | null }) {
  if (!value) return <span class="muted">—</span>;
  const tone = TONES[value] ?? (value.startsWith("machine") ? "warn" : "muted");
  return <span class={`badge ${tone}`}>{label(value)}</span>;
}

export function Pager({ pagination, onPage }: { pagination: Pagination; onPage: (page: number) => void }) {
  const { page, pages, total } = pagination;
  if (pages <= 1) {
    return (
      <p class="pager muted">
        {total.toLocaleString()} in all
      </p>
    );
  }
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        ← Previous
      </button>
      <span>
        Page {page} of {Math.max(pages, 1)} · {total.toLocaleString()} in all
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next →
      </button>
    </nav>
  );
}

export function Card({ title, children, actions }: { title?: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      {(title || actions) && (
        <header class="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div class="actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function Kpi({ name, value, hint }: { name: string; value: string; hint?: string }) {
  return (
    <div class="kpi">
      <div class="kpi-name">{name}</div>
      <div class="kpi-value">{value}</div>
      {hint && <div class="kpi-hint">{hint}</div>}
    </div>
  );
}

export function Field({ label: text, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="field-label">{text}</span>
      {children}
      {hint && <span class="field-hint">{hint}</span>}
    </label>
  );
}

/// A table that scrolls sideways inside its card rather than widening the page.
/// On phones each row stacks into a small card, every cell labelled by its column
/// heading (copied into `data-label` after each render).
export function Table({ children, caption }: { children: ComponentChildren; caption: string }) {
  const table = useRef<HTMLTableElement>(null);
  useEffect(() => {
    const heads = Array.from(table.current?.querySelectorAll("thead th") ?? []).map((th) => th.textContent ?? "");
    table.current?.querySelectorAll("tbody tr").forEach((tr) => {
      Array.from(tr.children).forEach((td, i) => {
        (td as HTMLElement).dataset.label = heads[i] ?? "";
      });
    });
  });
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={caption}>
      <table ref={table} class="stack">
        <caption class="sr-only">{caption}</caption>
        {children}
      </table>
    </div>
  );
}

/// An uncontrolled select starting at `initial` (Preact ignores `defaultValue` on selects).
export function Select({ name, initial, options }: { name: string; initial: string; options: (string | [string, string])[] }) {
  return (
    <select name={name}>
      {options.map((o) => {
        const [value, text] = typeof o === "string" ? [o, o] : o;
        return (
          <option key={value} value={value} selected={value === initial}>
            {text}
          </option>
        );
      })}
    </select>
  );
}
