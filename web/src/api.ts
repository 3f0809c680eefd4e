// The public API's envelope: {success, data, pagination?} or {success: false, error}.
import { forgetKey, storedKey } from "./session";

export interface Pagination {
  page: number;
  limit: number;
  total: number;
  pages: number;
}

export interface Page<T> {
  items: T[];
  pagination: Pagination;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/// Called when the server refuses the key, so the app can show the sign-in page.
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

type Query = Record<string, string | number | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

interface Envelope {
  success: boolean;
  data?: unknown;
  pagination?: Pagination;
  error?: { code: string; message: string; details?: unknown };
}

async function send(
  method: string,
  path: string,
  body?: unknown,
  key = storedKey(),
): Promise<Envelope> {
  const headers: Record<string, string> = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  let payload: BodyInit | undefined;
  if (typeof body === "string") {
    headers["Content-Type"] = "text/csv";
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Is outcall running?");
  }
  let env: Envelope;
  try {
    env = (await res.json()) as Envelope;
  } catch {
    throw new ApiError(res.status, "bad_response", `The server answered ${res.status} without JSON.`);
  }
  if (!res.ok || !env.success) {
    const err = env.error ?? { code: "error", message: `Request failed (${res.status})` };
    if (res.status === 401) {
      forgetKey();
      onUnauthorized();
    }
    throw new ApiError(res.status, err.code, err.message, err.details);
  }
  return env;
}

export async function get<T>(path: string, query?: Query): Promise<T> {
  return (await send("GET", withQuery(path, query))).data as T;
}

export async function list<T>(path: string, query?: Query): Promise<Page<T>> {
  const env = await send("GET", withQuery(path, query));
  const items = (env.data as T[]) ?? [];
  return {
    items,
    pagination: env.pagination ?? { page: 1, limit: items.length, total: items.length, pages: 1 },
  };
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  return (await send("POST", path, body ?? {})).data as T;
}

export async function put<T>(path: string, body: unknown): Promise<T> {
  return (await send("PUT", path, body)).data as T;
}

export async function del<T>(path: string, body?: unknown): Promise<T> {
  return (await send("DELETE", path, body)).data as T;
}

/// Checks a key before keeping it: any authenticated list answers.
export async function checkKey(key: string): Promise<void> {
  await send("GET", "/api/db/calls?limit=1&fields=callSid", undefined, key);
}

/// The envelope's message already names each bad field.
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
