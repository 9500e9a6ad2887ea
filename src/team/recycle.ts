// Team mode's recycle bin (RecycleStore, src/api/recycle.ts): soft delete and restore set or clear team_run's
// deleted_at (conditionally, so two replicas agree), take a new list_version and tell every replica.
import type { DeletedRunItem, RecycleResult, RecycleStore } from "../api/recycle.ts";
import type { TeamService } from "./service.ts";

export function teamRecycleStore(svc: TeamService): RecycleStore {
  const sql = svc.sql;
  const stateOf = async (id: string) => (await sql`select deleted_at from team_run where run_id = ${id}`) as { deleted_at: number | null }[];
  return {
    async softDelete(id): Promise<RecycleResult> {
      const rows = await stateOf(id);
      if (!rows.length) return { success: false, error: "run not found" };
      const done = await sql`update team_run set deleted_at = ${Date.now() / 1000}, delete_reason = 'user_deleted', list_version = nextval('team_list_version')
        where run_id = ${id} and deleted_at is null returning run_id`;
      if (!done.length) return { success: false, error: "already deleted" };
      await svc.notify({ run_id: id, seq: 0, kind: "deleted" });
      return { success: true };
    },
    async restore(id): Promise<RecycleResult> {
      const rows = await stateOf(id);
      if (!rows.length) return { success: false, error: "run not found" };
      const done = await sql`update team_run set deleted_at = null, delete_reason = null, list_version = nextval('team_list_version')
        where run_id = ${id} and deleted_at is not null returning run_id`;
      if (!done.length) return { success: false, error: "run not deleted" };
      await svc.notify({ run_id: id, seq: 0, kind: "updated" });
      return { success: true };
    },
    async deleted(): Promise<DeletedRunItem[]> {
      const rows = (await sql`select run_id, path, meta->>'alias' as alias, created_at, deleted_at, delete_reason,
          coalesce(nullif(status->>'status', ''), 'finished') as status
        from team_run where deleted_at is not null order by deleted_at desc, run_id`) as {
        run_id: string;
        path: string;
        alias: string | null;
        created_at: number;
        deleted_at: number;
        delete_reason: string | null;
        status: string;
      }[];
      return rows.map((r) => ({
        id: r.run_id,
        path: r.path === "" ? null : r.path,
        alias: r.alias || null,
        created_time: r.created_at,
        deleted_at: r.deleted_at,
        delete_reason: r.delete_reason ?? "unknown",
        original_status: r.status,
        run_dir: `runs/${r.path ? `${r.path}/` : ""}${r.run_id}`,
      }));
    },
  };
}
