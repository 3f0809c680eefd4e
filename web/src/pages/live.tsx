import { useEffect, useState } from "preact/hooks";
import { ApiError, errorText, get, list, post } from "../api";
import { mergeTurn, TranscriptView } from "../components/transcript";
import { Async, Badge, Empty } from "../components/ui";
import { useLoad, useThrottle } from "../hooks";
import { useLiveEvent, type TranscriptUpdate } from "../realtime";
import type { Call, Transcript, Turn } from "../types";
import { LIVE_STATUSES } from "../types";

async function liveCalls(): Promise<Call[]> {
  const pages = await Promise.all(LIVE_STATUSES.map((status) => list<Call>("/api/db/calls", { status, limit: 100 })));
  return pages.flatMap((p) => p.items).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export function LivePage() {
  const calls = useLoad(liveCalls, [], 2000);
  useLiveEvent<Call[]>("subscribe_to_calls", undefined, "active_calls", useThrottle(calls.reload));
  return (
    <div class="page">
      <h1>Live calls</h1>
      <Async loaded={calls}>
        {(items) =>
          items.length ? (
            <div class="live-grid">
              {items.map((c) => (
                <LiveCall key={c.callSid} call={c} />
              ))}
            </div>
          ) : (
            <Empty>No call is live right now. Calls appear here as soon as they are placed.</Empty>
          )
        }
      </Async>
    </div>
  );
}

function Elapsed({ since }: { since?: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, []);
  if (!since) return null;
  const secs = Math.max(0, Math.floor((now - new Date(since).getTime()) / 1000));
  return (
    <span class="muted">
      {Math.floor(secs / 60)}:{String(secs % 60).padStart(2, "0")}
    </span>
  );
}

function LiveCall({ call }: { call: Call }) {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [hangupError, setHangupError] = useState<string | null>(null);
  const [hangingUp, setHangingUp] = useState(false);
  const stored = useLoad(
    async () => {
      try {
        return await get<Transcript>(`/api/db/transcripts/${call.callSid}`);
      } catch (e) {
        // The transcript is created when the conversation starts.
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    [call.callSid],
    1500,
  );
  useEffect(() => {
    const saved = stored.data?.transcript;
    if (saved) setTurns((live) => live.reduce(mergeTurn, saved));
  }, [stored.data]);
  useLiveEvent<TranscriptUpdate>("subscribe_to_call_transcript", call.callSid, "transcript_update", (u) => {
    if (u.callSid === call.callSid && u.isFinal !== false) setTurns((t) => mergeTurn(t, u));
  });

  async function hangUp() {
    if (!window.confirm(`Hang up the call to ${call.contactName ?? call.to}?`)) return;
    setHangingUp(true);
    setHangupError(null);
    try {
      await post(`/api/calls/${call.callSid}/hangup`);
    } catch (e) {
      setHangupError(errorText(e));
      setHangingUp(false);
    }
  }

  return (
    <article class="card live-call" data-call-sid={call.callSid} aria-label={`Call to ${call.contactName ?? call.to}`}>
      <header class="card-head">
        <h2>
          <a href={`#/calls/${call.callSid}`}>{call.contactName ?? call.to}</a>
        </h2>
        <Badge value={call.status} />
      </header>
      <p class="meta">
        <span class="mono">{call.to}</span> <Elapsed since={call.answerTime ?? call.startTime ?? call.createdAt} />
        {call.answeredBy && <Badge value={call.answeredBy} />}
      </p>
      {stored.error !== null && <p class="error">{errorText(stored.error)}</p>}
      <TranscriptView turns={turns} follow name={call.contactName} />
      {hangupError && (
        <p class="error" role="alert">
          {hangupError}
        </p>
      )}
      <button type="button" class="danger" onClick={hangUp} disabled={hangingUp}>
        {hangingUp ? "Hanging up…" : "Hang up"}
      </button>
    </article>
  );
}
