// One fleet host's viewer as an upstream: state machine (connecting/online/offline/reconnecting), health probe, backoff, cached run list, change feed.
import type { Logger } from "../util/log.ts";

/** Where a host's viewer answers: its base URL (a forwarded local port) and an optional bearer token. */
export interface UpstreamSpec {
  /** The label shown as `host` (as given on the command line or a saved connection). */
  label: string;
  baseUrl: string;
  token?: string;
}

/** A host's connection state as `GET /api/fleet` reports it. */
export type UpstreamState = "connecting" | "online" | "offline" | "reconnecting";

/** Timings of the state machine; tests and the benchmark use the defaults. */
export interface UpstreamTimings {
  /** Health probe period while online. */
  probeMs: number;
  /** A probe (or list fetch's headers) not answered within this is a failure. */
  probeTimeoutMs: number;
  /** First retry delay after a failure; doubles per failed attempt up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Full list refresh while online even without change events (missed events, clock skew). */
  refreshMs: number;
  /** A whole list download may take this long (10,000+ runs over a slow tunnel). */
  listTimeoutMs: number;
  /** Retry delay after the host refused our token (a wrong token does not fix itself: no hot loop). */
  unauthorizedRetryMs?: number;
}

/** The reason shown for a host that answered 401/403: the token sent to it (or its absence) is wrong. */
export const UNAUTHORIZED = "unauthorized";

/** While a host answers `X-Index-State: building`, its list is read again this often. */
const BUILDING_REREAD_MS = 1000;

/** Up to this many changed runs are re-read one by one; more re-read the whole list. */
const MAX_PATCHED = 20;

export const DEFAULT_TIMINGS: UpstreamTimings = {
  probeMs: 1000,
  probeTimeoutMs: 1500,
  minBackoffMs: 500,
  maxBackoffMs: 4000,
  refreshMs: 30_000,
  listTimeoutMs: 20_000,
  unauthorizedRetryMs: 30_000,
};

/** A list item as the upstream sends it (spec §3.2 keys, plus `summary`). */
export type RunItem = Record<string, unknown> & { id: string };

/** What an upstream tells its owner. */
export interface UpstreamEvents {
  /** The state changed (and with it whether the runs are listed). */
  state(up: Upstream): void;
  /** The run list was re-read; `changed` are the run ids the host announced (empty for a periodic refresh). */
  runs(up: Upstream, changed: { run_id: string; kind: string }[]): void;
}

/** A fleet host: probes its viewer, keeps its run list, follows its `/api/live` run changes, reconnects with backoff. */
export class Upstream {
  state: UpstreamState = "connecting";
  /** Why the host is offline (connection refused, timeout, HTTP status…). */
  reason: string | null = null;
  /** Round-trip of the last successful probe, ms. */
  latencyMs: number | null = null;
  /** When the state last changed (epoch seconds). */
  since = Date.now() / 1000;
  /** Failed attempts since the host was last online. */
  attempts = 0;
  nextRetryAt: number | null = null;
  /** The host's runs while online; the last known list (not listed, kept to explain 503s) while not. */
  runs: RunItem[] = [];
  /** The server version the host reported. */
  version: string | null = null;
  /** Bumped whenever `runs` is replaced. */
  listVersion = 0;
  /** The host's index as its last full list read said (`building`: its first index build runs and `runs` is partial). */
  indexState: "building" | "ready" = "ready";
  /** `indexed/total` of that read (`X-Index-Progress`), while building. */
  indexProgress: string | null = null;
  /** The host's GPU summary from its last telemetry sample (refreshed every few probes). */
  gpu: GpuSummary | null = null;
  private probes = 0;

  private timer?: ReturnType<typeof setTimeout>;
  /** Aborted when the host goes offline: requests forwarded to it end then instead of at their own timeout. */
  private session = new AbortController();
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private socket?: WebSocket;
  private pending: { run_id: string; kind: string }[] = [];
  private debounce?: ReturnType<typeof setTimeout>;
  private fetching = false;
  private fetchAgain = false;
  private stopped = false;
  /** Set by `hold`: the owner's transport to the host is not up, so the host is reported, not probed. */
  private held = false;
  private lastFullRefresh = 0;

  constructor(
    readonly spec: UpstreamSpec,
    readonly slug: string,
    private readonly events: UpstreamEvents,
    private readonly log: Logger,
    private readonly timings: UpstreamTimings = DEFAULT_TIMINGS,
  ) {}

  get label(): string {
    return this.spec.label;
  }

  get online(): boolean {
    return this.state === "online";
  }

  /** Starts connecting (returns at once). */
  start(): void {
    this.schedule(0);
  }

  /** Stops every timer and socket. */
  stop(): void {
    this.stopped = true;
    this.session.abort(new Error("the fleet stopped"));
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.debounce);
    this.closeSocket();
  }

  /** Headers for a request to this host (its token). */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.spec.token ? { ...extra, authorization: `Bearer ${this.spec.token}` } : extra;
  }

  /** The ws:// URL of a path on this host. */
  wsUrl(path: string): string {
    return this.spec.baseUrl.replace(/^http/, "ws") + path;
  }

  /** A signal that fires when the host goes offline (or the fleet stops). */
  get sessionSignal(): AbortSignal {
    return this.session.signal;
  }

  /** A WebSocket to a path on this host, carrying its token as every other request does. */
  socketTo(path: string): WebSocket {
    // Bun's WebSocket takes request headers as a second argument; the DOM typings know only protocols
    const BunSocket = WebSocket as unknown as new (url: string, opts: { headers: Record<string, string> }) => WebSocket;
    return new BunSocket(this.wsUrl(path), { headers: this.headers() });
  }

  /**
   * Reports the host as `state` with the owner's `reason`, attempts and next retry instead of probing
   * it (an online host goes offline, its runs leave the list): the owner's transport (a Remote-page
   * host's SSH session, src/fleet/ui-fleet.ts) is not up, so a probe of its forward port could only say
   * "connection refused". `release` starts probing.
   */
  hold(state: Exclude<UpstreamState, "online">, reason: string | null, attempts: number, nextRetryAt: number | null): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (this.online) {
      this.log.warn(`fleet: host ${this.label} offline: ${reason}`);
      this.session.abort(new Error(`host ${this.label} went offline (${reason})`));
      this.session = new AbortController();
      this.closeSocket();
      clearTimeout(this.debounce);
      this.debounce = undefined;
      this.pending = [];
    }
    this.held = true;
    this.attempts = attempts;
    this.reason = reason;
    this.nextRetryAt = nextRetryAt;
    this.setState(state);
  }

  /** The owner's transport is up: probe the host now (and from then on as any host). */
  release(): void {
    if (!this.held || this.stopped) return;
    this.held = false;
    this.schedule(0);
  }

  /** Marks the host offline at once (a request or socket saw it fail) and starts reconnecting. */
  fail(reason: string): void {
    if (this.stopped || this.state === "offline" || this.state === "reconnecting" || this.state === "connecting") return;
    this.goOffline(reason);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped || this.held) return;
    this.nextRetryAt = this.online ? null : Date.now() / 1000 + ms / 1000;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.held) return;
    if (this.online) {
      const probe = await this.probe();
      if (this.stopped || !this.online) return;
      if (!probe.ok) return this.goOffline(probe.reason);
      if (!this.socket) {
        // the probe answers but the change feed dropped (the viewer restarted in between): follow it again
        this.openSocket();
        this.requestRefresh([]);
      }
      if (Date.now() - this.lastFullRefresh > this.timings.refreshMs) this.requestRefresh([]);
      if (this.probes++ % 5 === 0) void this.sampleGpu();
      return this.schedule(this.timings.probeMs);
    }
    if (this.state === "offline") this.setState("reconnecting");
    const probe = await this.probe();
    if (this.stopped || this.held) return;
    if (probe.ok) {
      const list = await this.fetchList();
      if (this.stopped || this.held) return;
      if (list.ok) {
        this.attempts = 0;
        this.reason = null;
        this.replaceRuns(list);
        this.openSocket();
        this.setState("online");
        this.events.runs(this, []);
        return this.schedule(this.timings.probeMs);
      }
      return this.retryLater(list.reason);
    }
    this.retryLater(probe.reason);
  }

  private retryLater(reason: string): void {
    this.attempts++;
    this.reason = reason;
    if (this.state !== "offline") this.setState("offline");
    const backoff = Math.min(this.timings.maxBackoffMs, this.timings.minBackoffMs * 2 ** Math.max(0, this.attempts - 1));
    this.schedule(reason === UNAUTHORIZED ? Math.max(backoff, this.timings.unauthorizedRetryMs ?? 30_000) : backoff);
  }

  private goOffline(reason: string): void {
    this.log.warn(`fleet: host ${this.label} offline: ${reason}`);
    this.session.abort(new Error(`host ${this.label} went offline (${reason})`));
    this.session = new AbortController();
    this.closeSocket();
    clearTimeout(this.debounce);
    // requestRefresh waits while this is set: a cleared timer left here would block every later re-read
    this.debounce = undefined;
    this.pending = [];
    this.attempts = 1;
    this.reason = reason;
    this.setState("offline");
    this.schedule(reason === UNAUTHORIZED ? (this.timings.unauthorizedRetryMs ?? 30_000) : this.timings.minBackoffMs);
  }

  private setState(state: UpstreamState): void {
    if (state === this.state) return;
    this.state = state;
    this.since = Date.now() / 1000;
    if (state === "online") this.log.info(`fleet: host ${this.label} online (${this.runs.length} runs)`);
    this.events.state(this);
  }

  private async probe(): Promise<{ ok: true } | { ok: false; reason: string }> {
    const t0 = performance.now();
    try {
      const res = await fetch(this.spec.baseUrl + "/api/health", {
        headers: this.headers(),
        signal: AbortSignal.timeout(this.timings.probeTimeoutMs),
      });
      const body = (await res.json().catch(() => null)) as { server_version?: string } | null;
      if (res.status === 401 || res.status === 403) return { ok: false, reason: UNAUTHORIZED };
      if (!res.ok) return { ok: false, reason: `health check answered HTTP ${res.status}` };
      this.latencyMs = Math.round((performance.now() - t0) * 10) / 10;
      this.version = body?.server_version ?? null;
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: failureReason(e, this.timings.probeTimeoutMs) };
    }
  }

  private async sampleGpu(): Promise<void> {
    try {
      const res = await fetch(this.spec.baseUrl + "/api/gpu/telemetry", { headers: this.headers(), signal: AbortSignal.timeout(this.timings.probeTimeoutMs) });
      if (res.ok) this.gpu = gpuSummary(await res.json());
    } catch (e) {
      this.log.debug(`fleet: GPU sample of ${this.label} failed: ${failureReason(e, this.timings.probeTimeoutMs)}`);
    }
  }

  private async fetchList(): Promise<{ ok: true; runs: RunItem[]; building: boolean; progress: string | null } | { ok: false; reason: string }> {
    try {
      const res = await fetch(this.spec.baseUrl + "/api/runs?include=summary", {
        headers: this.headers(),
        signal: AbortSignal.timeout(this.timings.listTimeoutMs),
      });
      if (res.status === 401 || res.status === 403) return { ok: false, reason: UNAUTHORIZED };
      if (!res.ok) return { ok: false, reason: `run list answered HTTP ${res.status}` };
      const runs = (await res.json()) as unknown;
      if (!Array.isArray(runs)) return { ok: false, reason: "run list is not a JSON array" };
      const building = res.headers.get("x-index-state") === "building";
      const progress = res.headers.get("x-index-progress");
      return { ok: true, runs: runs.filter((r): r is RunItem => !!r && typeof r === "object" && typeof r.id === "string"), building, progress };
    } catch (e) {
      return { ok: false, reason: failureReason(e, this.timings.listTimeoutMs) };
    }
  }

  /**
   * Re-reads only the changed runs (`?q=<id>` answers the run among any whose text contains the id): a
   * change costs a few small requests instead of the whole list. False when a read failed (then the
   * whole list is read instead).
   */
  private async patchRuns(changed: { run_id: string; kind: string }[]): Promise<boolean> {
    const ids = [...new Set(changed.map((c) => c.run_id))];
    const found = await Promise.all(
      ids.map(async (id) => {
        try {
          const res = await fetch(`${this.spec.baseUrl}/api/runs?include=summary&q=${encodeURIComponent(id)}`, {
            headers: this.headers(),
            signal: AbortSignal.timeout(this.timings.probeTimeoutMs * 2),
          });
          if (!res.ok) return undefined;
          const items = (await res.json()) as RunItem[];
          return { id, item: Array.isArray(items) ? (items.find((r) => r && r.id === id) ?? null) : null };
        } catch (e) {
          this.log.debug(`fleet: re-reading run ${id} of ${this.label} failed: ${failureReason(e, this.timings.probeTimeoutMs * 2)}`);
          return undefined;
        }
      }),
    );
    if (found.some((f) => f === undefined)) return false;
    const runs = this.runs.slice();
    const at = new Map(runs.map((r, i) => [r.id, i]));
    for (const f of found as { id: string; item: RunItem | null }[]) {
      const i = at.get(f.id);
      if (f.item && i !== undefined) runs[i] = f.item;
      else if (f.item) runs.push(f.item);
      else if (i !== undefined) runs[i] = undefined as unknown as RunItem;
    }
    this.runs = runs.filter((r) => r !== undefined);
    this.listVersion++;
    return true;
  }

  private replaceRuns(list: { runs: RunItem[]; building: boolean; progress: string | null }): void {
    this.runs = list.runs;
    this.listVersion++;
    this.indexState = list.building ? "building" : "ready";
    this.indexProgress = list.building ? list.progress : null;
    this.lastFullRefresh = Date.now();
    clearTimeout(this.refreshTimer);
    // the host is still building its first index (issue 13): its list holds the runs indexed so far, read it again soon
    if (list.building) this.refreshTimer = setTimeout(() => this.requestRefresh([]), BUILDING_REREAD_MS);
  }

  /** Re-reads the list soon (changes arrive in bursts); overlapping requests coalesce into one more fetch. */
  private requestRefresh(changed: { run_id: string; kind: string }[]): void {
    this.pending.push(...changed);
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.refresh();
    }, 50);
  }

  private async refresh(): Promise<void> {
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    try {
      do {
        this.fetchAgain = false;
        const changed = this.pending;
        this.pending = [];
        // a few changed runs are re-read one by one; many (or a failed read) re-read the whole list
        const patched = changed.length > 0 && changed.length <= MAX_PATCHED && (await this.patchRuns(changed));
        if (this.stopped || !this.online) return;
        if (!patched) {
          const list = await this.fetchList();
          if (this.stopped || !this.online) return;
          if (!list.ok) return this.goOffline(list.reason);
          this.replaceRuns(list);
        }
        this.events.runs(this, changed);
      } while (this.fetchAgain || this.pending.length > 0);
    } finally {
      this.fetching = false;
    }
  }

  private openSocket(): void {
    this.closeSocket();
    const ws = this.socketTo("/api/live");
    this.socket = ws;
    ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe_runs" }));
    ws.onmessage = (ev) => {
      const msg = parseJson(ev.data);
      if (msg?.type === "run_changed" && typeof msg.run_id === "string") {
        this.requestRefresh([{ run_id: msg.run_id, kind: String(msg.kind ?? "updated") }]);
      }
    };
    ws.onclose = () => {
      if (this.socket !== ws || this.stopped) return;
      this.socket = undefined;
      // the viewer died or the tunnel dropped: confirm with a probe now instead of waiting for the next one
      if (this.online) this.schedule(0);
    };
  }

  private closeSocket(): void {
    const ws = this.socket;
    this.socket = undefined;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  }
}

/** A host's GPUs in one line of numbers for `GET /api/fleet`. */
export interface GpuSummary {
  available: boolean;
  count: number;
  /** Mean utilisation over the GPUs, percent. */
  utilization: number | null;
  mem_used_mib: number | null;
  mem_total_mib: number | null;
  reason?: string;
}

/** Summarises a `/api/gpu/telemetry` answer. */
export function gpuSummary(t: unknown): GpuSummary {
  const tel = (t ?? {}) as { available?: boolean; reason?: string; gpus?: Record<string, unknown>[] };
  if (!tel.available || !Array.isArray(tel.gpus)) return { available: false, count: 0, utilization: null, mem_used_mib: null, mem_total_mib: null, reason: tel.reason };
  const nums = (k: string) => tel.gpus!.map((g) => g[k]).filter((v): v is number => typeof v === "number");
  const util = nums("util_gpu");
  const sum = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) : null);
  return {
    available: true,
    count: tel.gpus.length,
    utilization: util.length ? Math.round((sum(util)! / util.length) * 10) / 10 : null,
    mem_used_mib: sum(nums("mem_used_mib")),
    mem_total_mib: sum(nums("mem_total_mib")),
  };
}

/** A one-line reason for a failed request. */
export function failureReason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  if (err?.code === "ConnectionRefused" || err?.code === "ECONNREFUSED") return "connection refused";
  if (err?.code) return `${err.code}: ${err.message ?? ""}`.trim();
  return err?.message ?? String(e);
}

function parseJson(data: unknown): Record<string, unknown> | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const v = JSON.parse(data);
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
