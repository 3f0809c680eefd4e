import { useEffect, useRef } from "preact/hooks";
import { offsetSecs } from "../format";
import type { Turn } from "../types";
import { Empty } from "./ui";

/// Speaker turns in order; `follow` keeps the newest turn in view as turns arrive.
export function TranscriptView({ turns, follow = false, name }: { turns: Turn[]; follow?: boolean; name?: string }) {
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (!follow || !end.current) return;
    const list = end.current.parentElement;
    if (list) list.scrollTop = list.scrollHeight;
  }, [turns.length, follow]);
  if (!turns.length) return <Empty>No words spoken yet.</Empty>;
  return (
    <ol class={`transcript ${follow ? "follow" : ""}`} aria-live={follow ? "polite" : undefined}>
      {turns.map((t, i) => (
        <li key={i} class={`turn ${t.role}`} ref={i === turns.length - 1 ? end : undefined}>
          <span class="speaker">
            {t.role === "agent" ? "Agent" : (name ?? "Caller")}
            <span class="muted"> {offsetSecs(t.timeInCallSecs)}</span>
          </span>
          <span class="words">{t.message}</span>
        </li>
      ))}
    </ol>
  );
}

/// Adds a live turn unless the stored transcript already has it.
export function mergeTurn(turns: Turn[], turn: Turn): Turn[] {
  const dup = turns.some((t) => t.role === turn.role && t.message === turn.message && t.timeInCallSecs === turn.timeInCallSecs);
  return dup ? turns : [...turns, turn];
}
