// Team mode's chart answers with system metrics: `sys/…` keys come from the run's system lines (the file mode's
// system.jsonl store), the others from its metric rows, merged on one x axis as the file mode does (api/metrics.ts).
import { buildKeys, buildSeries, type KeysBody, type SeriesBody, type SeriesOptions } from "../metrics/query.ts";
import { isSystemKey, mergeKeys, mergeSeries } from "../metrics/system.ts";
import type { TeamService } from "./service.ts";

/** A run's keys followed by its system keys. */
export async function teamKeys(svc: TeamService, runId: string): Promise<KeysBody> {
  const run = await svc.runData(runId);
  const sys = await svc.systemData(runId);
  return mergeKeys(buildKeys(run.state, runId), sys ? buildKeys(sys.state, runId) : null);
}

/** A run's series; asked-for `sys/…` keys from its system metrics (null-filled when it has none of them). */
export async function teamSeries(svc: TeamService, runId: string, opts: SeriesOptions): Promise<SeriesBody> {
  const run = await svc.runData(runId);
  const sysKeys = opts.keys?.filter(isSystemKey) ?? [];
  if (!sysKeys.length) return buildSeries(run.state, runId, opts);
  const sys = await svc.systemData(runId);
  const all = sys ? sys.state.columns.filter(isSystemKey) : [];
  const want = sysKeys.filter((k) => all.includes(k));
  const sysBody = sys && want.length ? buildSeries(sys.state, runId, { ...opts, keys: want, columns: undefined }) : null;
  const rest = opts.keys!.filter((k) => !isSystemKey(k));
  const empty: SeriesBody = { run_id: runId, x_key: opts.x, x: [], series: {}, total: 0, sampled: false };
  let ownBody: SeriesBody | null = null;
  if (rest.length || opts.columns?.length) {
    const body = buildSeries(run.state, runId, { ...opts, keys: rest });
    ownBody = rest.length ? body : { ...body, series: {} };
  }
  for (const k of sysKeys) if (!sysBody?.series[k]) (sysBody ?? empty).series[k] = new Array((sysBody ?? empty).x.length).fill(null);
  if (!ownBody) return sysBody ?? empty;
  return mergeSeries(ownBody, sysBody ?? empty);
}
