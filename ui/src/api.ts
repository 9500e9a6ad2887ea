// Talks to the server's JSON API: one error type carrying the `detail` message, and a hook for loading data.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

/** A failed API call: `status` 0 means the server could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
    /** The API path that failed. */
    readonly path?: string,
  ) {
    super(message);
  }
  /** True when the server did not answer (network down, server stopped). */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

/** Turns an error body `{"detail": …}` into one readable sentence (string, 422 list or `{message}` object). */
export function detailMessage(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => (d && typeof d === "object" && "msg" in d ? String((d as { msg: unknown }).msg) : String(d))).join("; ");
  }
  if (detail && typeof detail === "object" && "message" in detail) return String((detail as { message: unknown }).message);
  return `HTTP ${status}`;
}

/** Calls the API and returns the parsed JSON body and the headers; throws ApiError on failure. */
export async function request<T>(path: string, init?: RequestInit & { json?: unknown }): Promise<{ data: T; headers: Headers }> {
  const opts: RequestInit = { ...init };
  if (init?.json !== undefined) {
    opts.body = JSON.stringify(init.json);
    opts.headers = { "content-type": "application/json", ...(init.headers ?? {}) };
  }
  let res: Response;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, `Cannot reach the Runicorn server at ${location.host}. Is \`runicorn serve\` running?`, undefined, path);
  }
  const text = await res.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!res.ok) throw new ApiError(res.status, detailMessage(body, res.status), body, path);
  return { data: body as T, headers: res.headers };
}

/** GET a JSON document. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request<T>(path, { signal })).data;
}

/** Send a JSON body with `method` and return the JSON answer. */
export async function sendJson<T>(method: string, path: string, json: unknown): Promise<T> {
  return (await request<T>(path, { method, json })).data;
}

/** Builds a query string from the defined, non-empty values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") out.set(k, String(v));
  const s = out.toString();
  return s ? `?${s}` : "";
}

/** What `useResource` gives a component: the last good data, the last error and a reload function. */
export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
  mutate: (fn: (old: T | undefined) => T | undefined) => void;
}

/** Loads `loader()` whenever `key` changes (null = don't load); keeps showing old data while reloading. */
export function useResource<T>(key: string | null, loader: (signal: AbortSignal) => Promise<T>): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: key !== null });
  const [tick, setTick] = useState(0);
  const loaderRef = useRef(loader);
  loaderRef.current = loader;
  useEffect(() => {
    if (key === null) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loaderRef.current(ctl.signal).then(
      (data) => !ctl.signal.aborted && setState({ data, loading: false }),
      (err) => {
        if (ctl.signal.aborted || (err as Error).name === "AbortError") return;
        const e = err instanceof ApiError ? err : new ApiError(-1, String((err as Error)?.message ?? err));
        setState((s) => ({ data: s.data, error: e, loading: false }));
      },
    );
    return () => ctl.abort();
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const mutate = useCallback((fn: (old: T | undefined) => T | undefined) => setState((s) => ({ ...s, data: fn(s.data) })), []);
  return { data: state.data, error: state.error, loading: state.loading, reload, mutate };
}
