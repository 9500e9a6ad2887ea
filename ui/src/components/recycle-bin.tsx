// The recycle bin dialog: restore soft-deleted runs, or delete them for good after previewing which assets go.
import { t } from "../i18n/i18n.ts";
import { useState } from "preact/hooks";
import { ApiError, getJson, sendJson, useResource } from "../api.ts";
import { displayPath, fmtBytes, fmtTime } from "../format.ts";
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
      toast(t("bin.deletedToast", { n: r.deleted_count, total: r.total_runs, bytes: fmtBytes(r.total_bytes_freed) }));
      setPlan(null);
      setSelected(new Set());
      setPreview(null);
      bin.reload();
      props.onChanged();
    });

  return (
    <Modal
      title={t("bin.title")}
      wide
      onClose={props.onClose}
      footer={
        plan ? (
          <>
            <span class="foot-note">
              {t("bin.plan", { runs: plan.total_runs, files: plan.total_blobs_deleted, bytes: fmtBytes(plan.total_bytes_freed) })}
            </span>
            <button class="btn" onClick={() => setPlan(null)}>
              {t("common.cancel")}
            </button>
            <button class="btn btn-danger" disabled={busy} onClick={deleteForGood}>
              {t("bin.deleteForGood")}
            </button>
          </>
        ) : (
          <>
            <span class="foot-note">{ids.length ? t("bin.selected", { n: ids.length }) : t("bin.inBin", { n: rows.length })}</span>
            <button class="btn" disabled={!ids.length || busy} onClick={() => restore(ids)}>
              {t("bin.restoreSelected")}
            </button>
            <button class="btn btn-danger" disabled={!ids.length || busy} onClick={planDelete}>
              {t("bin.deleteForGoodAsk")}
            </button>
          </>
        )
      }
    >
      {bin.error && !bin.data ? (
        <ErrorState error={bin.error} onRetry={bin.reload} what={t("bin.what")} />
      ) : !bin.data ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty title={t("bin.empty")}>{t("bin.emptyText")}</Empty>
      ) : (
        <div class="bin">
          <div class="table-wrap">
            <table class="table" data-testid="recycle-table">
              <thead>
                <tr>
                  <th class="col-check">
                    <input
                      type="checkbox"
                      aria-label={t("bin.selectAll")}
                      checked={ids.length === rows.length}
                      onChange={(e) => setSelected(new Set((e.target as HTMLInputElement).checked ? rows.map((r) => r.id) : []))}
                    />
                  </th>
                  <th>{t("runs.col.id")}</th>
                  <th>{t("runs.col.path")}</th>
                  <th>{t("runs.col.alias")}</th>
                  <th>{t("runs.col.status")}</th>
                  <th>{t("bin.col.deleted")}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id} data-run-id={r.id} class={preview === r.id ? "row-active" : ""} onClick={() => setPreview(r.id)}>
                    <td class="col-check" onClick={(e) => e.stopPropagation()}>
                      <input type="checkbox" aria-label={t("runs.select", { id: r.id })} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                    </td>
                    <td>
                      <code>{r.id}</code>
                    </td>
                    <td>
                      <code>{displayPath(r.path)}</code>
                    </td>
                    <td>{r.alias ?? ""}</td>
                    <td>{r.original_status}</td>
                    <td>{fmtTime(r.deleted_at)}</td>
                    <td onClick={(e) => e.stopPropagation()}>
                      <button class="btn btn-small" disabled={busy} onClick={() => restore([r.id])}>
                        {t("bin.restore")}
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
