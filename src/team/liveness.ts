// Crash detection in team mode: the file mode's heartbeat rule (src/index/liveness.ts) over team_run. A team
// server cannot see the training machines' processes, so a `running` run whose SDK heartbeat is older than
// HEARTBEAT_TIMEOUT_S is marked failed (`heartbeat_lost`), ended at its last sign of life (the later of its
// heartbeat and its last stored batch). The update is conditional, so replicas checking at once agree.
import type { SQL } from "bun";
import { HEARTBEAT_TIMEOUT_S } from "../index/liveness.ts";
import { refreshListJson } from "./sink.ts";

/** Checks every live running run now; returns how many were checked and how many were marked failed. */
export async function markLostRuns(sql: SQL, now = Date.now() / 1000): Promise<{ checked: number; updated: string[] }> {
  const running = (await sql`select count(*)::int as n from team_run where deleted_at is null and status->>'status' = 'running'`) as { n: number }[];
  const lost = (await sql.begin(async (tx) => {
    const rows = (await tx`update team_run set status = status || jsonb_build_object('status', 'failed', 'exit_reason', 'heartbeat_lost',
          'ended_at', least(greatest((status->>'heartbeat_at')::float8, updated_at), ${now}::float8))
        where deleted_at is null and status->>'status' = 'running'
          and (case when jsonb_typeof(status->'heartbeat_at') = 'number' then (status->>'heartbeat_at')::float8 end) < ${now - HEARTBEAT_TIMEOUT_S}
        returning run_id`) as { run_id: string }[];
    for (const r of rows) await refreshListJson(tx as unknown as SQL, r.run_id);
    return rows;
  })) as { run_id: string }[];
  return { checked: running[0].n, updated: lost.map((r) => r.run_id) };
}
