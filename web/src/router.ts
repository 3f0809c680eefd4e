// Hash routes (`#/calls/CA…`), so the server needs no per-page route.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  path: string[];
  query: URLSearchParams;
}

function current(): Route {
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?", 2);
  return {
    path: path.split("/").filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(qs ?? ""),
  };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const onChange = () => setRoute(current());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function navigate(path: string): void {
  window.location.hash = path;
}

/// Replaces the query of the current route (filters, page) without a new history entry.
export function setQuery(values: Record<string, string | number | undefined>): void {
  const { path, query } = current();
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === "") query.delete(k);
    else query.set(k, String(v));
  }
  const qs = query.toString();
  const hash = `#/${path.map(encodeURIComponent).join("/")}${qs ? `?${qs}` : ""}`;
  history.replaceState(null, "", hash);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
