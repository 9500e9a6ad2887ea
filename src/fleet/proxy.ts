// Per-run request routing: forwards a request to the run's host with the host's id, and rewrites ids in the answer.
import { HttpError } from "../api/errors.ts";
import type { ResolvedRun } from "./fleet.ts";
import { failureReason, UNAUTHORIZED } from "./upstream.ts";

/** Headers passed from the browser to a host, and back (anything else, cookies and tokens included, stays). */
const REQUEST_HEADERS = ["accept", "content-type", "range", "if-none-match", "if-modified-since"];
// the host's CSP travels too: it is stricter for active media (an SVG is sandboxed)
const ANSWER_HEADERS = ["content-security-policy", "content-type", "content-length", "content-disposition", "content-range", "accept-ranges", "cache-control", "etag", "last-modified", "x-total-count"];

/** How long a host may take to start answering a forwarded request (the body may then stream for longer). */
export const FORWARD_TIMEOUT_MS = 15_000;

/**
 * Sends `method path?query` to the run's host (`path` already names the host's id) and returns its answer:
 * JSON with the run's ids rewritten to the fleet id, anything else streamed through.
 */
export async function forward(run: ResolvedRun, method: string, pathAndQuery: string, request: Request, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  for (const h of REQUEST_HEADERS) {
    const v = request.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  let payload: BodyInit | undefined;
  if (body !== undefined && body !== null && method !== "GET" && method !== "HEAD") {
    if (typeof body === "string") payload = body;
    else if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) payload = body as ArrayBuffer;
    else {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
  }
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new DOMException("timeout", "TimeoutError")), FORWARD_TIMEOUT_MS);
  const session = run.up.sessionSignal;
  let res: Response;
  try {
    res = await fetch(run.up.spec.baseUrl + pathAndQuery, { method, headers: run.up.headers(headers), body: payload, signal: AbortSignal.any([ctl.signal, session]), redirect: "manual" });
  } catch (e) {
    clearTimeout(timer);
    const reason = session.aborted ? `it went offline (${run.up.reason ?? "no answer"})` : failureReason(e, FORWARD_TIMEOUT_MS);
    if (!/within/.test(reason)) run.up.fail(reason);
    throw new HttpError(502, `Host ${run.up.label} did not answer: ${reason}`);
  }
  clearTimeout(timer);
  if (res.status === 401) {
    // the host refused this server's token for it: never pass its 401 on (the browser would ask for our token)
    void res.body?.cancel();
    run.up.fail(UNAUTHORIZED);
    throw new HttpError(502, `Host ${run.up.label} refused this server's token for it (${UNAUTHORIZED}); see docs/FLEET.md "Per-host tokens"`);
  }
  const out = new Headers();
  for (const h of ANSWER_HEADERS) {
    const v = res.headers.get(h);
    if (v !== null) out.set(h, v);
  }
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("application/json") && run.runId !== run.fleetId) {
    const text = await res.text();
    out.delete("content-length");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return new Response(text, { status: res.status, headers: out });
    }
    return new Response(JSON.stringify(rewriteIds(json, run.runId, run.fleetId)), { status: res.status, headers: out });
  }
  return new Response(res.body, { status: res.status, headers: out });
}

/** A copy of `v` where `id`/`run_id` values equal to `from` read `to` (the host's id becomes the fleet id). */
export function rewriteIds(v: unknown, from: string, to: string): unknown {
  if (Array.isArray(v)) return v.map((x) => rewriteIds(x, from, to));
  if (!v || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = (k === "id" || k === "run_id") && x === from ? to : rewriteIds(x, from, to);
  }
  return out;
}

/** GETs JSON from a host within `timeoutMs`; undefined (and the reason) when it fails, never throws. */
export async function getJsonFrom(up: ResolvedRun["up"], path: string, timeoutMs: number): Promise<{ ok: true; body: unknown } | { ok: false; reason: string }> {
  try {
    const res = await fetch(up.spec.baseUrl + path, { headers: up.headers(), signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.json().catch(() => undefined);
    if (!res.ok) return { ok: false, reason: `HTTP ${res.status}${body && typeof body === "object" && "detail" in body ? `: ${String((body as { detail: unknown }).detail)}` : ""}` };
    return { ok: true, body };
  } catch (e) {
    return { ok: false, reason: failureReason(e, timeoutMs) };
  }
}
