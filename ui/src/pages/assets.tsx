// The assets page: every archived asset across runs (code, config, datasets, pretrained models, outputs) with storage figures, filters and downloads.
import { useMemo, useState } from "preact/hooks";
import { useLocation } from "preact-iso/router";
import { getJson, qs, useResource } from "../api.ts";
import { Empty, ErrorState, Loading } from "../components/common.tsx";
import { JsonView } from "../components/json-view.tsx";
import { displayPath, downloadText, fmtBytes, fmtTime, shortId } from "../format.ts";
import { fmtInt, t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/en.ts";
import type { AssetLibrary, LibraryAsset } from "../../../src/store/assets/library.ts";

const KINDS = ["code", "config", "dataset", "pretrained", "output"] as const;
const KIND_LABEL: Record<LibraryAsset["kind"], MessageKey> = {
  code: "assets.kind.code",
  config: "assets.kind.config",
  dataset: "assets.kind.dataset",
  pretrained: "assets.kind.pretrained",
  output: "assets.kind.output",
};

interface StorageStats {
  archive?: { size_bytes: number };
}

/** The download URL of an archived asset (a manifest comes back as a zip). */
function downloadUrl(a: LibraryAsset): string | null {
  const d = a.download;
  if (!d) return null;
  return `/api/runs/${encodeURIComponent(d.run_id)}/assets/download${qs({ path: d.path, filename: d.filename })}`;
}

/** Route component for `/assets` and `/assets/:id`. */
export function AssetsPage() {
  const loc = useLocation();
  const openId = loc.path.startsWith("/assets/") ? decodeURIComponent(loc.path.slice("/assets/".length)) : "";
  const lib = useResource("assets", (signal) => getJson<AssetLibrary>("/api/assets", signal));
  const storage = useResource("storage", (signal) => getJson<StorageStats>("/api/storage/stats", signal));
  const kind = loc.query.kind ?? "";
  const [q, setQ] = useState(loc.query.q ?? "");
  const archivedOnly = loc.query.archived === "1";
  const setQuery = (patch: Record<string, string>) => loc.route(`/assets${openId ? `/${encodeURIComponent(openId)}` : ""}${qs({ kind, q, archived: archivedOnly ? "1" : "", ...patch })}`, true);

  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (lib.data?.assets ?? []).filter(
      (a) =>
        (!kind || a.kind === kind) &&
        (!archivedOnly || a.archived) &&
        (!needle || [a.name, a.fingerprint, a.source, a.identity, ...a.runs.map((r) => `${r.run_id} ${r.alias ?? ""} ${r.path ?? ""}`)].some((s) => s?.toLowerCase().includes(needle))),
    );
  }, [lib.data, kind, q, archivedOnly]);
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const a of lib.data?.assets ?? []) c[a.kind] = (c[a.kind] ?? 0) + 1;
    return c;
  }, [lib.data]);

  if (lib.error && !lib.data) return <div class="page"><ErrorState error={lib.error} onRetry={lib.reload} what={t("assets.what")} /></div>;
  if (!lib.data) return <Loading />;
  const d = lib.data;
  return (
    <div class="page page-assets">
      <div class="toolbar">
        <h2 class="page-title">{t("assets.title")}</h2>
        <span class="spacer" />
        <button class="btn" onClick={() => (lib.reload(), storage.reload())}>
          {t("common.refresh")}
        </button>
      </div>
      <div class="stats-bar" data-testid="asset-stats">
        <Stat label={t("assets.stat.distinct")} value={fmtInt(d.distinct_assets)} />
        <Stat label={t("assets.stat.archived")} value={fmtInt(d.archived_assets)} />
        <Stat label={t("assets.stat.runs")} value={`${fmtInt(d.runs_with_assets)} / ${fmtInt(d.total_runs)}`} />
        <Stat label={t("assets.stat.archiveSize")} value={storage.data?.archive ? fmtBytes(storage.data.archive.size_bytes) : "–"} />
        <Stat label={t("assets.stat.saved")} value={fmtBytes(d.dedupe_saved_bytes)} title={t("assets.stat.savedHint", { referenced: fmtBytes(d.referenced_bytes), stored: fmtBytes(d.archived_bytes) })} testid="dedupe-saved" />
      </div>
      <div class="toolbar">
        <div class="seg">
          <button class={`btn-mini${kind === "" ? " on" : ""}`} onClick={() => setQuery({ kind: "" })}>
            {t("assets.kind.all")} ({fmtInt(d.assets.length)})
          </button>
          {KINDS.map((k) => (
            <button key={k} class={`btn-mini${kind === k ? " on" : ""}`} data-kind={k} onClick={() => setQuery({ kind: k })}>
              {t(KIND_LABEL[k])} ({fmtInt(counts[k] ?? 0)})
            </button>
          ))}
        </div>
        <input class="input" type="search" placeholder={t("assets.search")} aria-label={t("assets.search")} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <label class="field-inline">
          <input type="checkbox" checked={archivedOnly} onChange={(e) => setQuery({ archived: (e.target as HTMLInputElement).checked ? "1" : "" })} />
          {t("assets.archivedOnly")}
        </label>
      </div>
      {d.assets.length === 0 ? (
        <Empty title={t("assets.empty.title")}>{t("assets.empty.text")}</Empty>
      ) : shown.length === 0 ? (
        <Empty title={t("assets.noMatch")} />
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="assets-library">
            <thead>
              <tr>
                <th>{t("assets.col.kind")}</th>
                <th>{t("assets.col.name")}</th>
                <th class="num">{t("assets.col.size")}</th>
                <th>{t("assets.col.fingerprint")}</th>
                <th>{t("assets.col.runs")}</th>
                <th>{t("assets.col.lastUsed")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {shown.map((a) => (
                <AssetRow key={a.id} asset={a} open={openId === a.id} onToggle={() => loc.route(`/assets${openId === a.id ? "" : `/${encodeURIComponent(a.id)}`}${qs({ kind, q, archived: archivedOnly ? "1" : "" })}`, true)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Stat(props: { label: string; value: string; title?: string; testid?: string }) {
  return (
    <div class="stat" title={props.title} data-testid={props.testid}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
    </div>
  );
}

function AssetRow(props: { asset: LibraryAsset; open: boolean; onToggle: () => void }) {
  const a = props.asset;
  const url = downloadUrl(a);
  return (
    <>
      <tr data-asset-kind={a.kind} data-asset-name={a.name} class={props.open ? "row-active" : ""} onClick={props.onToggle} style={{ cursor: "pointer" }}>
        <td>
          <span class={`badge kind-${a.kind}`}>{t(KIND_LABEL[a.kind])}</span>
        </td>
        <td>
          <strong>{a.name}</strong>
          {a.archived || a.kind === "config" ? null : <span class="tag tag-muted ref-tag">{t("assets.reference")}</span>}
          {a.source ? <div class="muted mono small ellipsis" title={a.source}>{a.source}</div> : null}
        </td>
        <td class="num">{a.size_bytes === null ? "–" : fmtBytes(a.size_bytes)}</td>
        <td>
          {a.fingerprint ? (
            <code class="small" title={a.fingerprint}>
              {a.fingerprint.length > 16 ? `${a.fingerprint.slice(0, 12)}…` : a.fingerprint}
            </code>
          ) : (
            "–"
          )}
        </td>
        <td data-testid="asset-run-count">
          {a.runs.slice(0, 3).map((r) => (
            <a key={r.run_id} class="run-link" href={`/runs/${encodeURIComponent(r.run_id)}`} title={r.run_id} onClick={(e) => e.stopPropagation()}>
              {r.alias || shortId(r.run_id)}
            </a>
          ))}
          {a.run_count > 3 ? <span class="muted">{t("assets.moreRuns", { n: fmtInt(a.run_count - 3) })}</span> : null}
        </td>
        <td class="muted">{fmtTime(a.last_used)}</td>
        <td onClick={(e) => e.stopPropagation()}>
          {url ? (
            <a class="btn-mini" href={url} download data-testid="asset-download">
              {t("common.download")}
            </a>
          ) : a.content ? (
            <button class="btn-mini" onClick={() => downloadText("config.json", JSON.stringify(a.content, null, 2), "application/json")}>
              {t("common.download")}
            </button>
          ) : null}
        </td>
      </tr>
      {props.open ? (
        <tr class="asset-detail">
          <td colSpan={7}>
            <dl class="asset-facts">
              <dt>{t("assets.col.fingerprint")}</dt>
              <dd>
                <code class="wrap">{a.fingerprint ?? "–"}</code> {a.fingerprint_kind ? <span class="muted">({a.fingerprint_kind})</span> : null}
              </dd>
              {a.source ? (
                <>
                  <dt>{t("assets.source")}</dt>
                  <dd>
                    <code class="wrap">{a.source}</code>
                  </dd>
                </>
              ) : null}
              {a.archive_path ? (
                <>
                  <dt>{t("assets.archivePath")}</dt>
                  <dd>
                    <code class="wrap">{a.archive_path}</code>
                  </dd>
                </>
              ) : null}
              {a.file_count !== null ? (
                <>
                  <dt>{t("assets.files")}</dt>
                  <dd>{fmtInt(a.file_count)}</dd>
                </>
              ) : null}
              {a.description || a.context || a.source_type ? (
                <>
                  <dt>{t("assets.details")}</dt>
                  <dd>{[a.description, a.context, a.source_type].filter(Boolean).join(" · ")}</dd>
                </>
              ) : null}
              <dt>{t("assets.usedBy", { n: fmtInt(a.run_count) })}</dt>
              <dd>
                <ul class="plain-list">
                  {a.runs.map((r) => (
                    <li key={r.run_id}>
                      <a href={`/runs/${encodeURIComponent(r.run_id)}`}>{r.alias || r.run_id}</a> <code class="muted">{displayPath(r.path)}</code> <span class="muted">{fmtTime(r.created_time)}</span>
                    </li>
                  ))}
                </ul>
              </dd>
            </dl>
            {a.content ? <JsonView value={a.content} /> : null}
          </td>
        </tr>
      ) : null}
    </>
  );
}
