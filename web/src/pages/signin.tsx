import { useState } from "preact/hooks";
import { checkKey, errorText } from "../api";
import { storeKey } from "../session";

export function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError("Enter the API key the server was started with.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await checkKey(trimmed);
      storeKey(trimmed);
      onSignedIn(trimmed);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin">
      <form class="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">outcall</h1>
        <p class="muted">Sign in with an API key of this server (one of its <code>API_KEY</code> values; <code>outcall demo</code> prints its own).</p>
        <label class="field">
          <span class="field-label">API key</span>
          <input
            type="password"
            name="apiKey"
            autocomplete="current-password"
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            autoFocus
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p class="muted small-print">The key is kept in this browser tab only and is forgotten when the tab closes.</p>
      </form>
    </main>
  );
}
