// The recycle bin dialog: restore soft-deleted runs, or delete them for good after previewing which assets go.
import { useState } from "preact/hooks";
import { ApiError, getJson, sendJson, useResource } from "../api.ts";
import { fmtBytes, fmtTime } from "../format.ts";
import type { AssetRefs, DeletedRun } from "../types.ts";
import { Empty, ErrorState, Loading, Modal, toast } from "./common.tsx";

interface PermanentResult {
  deleted_count: number;
  total_runs: number;
  total_blobs_deleted: number;
  total_bytes_freed: number;
  dry_run: boolean;
}

/** The modal; `onChanged` is called after a restore or delete so the runs list can refresh. */
export function RecycleBin(props: { onClose: () => void; onChanged: () => void }) {
  const bin = useResource("bin", (signal) => getJson<{ deleted_runs: DeletedRun[] }>("/api/recycle-bin", signal));
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [preview, setPreview] = useState<string | null>(null);
  const [plan, setPlan] = useState<PermanentResult | null>(null);
  const [busy, setBusy] = useState(false);
  const refs = useResource(preview, (signal) => getJson<AssetRefs>(`/api/runs/${encodeURIComponent(preview!)}/assets/refs`, signal));
  const rows = bin.data?.deleted_runs ?? [];
  const ids = [...selected].filter((id) => rows.some((r) => r.id === id));

  const toggle = (id: string) => {
    const s = new Set(selected);
    s.has(id) ? s.delete(id) : s.add(id);
    setSelected(s);
  };

  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      toast((e as ApiError).message, "error");
    } finally {
      setBusy(false);
    }
  };

  const restore = (list: string[]) =>
    run(async () => {
      const r = await sendJson<{ restored_count: number; message: string }>("POST", "/api/recycle-bin/restore", { run_ids: list });
      toast(r.message);
      setSelected(new Set());
      bin.reload();
      props.onChanged();
    });

  const planDelete = () =>
    run(async () => {
      setPlan(await sendJson<PermanentResult>("POST", "/api/runs/permanent-delete", { run_ids: ids.slice(0, 50), dry_run: true }));
    });

  const deleteForGood = () =>
    run(async () => {
      const r = await sendJson<PermanentResult>("POST", "/api/runs/permanent-delete", { run_ids: ids.slice(0, 50), dry_run: false });
      toast(`Deleted ${r.deleted_count} of ${r.total_runs} runs permanently, freed ${fmtBytes(r.total_bytes_freed)}`);
      setPlan(null);
      setSelected(new Set());
      setPreview(null);
      bin.reload();
      props.onChanged();
    });

  return (
    <Modal
      title="Recycle bin"
      wide
      onClose={props.onClose}
      footer={
        plan ? (
          <>
            <span class="foot-note">
              Permanently delete {plan.total_runs} run(s): {plan.total_blobs_deleted} archived file(s), {fmtBytes(plan.total_bytes_freed)} freed. This cannot be undone.
            </span>
            <button class="btn" onClick={() => setPlan(null)}>
              Cancel
            </button>
            <button class="btn btn-danger" disabled={busy} onClick={deleteForGood}>
              Delete permanently
            </button>
          </>
        ) : (
          <>
            <span class="foot-note">{ids.length ? `${ids.length} selected` : `${rows.length} run(s) in the bin`}</span>
            <button class="btn" disabled={!ids.length || busy} onClick={() => restore(ids)}>
              Restore selected
            </button>
            <button class="btn btn-danger" disabled={!ids.length || busy} onClick={planDelete}>
              Delete permanently…
            </button>
          </>
        )
      }
    >
      {bin.error && !bin.data ? (
        <ErrorState error={bin.error} onRetry={bin.reload} what="the recycle bin" />
      ) : !bin.data ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty title="The recycle bin is empty">Deleted runs appear here until you restore them or delete them permanently.</Empty>
      ) : (
        <div class="bin">
          <div class="table-wrap">
            <table class="table" data-testid="recycle-table">
              <thead>
                <tr>
                  <th class="col-check">
                    <input
                      type="checkbox"
                      aria-label="Select all"
                      checked={ids.length === rows.length}
                      onChange={(e) => setSelected(new Set((e.target as HTMLInputElement).checked ? rows.map((r) => r.id) : []))}
                    />
                  </th>
                  <th>Run ID</th>
                  <th>Path</th>
                  <th>Alias</th>
                  <th>Status</th>
                  <th>Deleted</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id} data-run-id={r.id} class={preview === r.id ? "row-active" : ""} onClick={() => setPreview(r.id)}>
                    <td class="col-check" onClick={(e) => e.stopPropagation()}>
                      <input type="checkbox" aria-label={`Select ${r.id}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                    </td>
                    <td>
                      <code>{r.id}</code>
                    </td>
                    <td>
                      <code>{r.path ?? "–"}</code>
                    </td>
                    <td>{r.alias ?? ""}</td>
                    <td>{r.original_status}</td>
                    <td>{fmtTime(r.deleted_at)}</td>
                    <td onClick={(e) => e.stopPropagation()}>
                      <button class="btn btn-small" disabled={busy} onClick={() => restore([r.id])}>
                        Restore
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {preview ? (
            <div class="refs" data-testid="asset-refs">
              <h4>Assets of {preview}</h4>
              {refs.error ? (
                <div class="muted">{refs.error.message}</div>
              ) : !refs.data ? (
                <Loading />
              ) : refs.data.orphaned_count + refs.data.shared_count === 0 ? (
                <div class="muted">No archived assets: deleting removes only the run folder.</div>
              ) : (
                <ul class="refs-list">
                  {refs.data.orphaned_assets.map((a) => (
                    <li key={a.asset_id}>
                      <span class="tag tag-danger">will delete</span> {a.asset_type} <b>{a.name}</b>
                    </li>
                  ))}
                  {refs.data.shared_assets.map((a) => (
                    <li key={a.asset_id}>
                      <span class="tag">will keep</span> {a.asset_type} <b>{a.name}</b> (used by {a.other_runs.length} other run(s))
                    </li>
                  ))}
                </ul>
              )}
            </div>
          ) : null}
        </div>
      )}
    </Modal>
  );
}
