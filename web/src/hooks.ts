import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/// Runs `load` when `deps` change, and every `pollMs` if given; keeps the last data
/// while reloading so polling does not flash a spinner.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  const latest = useRef(load);
  latest.current = load;

  useEffect(() => {
    setData(null);
    setError(null);
    setLoading(true);
  }, deps);

  useEffect(() => {
    const mine = ++generation.current;
    latest
      .current()
      .then((d) => {
        if (mine !== generation.current) return;
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => {
        if (mine === generation.current) setError(e);
      })
      .finally(() => {
        if (mine === generation.current) setLoading(false);
      });
  }, [...deps, tick]);

  useEffect(() => {
    if (!pollMs) return;
    const id = window.setInterval(() => {
      if (document.visibilityState === "visible") setTick((t) => t + 1);
    }, pollMs);
    return () => window.clearInterval(id);
  }, [pollMs, ...deps]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/// A stable function that runs the latest `callback` at most once per `ms` (the last
/// call within a window still runs at its end), so bursts of live events cause one reload.
export function useThrottle(callback: () => void, ms = 1000): () => void {
  const latest = useRef(callback);
  latest.current = callback;
  const timer = useRef<number | null>(null);
  const last = useRef(0);
  useEffect(() => () => {
    if (timer.current !== null) window.clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current !== null) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = window.setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      latest.current();
    }, wait);
  }, [ms]);
}
