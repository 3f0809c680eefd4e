// Socket.IO connection to the server's live events. Pages subscribe to what they
// show; every page also polls, so it keeps working when Socket.IO is unavailable.
import { io, type Socket } from "socket.io-client";
import { useEffect, useRef, useState } from "preact/hooks";

export interface CallUpdate {
  type: string;
  callSid: string;
  timestamp: string;
  data?: Record<string, unknown>;
}

export interface TranscriptUpdate {
  callSid: string;
  role: "agent" | "user";
  message: string;
  timeInCallSecs: number;
  isFinal?: boolean;
}

export interface CampaignUpdate {
  type: string;
  campaignId: string;
  data?: Record<string, unknown>;
}

let socket: Socket | null = null;
/// Subscriptions to send again after every (re)connection, with their use counts.
const subscriptions = new Map<string, number>();
const statusListeners = new Set<(connected: boolean) => void>();
/// Handlers by event name, kept here (not on the socket) so pages can listen before
/// the socket exists and across reconnections with a new key.
const handlers = new Map<string, Set<(payload: unknown) => void>>();

export function connect(apiKey: string): void {
  disconnect();
  socket = io(window.location.origin, {
    auth: { token: apiKey },
    transports: ["websocket", "polling"],
    reconnectionDelayMax: 15000,
  });
  socket.on("connect", () => {
    for (const key of subscriptions.keys()) {
      const [event, arg] = JSON.parse(key) as [string, string | undefined];
      if (arg === undefined) socket?.emit(event);
      else socket?.emit(event, arg);
    }
    statusListeners.forEach((l) => l(true));
  });
  socket.onAny((event: string, payload: unknown) => handlers.get(event)?.forEach((h) => h(payload)));
  socket.on("disconnect", () => statusListeners.forEach((l) => l(false)));
  socket.on("connect_error", () => statusListeners.forEach((l) => l(false)));
}

export function disconnect(): void {
  socket?.disconnect();
  socket = null;
}

function subscribe(event: string, arg?: string): () => void {
  const key = JSON.stringify([event, arg]);
  const count = subscriptions.get(key) ?? 0;
  subscriptions.set(key, count + 1);
  if (count === 0 && socket?.connected) {
    if (arg === undefined) socket.emit(event);
    else socket.emit(event, arg);
  }
  return () => {
    const left = (subscriptions.get(key) ?? 1) - 1;
    if (left > 0) {
      subscriptions.set(key, left);
      return;
    }
    subscriptions.delete(key);
    const un = `un${event}`;
    if (socket?.connected) {
      if (arg === undefined) socket.emit(un);
      else socket.emit(un, arg);
    }
  };
}

/// Subscribes with `subscribe_*` (and `arg`) while mounted, calling `handler` for each
/// `event` received.
export function useLiveEvent<T>(
  subscription: string | null,
  arg: string | undefined,
  event: string,
  handler: (payload: T) => void,
): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const unsub = subscription ? subscribe(subscription, arg) : () => {};
    const listener = (payload: unknown) => latest.current(payload as T);
    const forEvent = handlers.get(event) ?? new Set();
    handlers.set(event, forEvent);
    forEvent.add(listener);
    return () => {
      forEvent.delete(listener);
      unsub();
    };
  }, [subscription, arg, event]);
}

export function useConnected(): boolean {
  const [connected, setConnected] = useState(socket?.connected ?? false);
  useEffect(() => {
    statusListeners.add(setConnected);
    return () => {
      statusListeners.delete(setConnected);
    };
  }, []);
  return connected;
}
