// The fleet: its upstream hosts, the merged run list with fleet ids, id resolution, and the change feed pages subscribe to.
import { HttpError } from "../api/errors.ts";
import type { Logger } from "../util/log.ts";
import { hostSlug, qualify, splitQualified, uniqueSlugs } from "./ids.ts";
import type { FleetItem } from "./merge.ts";
import { DEFAULT_TIMINGS, type RunItem, Upstream, type UpstreamSpec, type UpstreamTimings } from "./upstream.ts";

/** A run id resolved to its host and the id that host knows it by. */
export interface ResolvedRun {
  up: Upstream;
  runId: string;
  /** The id the fleet lists it under. */
  fleetId: string;
}

/** A change as pushed to pages: the fleet id and what happened. */
export interface FleetChange {
  run_id: string;
  kind: string;
}

/** Every host of a fleet-mode server; built by the command that starts the server, hosts added and removed by the Remote page (src/fleet/ui-fleet.ts). */
export class Fleet {
  readonly hosts: Upstream[];
  private readonly slugs: Set<string>;
  private started = false;
  private merged: FleetItem[] = [];
  private mergedJson?: string;
  /** Each online host's items, and its serialised list part (reused until its list or the collisions change). */
  private perHost = new Map<Upstream, FleetItem[]>();
  private fragments = new Map<Upstream, { key: string; json: string }>();
  private collisions = "";
  private collisionsVersion = 0;
  private readonly listeners = new Set<(changes: FleetChange[]) => void>();
  private readonly stateListeners = new Set<(up: Upstream) => void>();
  /** raw id → online hosts holding it. */
  private owners = new Map<string, Upstream[]>();

  constructor(
    specs: UpstreamSpec[],
    private readonly log: Logger,
    private readonly timings: UpstreamTimings = DEFAULT_TIMINGS,
  ) {
    const slugs = uniqueSlugs(specs.map((s) => s.label));
    this.slugs = new Set(slugs);
    this.hosts = specs.map((spec, i) => this.upstream(spec, slugs[i]));
  }

  private upstream(spec: UpstreamSpec, slug: string): Upstream {
    return new Upstream(spec, slug, { state: (up) => this.onState(up), runs: (up, changed) => this.onRuns(up, changed) }, this.log, this.timings);
  }

  /** Starts every host's connection (none waits for another). */
  start(): void {
    this.started = true;
    for (const h of this.hosts) h.start();
  }

  stop(): void {
    this.started = false;
    for (const h of this.hosts) h.stop();
  }

  /** Adds a host (connecting at once when the fleet runs); its slug never changes another host's. Throws when the label is taken. */
  add(spec: UpstreamSpec): Upstream {
    if (this.hosts.some((h) => h.label === spec.label)) throw new Error(`host ${spec.label} is already in the fleet`);
    const base = hostSlug(spec.label);
    let slug = base;
    for (let n = 2; this.slugs.has(slug); n++) slug = `${base}-${n}`;
    this.slugs.add(slug);
    const up = this.upstream(spec, slug);
    this.hosts.push(up);
    if (this.started) up.start();
    for (const fn of this.stateListeners) fn(up);
    return up;
  }

  /** Removes a host: it stops, and its listed runs leave the merged list (pages get `removed`). False when unknown. */
  remove(label: string): boolean {
    const at = this.hosts.findIndex((h) => h.label === label);
    if (at < 0) return false;
    const up = this.hosts[at];
    up.stop();
    const removed: FleetChange[] = this.merged.filter((r) => r.host === label).map((r) => ({ run_id: r.id, kind: "removed" }));
    this.hosts.splice(at, 1);
    this.slugs.delete(up.slug);
    this.rebuild();
    this.emit(removed);
    for (const fn of this.stateListeners) fn(up);
    return true;
  }

  /** The merged list of every online host, in host order then each host's own order. */
  items(): FleetItem[] {
    return this.merged;
  }

  /** The full merged list as JSON (no summary), cached until a list changes. */
  itemsJson(): string {
    if (this.mergedJson !== undefined) return this.mergedJson;
    const parts: string[] = [];
    for (const [h, items] of this.perHost) {
      const key = `${h.listVersion}:${this.collisionsVersion}`;
      let f = this.fragments.get(h);
      if (f?.key !== key) {
        f = { key, json: items.map(({ summary: _s, ...rest }) => JSON.stringify(rest)).join(",") };
        this.fragments.set(h, f);
      }
      if (f.json) parts.push(f.json);
    }
    this.mergedJson = "[" + parts.join(",") + "]";
    return this.mergedJson;
  }

  /**
   * Whether the merged list is complete: `building` while a host is still making its first connection
   * (its runs are not there yet) or any online host's last list was read during its first index build
   * (that host's runs are partial until its next read), with the hosts' `indexed/total` summed (`?` when a
   * host does not know its total yet). A host that went offline does not count: its runs left on purpose.
   */
  indexState(): { state: "building" | "ready"; progress: string } {
    let state: "building" | "ready" = "ready";
    let indexed = 0;
    let total: number | undefined = 0;
    for (const h of this.hosts) {
      if (h.state === "connecting") {
        state = "building";
        total = undefined;
        continue;
      }
      if (!h.online) continue;
      if (h.indexState !== "building") {
        indexed += h.runs.length;
        if (total !== undefined) total += h.runs.length;
        continue;
      }
      state = "building";
      const m = /^(\d+)\/(\d+|\?)$/.exec(h.indexProgress ?? "");
      indexed += m ? Number(m[1]) : h.runs.length;
      total = m && m[2] !== "?" && total !== undefined ? total + Number(m[2]) : undefined;
    }
    return { state, progress: `${indexed}/${total ?? "?"}` };
  }

  /** The id a host's run is listed under. */
  fleetId(up: Upstream, runId: string): string {
    return (this.owners.get(runId)?.length ?? 0) > 1 ? qualify(up.slug, runId) : runId;
  }

  /**
   * The host and raw id of a fleet id; 404 for an unknown run, 409 for a plain id several hosts hold,
   * 503 when its host is offline. A qualified id always resolves, whether or not it is needed now.
   */
  resolve(id: string): ResolvedRun {
    const q = splitQualified(id, this.slugs);
    // "." and ".." are no run's id, and as a path segment they would climb out of /api/runs/ on the host
    if (isDotSegment(id) || (q && isDotSegment(q.runId))) throw new HttpError(404, "Run not found");
    if (q) {
      const up = this.hosts.find((h) => h.slug === q.slug)!;
      if (!up.online) throw offline(up);
      return { up, runId: q.runId, fleetId: this.fleetId(up, q.runId) };
    }
    const owners = this.owners.get(id) ?? [];
    if (owners.length === 1) return { up: owners[0], runId: id, fleetId: id };
    if (owners.length > 1) {
      throw new HttpError(409, `Run id ${id} exists on several hosts (${owners.map((o) => o.label).join(", ")}): use ${owners.map((o) => qualify(o.slug, id)).join(" or ")}`);
    }
    const gone = this.hosts.find((h) => !h.online && h.runs.some((r) => r.id === id));
    if (gone) throw offline(gone);
    const online = this.hosts.filter((h) => h.online);
    // a run created since the last list refresh: with one host there is only one place to ask
    if (online.length === 1) return { up: online[0], runId: id, fleetId: id };
    throw new HttpError(404, "Run not found");
  }

  /** Subscribes to run changes with fleet ids (list refreshes, hosts leaving and coming back); returns the unsubscribe. */
  onChange(fn: (changes: FleetChange[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Subscribes to host state changes. */
  onHostState(fn: (up: Upstream) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  private onState(up: Upstream): void {
    const before = new Map(this.merged.map((r) => [r.id, r]));
    this.rebuild();
    if (!up.online) {
      // its runs leave the list: tell pages which ones (ids as they were listed)
      const removed: FleetChange[] = [];
      for (const r of up.runs) {
        const id = qualify(up.slug, r.id);
        const listed = before.has(id) ? id : r.id;
        if (before.get(listed)?.host === up.label) removed.push({ run_id: listed, kind: "removed" });
      }
      this.emit(removed);
    }
    for (const fn of this.stateListeners) fn(up);
  }

  private onRuns(up: Upstream, changed: { run_id: string; kind: string }[]): void {
    const before = new Set(this.merged.map((r) => r.id));
    this.rebuild();
    const out: FleetChange[] = changed.map((c) => ({ run_id: this.fleetId(up, c.run_id), kind: c.kind }));
    if (changed.length === 0) {
      // a host came (back) online or a periodic refresh: announce the runs that were not listed before
      for (const r of this.merged) if (r.host === up.label && !before.has(r.id)) out.push({ run_id: r.id, kind: "added" });
    }
    this.emit(out);
  }

  private emit(changes: FleetChange[]): void {
    if (changes.length === 0) return;
    for (const fn of this.listeners) fn(changes);
  }

  private rebuild(): void {
    const owners = new Map<string, Upstream[]>();
    for (const h of this.hosts) {
      if (!h.online) continue;
      for (const r of h.runs) {
        const list = owners.get(r.id);
        if (list) {
          if (!list.includes(h)) list.push(h);
        } else owners.set(r.id, [h]);
      }
    }
    this.owners = owners;
    const collided: string[] = [];
    for (const [id, list] of owners) if (list.length > 1) collided.push(`${id}\u0000${list.map((h) => h.slug).join(",")}`);
    const collisions = collided.sort().join("\n");
    if (collisions !== this.collisions) {
      this.collisions = collisions;
      this.collisionsVersion++;
    }
    const merged: FleetItem[] = [];
    const perHost = new Map<Upstream, FleetItem[]>();
    for (const h of this.hosts) {
      if (!h.online) continue;
      const items = h.runs.map((r) => fleetItem(h, r, (owners.get(r.id)?.length ?? 0) > 1));
      perHost.set(h, items);
      for (const it of items) merged.push(it);
    }
    for (const h of this.fragments.keys()) if (!perHost.has(h)) this.fragments.delete(h);
    this.perHost = perHost;
    this.merged = merged;
    this.mergedJson = undefined;
  }
}

function fleetItem(up: Upstream, r: RunItem, qualified: boolean): FleetItem {
  const { id, ...rest } = r;
  return { id: qualified ? qualify(up.slug, id) : id, host: up.label, ...rest };
}

function isDotSegment(id: string): boolean {
  return id === "." || id === "..";
}

function offline(up: Upstream): HttpError {
  return new HttpError(503, `Host ${up.label} is offline${up.reason ? ` (${up.reason})` : ""}; its runs are back when it reconnects`);
}
