// The runs page: path tree, search and filters, a server-sorted and paginated table with inline edits, bulk actions, recycle bin.
import { fmtInt, t } from "../i18n/i18n.ts";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso/router";
import { ApiError, getJson, qs, request, sendJson, useResource } from "../api.ts";
import { Confirm, Empty, ErrorState, Loading, StatusBadge, toast, useDebounced, useInterval } from "../components/common.tsx";
import { IndexProgress } from "../components/index-progress.tsx";
import { PathTree } from "../components/path-tree.tsx";
import { RecycleBin } from "../components/recycle-bin.tsx";
import { RunsAnalysis } from "../components/runs-table.tsx";
import { csvField, displayPath, downloadText, fmtDuration, fmtNum, fmtTime, shortId } from "../format.ts";
import { useLiveMessages, useLiveRunList, useLiveUp } from "../live.ts";
import { useSettings, useStored } from "../settings.ts";
import type { FleetInfo, PathsResponse, RunItem, RunStats } from "../types.ts";

const PAGE_SIZES = [20, 50, 100, 200];
const STATUSES = ["running", "finished", "failed", "interrupted"];
const MAX_COMPARE = 20;

interface Filters {
  q: string;
  status: string;
  path: string;
  /** Fleet mode: only runs of this host (label). */
  host: string;
  sort: string;
  order: "asc" | "desc";
  page: number;
  size: number;
  /** Filter-language expression (issue 16). */
  filter: string;
  /** "table": the analysis view (chosen fields, parallel coordinates, scatter); "": the classic list. */
  view: string;
}

function readFilters(query: Record<string, string>): Filters {
  const size = Number(query.size);
  return {
    q: query.q ?? "",
    status: query.status ?? "",
    path: query.path ?? "",
    host: query.host ?? "",
    sort: query.sort || "created_time",
    order: query.order === "asc" ? "asc" : "desc",
    page: Math.max(1, Number(query.page) || 1),
    size: PAGE_SIZES.includes(size) ? size : 50,
    filter: query.filter ?? "",
    view: query.view === "table" ? "table" : "",
  };
}

function toQuery(f: Filters): string {
  return qs({
    q: f.q,
    status: f.status,
    path: f.path,
    host: f.host,
    sort: f.sort === "created_time" ? "" : f.sort,
    order: f.order === "desc" ? "" : f.order,
    page: f.page > 1 ? f.page : "",
    size: f.size === 50 ? "" : f.size,
    filter: f.filter,
    view: f.view,
  });
}

/** Numeric summary keys found on the page's runs (best_metric_* have their own column). */
function summaryKeys(items: RunItem[]): string[] {
  const keys = new Set<string>();
  for (const r of items) for (const [k, v] of Object.entries(r.summary ?? {})) if (typeof v === "number" && !k.startsWith("best_metric_")) keys.add(k);
  return [...keys].sort();
}

/** Route component for `/`. */
export function RunsPage() {
  const loc = useLocation();
  const f = readFilters(loc.query);
  const settings = useSettings();
  const liveUp = useLiveUp();
  const [search, setSearch] = useState(f.q);
  const debounced = useDebounced(search, 250);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState<{ kind: "runs"; ids: string[] } | { kind: "path"; path: string } | null>(null);
  const [showBin, setShowBin] = useState(false);
  const [showTree, setShowTree] = useStored("runs_tree_open", typeof innerWidth === "number" ? innerWidth >= 900 : true);
  const [chosenCols, setChosenCols] = useStored<string[] | null>("runs_summary_cols", null);
  const [colsOpen, setColsOpen] = useState(false);

  const go = (patch: Partial<Filters>, replace = false) => {
    const next = { ...f, ...patch };
    if (!("page" in patch)) next.page = 1;
    loc.route(`/${toQuery(next)}`, replace);
  };

  useEffect(() => {
    if (debounced !== f.q) go({ q: debounced }, true);
  }, [debounced]);
  useEffect(() => setSearch(f.q), [f.q]);

  const listKey = JSON.stringify(f);
  const list = useResource(listKey, async (signal) => {
    const { data, headers } = await request<RunItem[]>(
      `/api/runs${qs({ limit: f.size, offset: (f.page - 1) * f.size, sort: f.sort, order: f.order, status: f.status, path: f.path, host: f.host, q: f.q, filter: f.filter, include: "summary" })}`,
      { signal },
    );
    const total = Number(headers.get("X-Total-Count") ?? data.length);
    return { items: data, total: Number.isFinite(total) ? total : data.length };
  });
  const stats = useResource("stats", (signal) => getJson<RunStats>("/api/stats/runs", signal));
  // which root the server reads: the first thing to check when runs are missing
  const config = useResource("config", (signal) => getJson<{ storage: string }>("/api/config", signal));
  const paths = useResource("paths", (signal) => getJson<PathsResponse>("/api/paths?include_stats=true", signal));
  // fleet mode (docs/FLEET.md): a single-root server answers no hosts, so no host column or filter
  const fleet = useResource("fleet", (signal) => getJson<FleetInfo>("/api/fleet", signal).catch(() => null));
  const fleetHosts = fleet.data?.hosts ?? [];

  useEffect(() => setSelected(new Set()), [listKey]);

  // Live: a changed run refreshes the visible page, the counts and the tree (coalesced).
  useLiveRunList();
  const pending = useRef<ReturnType<typeof setTimeout>>();
  const refreshAll = () => {
    list.reload();
    stats.reload();
    paths.reload();
  };
  const scheduleRefresh = () => {
    clearTimeout(pending.current);
    pending.current = setTimeout(refreshAll, 300);
  };
  useEffect(() => () => clearTimeout(pending.current), []);
  useLiveMessages((m) => {
    if (m.type === "status") {
      list.mutate((d) => d && { ...d, items: d.items.map((r) => (r.id === m.run_id ? { ...r, status: m.status } : r)) });
      scheduleRefresh();
    } else if (m.type === "run_changed") scheduleRefresh();
  });
  // Without the live socket, poll at the refresh interval instead.
  useInterval(refreshAll, settings.refreshSeconds * 1000, !liveUp);

  const items = list.data?.items ?? [];
  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / f.size));
  const available = useMemo(() => summaryKeys(items), [list.data]);
  const cols = (chosenCols ?? available.slice(0, 3)).filter((c) => available.includes(c) || f.sort === `summary.${c}`);
  const selectedRows = items.filter((r) => selected.has(r.id));

  const patchRun = async (id: string, body: { alias?: string | null; tags?: string[] }) => {
    try {
      const r = await sendJson<{ ok: boolean; alias: string | null; tags: string[] }>("PATCH", `/api/runs/${encodeURIComponent(id)}`, body);
      list.mutate((d) => d && { ...d, items: d.items.map((x) => (x.id === id ? { ...x, alias: r.alias, tags: r.tags } : x)) });
    } catch (e) {
      toast(t("runs.toast.updateFailed", { id, error: (e as ApiError).message }), "error");
    }
  };

  const softDelete = async (ids: string[]) => {
    try {
      let deleted = 0;
      for (let i = 0; i < ids.length; i += 100) {
        const r = await sendJson<{ deleted_count: number }>("POST", "/api/runs/soft-delete", { run_ids: ids.slice(i, i + 100) });
        deleted += r.deleted_count;
      }
      toast(t("runs.toast.moved", { n: deleted }));
      setSelected(new Set());
      refreshAll();
    } catch (e) {
      toast((e as ApiError).message, "error");
    }
  };

  const deletePath = async (path: string) => {
    try {
      const r = await sendJson<{ message: string }>("POST", "/api/paths/soft-delete", { path });
      toast(r.message);
      if (f.path === path || f.path.startsWith(`${path}/`)) go({ path: "" });
      refreshAll();
    } catch (e) {
      toast((e as ApiError).message, "error");
    }
  };

  const exportRows = (format: "csv" | "json") => {
    const rows = selectedRows.length ? selectedRows : items;
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    if (format === "json") {
      const doc = {
        export_time: new Date().toISOString(),
        total_runs: rows.length,
        runs: rows.map((r) => ({ run_id: r.id, path: r.path, alias: r.alias, status: r.status, tags: r.tags, created: r.created_time, best_metric_name: r.best_metric_name, best_metric_value: r.best_metric_value, summary: r.summary ?? {} })),
      };
      downloadText(`runicorn_export_${stamp}.json`, JSON.stringify(doc, null, 2), "application/json");
    } else {
      const keys = summaryKeys(rows);
      const head = ["Run ID", "Path", "Alias", "Status", "Tags", "Created Time", "Best Metric Name", "Best Metric Value", ...keys];
      const lines = rows.map((r) =>
        [r.id, r.path ?? "", r.alias ?? "", r.status, r.tags.join(" "), fmtTime(r.created_time), r.best_metric_name ?? "", r.best_metric_value ?? "", ...keys.map((k) => r.summary?.[k] ?? "")].map(csvField).join(","),
      );
      // UTF-8 BOM so spreadsheet programs read non-ASCII aliases correctly (as the original's export).
      downloadText(`runicorn_runs_${stamp}.csv`, `\ufeff${[head.join(","), ...lines].join("\n")}\n`, "text/csv");
    }
  };

  const sortBy = (key: string) => go({ sort: key, order: f.sort === key && f.order === "desc" ? "asc" : "desc" });
  const SortTh = (p: { k: string; label: string; cls?: string }) => (
    <th class={`sortable ${p.cls ?? ""}`} aria-sort={f.sort === p.k ? (f.order === "asc" ? "ascending" : "descending") : "none"} onClick={() => sortBy(p.k)} data-sort={p.k}>
      {p.label}
      <span class="sort-ind">{f.sort === p.k ? (f.order === "asc" ? "▲" : "▼") : ""}</span>
    </th>
  );

  // The list items carry no duration unless the server adds one; show the column only then.
  const showDuration = items.some((r) => duration(r) !== null);
  const showHost = items.some((r) => typeof r.host === "string");
  const allOnPage = items.length > 0 && items.every((r) => selected.has(r.id));

  return (
    <div class="page page-runs">
      <IndexProgress onProgress={refreshAll} />
      <div class="stats-bar" data-testid="run-stats">
        <Stat id="total" label={t("runs.stat.total")} value={stats.data?.total} />
        <Stat id="running" label={t("runs.stat.running")} value={stats.data?.running} cls="running" />
        <Stat id="finished" label={t("runs.stat.finished")} value={stats.data?.finished} cls="finished" />
        <Stat id="failed" label={t("runs.stat.failed")} value={stats.data?.failed} cls="failed" />
        <Stat id="interrupted" label={t("runs.stat.interrupted")} value={stats.data?.interrupted} cls="interrupted" />
        {stats.data?.stalled ? <Stat id="stalled" label={t("runs.stat.stalled")} value={stats.data.stalled} cls="stalled" /> : null}
      </div>
      <div class={`runs-layout${showTree ? "" : " no-tree"}`}>
        {showTree ? (
          <PathTree
            data={paths.data}
            total={stats.data?.total ?? 0}
            running={stats.data?.running ?? 0}
            selected={f.path}
            onSelect={(p) => go({ path: p })}
            onDelete={(p) => setConfirm({ kind: "path", path: p })}
          />
        ) : null}
        <section class="runs-main">
          <div class="toolbar">
            <button class="btn" aria-pressed={showTree} onClick={() => setShowTree(!showTree)} title={t("runs.paths.title")}>
              {t("runs.paths")}
            </button>
            <button class="btn" aria-pressed={f.view === "table"} data-testid="view-toggle" onClick={() => go({ view: f.view === "table" ? "" : "table" })} title={t("analysis.view.title")}>
              {f.view === "table" ? t("analysis.view.list") : t("analysis.view.table")}
            </button>
            <input class="input search" type="search" placeholder={t("runs.search")} aria-label={t("runs.search.aria")} value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
            <select class="input" aria-label={t("runs.statusFilter")} value={f.status} onChange={(e) => go({ status: (e.target as HTMLSelectElement).value })}>
              <option value="">{t("runs.allStatuses")}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
            {fleetHosts.length ? (
              <select class="input" aria-label={t("runs.hostFilter")} data-testid="host-filter" value={f.host} onChange={(e) => go({ host: (e.target as HTMLSelectElement).value })}>
                <option value="">{t("runs.allHosts")}</option>
                {fleetHosts.map((h) => (
                  <option key={h.host} value={h.host}>
                    {h.host}
                    {h.state === "online" ? "" : ` (${h.state})`}
                  </option>
                ))}
              </select>
            ) : null}
            {f.path ? (
              <span class="chip" data-testid="path-chip">
                {t("runs.pathChip")} <code>{f.path}</code>
                <button class="chip-x" aria-label={t("runs.clearPath")} onClick={() => go({ path: "" })}>
                  ×
                </button>
              </span>
            ) : null}
            <span class="spacer" />
            {selected.size ? (
              <>
                <span class="muted">{t("runs.selected", { n: selected.size })}</span>
                <button
                  class="btn btn-primary"
                  disabled={selected.size < 2 || selected.size > MAX_COMPARE}
                  title={selected.size > MAX_COMPARE ? t("runs.atMost", { n: MAX_COMPARE }) : t("runs.overlay")}
                  onClick={() => loc.route(`/compare?runs=${[...selected].map(encodeURIComponent).join(",")}`)}
                >
                  {t("runs.compare")}
                </button>
                <button class="btn btn-danger" onClick={() => setConfirm({ kind: "runs", ids: [...selected] })}>
                  {t("runs.delete")}
                </button>
              </>
            ) : null}
            <div class="dropdown">
              <button class="btn" onClick={() => exportRows("csv")} title={t("runs.csv.title")}>
                CSV
              </button>
              <button class="btn" onClick={() => exportRows("json")} title={t("runs.json.title")}>
                JSON
              </button>
            </div>
            <div class="dropdown">
              <button class="btn" aria-expanded={colsOpen} onClick={() => setColsOpen(!colsOpen)} disabled={!available.length} title={t("runs.columns.title")}>
                {t("runs.columns")}
              </button>
              {colsOpen ? (
                <div class="menu menu-down" role="menu">
                  {available.map((k) => (
                    <label key={k} class="menu-check">
                      <input
                        type="checkbox"
                        checked={cols.includes(k)}
                        onChange={(e) => setChosenCols((e.target as HTMLInputElement).checked ? [...cols, k] : cols.filter((c) => c !== k))}
                      />
                      {k}
                    </label>
                  ))}
                </div>
              ) : null}
            </div>
            <button class="btn" onClick={refreshAll} title={t("runs.reload")}>
              ⟳
            </button>
            <button class="btn" onClick={() => setShowBin(true)}>
              {t("runs.recycleBin")}
            </button>
          </div>

          {f.view === "table" ? (
            <RunsAnalysis
              path={f.path}
              status={f.status}
              q={f.q}
              filter={f.filter}
              sort={f.sort}
              order={f.order}
              onQuery={(patch) => go(patch as Partial<Filters>)}
              onCompare={(ids, groupBy) => loc.route(`/compare${qs({ runs: ids.join(","), view: groupBy ? "grouped" : "", group: groupBy ?? "" })}`)}
            />
          ) : list.error && !list.data ? (
            <ErrorState error={list.error} onRetry={refreshAll} what={t("runs.what")} />
          ) : !list.data ? (
            <Loading text={t("runs.loading")} />
          ) : items.length === 0 ? (
            f.q || f.status || f.path ? (
              <Empty title={t("runs.noMatch")}>
                <button class="btn" onClick={() => loc.route("/")}>
                  {t("runs.clearFilters")}
                </button>
              </Empty>
            ) : (
              <Empty title={t("runs.none")}>
                {t("runs.none.record")} <code>run = rn.init(path="demo"); run.log(&#123;"loss": 0.5&#125;); run.finish()</code>
                {config.data ? (
                  <p class="muted" data-testid="storage-root">
                    {t("runs.none.reads")} <code>{config.data.storage}</code>. {t("runs.none.mustWrite")} <code>storage=</code> {t("runs.none.to")}{" "}
                    <code>rn.init</code>{t("runs.none.orSet")} <code>RUNICORN_DIR</code>{t("runs.none.orChange")}
                  </p>
                ) : null}
                <p class="muted" data-testid="demo-hint">Just looking? <code>runicorn demo</code> serves a few example runs, one of them live.</p>
              </Empty>
            )
          ) : (
            <>
              {list.error ? <div class="inline-error">{list.error.message}</div> : null}
              <div class="table-wrap">
                <table class="table runs-table" data-testid="runs-table">
                  <thead>
                    <tr>
                      <th class="col-check">
                        <input type="checkbox" aria-label={t("runs.selectPage")} checked={allOnPage} onChange={() => setSelected(new Set(allOnPage ? [] : items.map((r) => r.id)))} />
                      </th>
                      {showHost ? <SortTh k="host" label={t("runs.col.host")} /> : null}
                      <SortTh k="path" label={t("runs.col.path")} />
                      <SortTh k="alias" label={t("runs.col.alias")} />
                      <th>{t("runs.col.tags")}</th>
                      <SortTh k="id" label={t("runs.col.id")} />
                      <SortTh k="status" label={t("runs.col.status")} />
                      <SortTh k="created_time" label={t("runs.col.created")} />
                      {showDuration ? <SortTh k="duration" label={t("runs.col.duration")} /> : null}
                      <SortTh k="best_metric_value" label={t("runs.col.best")} cls="num" />
                      {cols.map((c) => (
                        <SortTh key={c} k={`summary.${c}`} label={c} cls="num" />
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((r) => (
                      <RunRow
                        key={r.id}
                        run={r}
                        cols={cols}
                        showHost={showHost}
                        showDuration={showDuration}
                        checked={selected.has(r.id)}
                        onCheck={() => {
                          const s = new Set(selected);
                          s.has(r.id) ? s.delete(r.id) : s.add(r.id);
                          setSelected(s);
                        }}
                        onPatch={(body) => patchRun(r.id, body)}
                      />
                    ))}
                  </tbody>
                </table>
              </div>
              <div class="pager">
                <span class="muted" data-testid="total-count">
                  {t("runs.count", { n: fmtInt(total) })}
                </span>
                <span class="spacer" />
                <button class="btn" disabled={f.page <= 1} onClick={() => go({ page: f.page - 1 })} aria-label={t("runs.prev")}>
                  ‹
                </button>
                <span>
                  {t("runs.page", { page: f.page, pages })}
                </span>
                <button class="btn" disabled={f.page >= pages} onClick={() => go({ page: f.page + 1 })} aria-label={t("runs.next")}>
                  ›
                </button>
                <select class="input" aria-label={t("runs.perPage")} value={f.size} onChange={(e) => go({ size: Number((e.target as HTMLSelectElement).value) })}>
                  {PAGE_SIZES.map((n) => (
                    <option key={n} value={n}>
                      {t("runs.perPageOption", { n })}
                    </option>
                  ))}
                </select>
              </div>
            </>
          )}
        </section>
      </div>
      {confirm ? (
        <Confirm
          title={confirm.kind === "runs" ? t("runs.confirm.runs", { n: confirm.ids.length }) : t("runs.confirm.path", { path: confirm.path })}
          text={
            confirm.kind === "runs"
              ? t("runs.confirm.runsText")
              : t("runs.confirm.pathText", { path: confirm.path })
          }
          confirmText={t("runs.confirm.ok")}
          danger
          onCancel={() => setConfirm(null)}
          onConfirm={() => {
            const c = confirm;
            setConfirm(null);
            if (c.kind === "runs") void softDelete(c.ids);
            else void deletePath(c.path);
          }}
        />
      ) : null}
      {showBin ? <RecycleBin onClose={() => setShowBin(false)} onChanged={refreshAll} /> : null}
    </div>
  );
}

function Stat(props: { id: string; label: string; value: number | undefined; cls?: string }) {
  return (
    <div class={`stat ${props.cls ?? ""}`} data-stat={props.id}>
      <div class="stat-value">{props.value ?? "–"}</div>
      <div class="stat-label">{props.label}</div>
    </div>
  );
}

function duration(r: RunItem): number | null {
  const d = r.summary?.duration ?? (r as unknown as { duration?: number }).duration;
  return typeof d === "number" ? d : null;
}

function RunRow(props: { run: RunItem; cols: string[]; showHost: boolean; showDuration: boolean; checked: boolean; onCheck: () => void; onPatch: (b: { alias?: string | null; tags?: string[] }) => void }) {
  const r = props.run;
  const [editing, setEditing] = useState(false);
  const [adding, setAdding] = useState(false);
  const done = useRef(false);
  const href = `/runs/${encodeURIComponent(r.id)}`;

  const saveAlias = (value: string) => {
    if (done.current) return;
    done.current = true;
    setEditing(false);
    const alias = value.trim() || null;
    if (alias !== (r.alias ?? null)) props.onPatch({ alias });
  };
  const addTag = (value: string) => {
    setAdding(false);
    const tag = value.trim();
    if (tag && !r.tags.includes(tag)) props.onPatch({ tags: [...r.tags, tag] });
  };

  return (
    <tr data-run-id={r.id} class={props.checked ? "row-selected" : ""}>
      <td class="col-check">
        <input type="checkbox" aria-label={t("runs.select", { id: r.id })} checked={props.checked} onChange={props.onCheck} />
      </td>
      {props.showHost ? <td class="col-host">{r.host ?? "–"}</td> : null}
      <td>
        <code class={`path${r.path ? "" : " path-default"}`}>{displayPath(r.path)}</code>
      </td>
      <td
        class="col-alias"
        onDblClick={() => {
          done.current = false;
          setEditing(true);
        }}
        title={t("runs.editAlias")}
      >
        {editing ? (
          <input
            class="input input-inline"
            aria-label={t("runs.col.alias")}
            ref={focusOnMount}
            value={r.alias ?? ""}
            onKeyDown={(e) => {
              if (e.key === "Enter") saveAlias((e.target as HTMLInputElement).value);
              if (e.key === "Escape") {
                done.current = true;
                setEditing(false);
              }
            }}
            onBlur={(e) => saveAlias((e.target as HTMLInputElement).value)}
          />
        ) : (
          <span class="alias">{r.alias ?? <span class="muted">—</span>}</span>
        )}
      </td>
      <td class="col-tags">
        {r.tags.map((t) => (
          <span class="tag" key={t}>
            {t}
            <button class="chip-x" aria-label={`Remove tag ${t}`} onClick={() => props.onPatch({ tags: r.tags.filter((x) => x !== t) })}>
              ×
            </button>
          </span>
        ))}
        {adding ? (
          <input
            class="input input-inline input-tag"
            aria-label={t("runs.newTag")}
            ref={focusOnMount}
            onKeyDown={(e) => {
              if (e.key === "Enter") addTag((e.target as HTMLInputElement).value);
              if (e.key === "Escape") setAdding(false);
            }}
            onBlur={(e) => addTag((e.target as HTMLInputElement).value)}
          />
        ) : (
          <button class="tag tag-add" aria-label={t("runs.addTag")} onClick={() => setAdding(true)}>
            +
          </button>
        )}
      </td>
      <td>
        <a href={href} title={r.id} class="run-link">
          {shortId(r.id)}
        </a>
      </td>
      <td>
        <StatusBadge status={r.stalled ? "stalled" : r.status} />
      </td>
      <td class="nowrap">{fmtTime(r.created_time)}</td>
      {props.showDuration ? <td class="nowrap">{fmtDuration(duration(r))}</td> : null}
      <td class="num nowrap">{r.best_metric_value !== null && r.best_metric_value !== undefined ? `${r.best_metric_name ?? ""} ${fmtNum(r.best_metric_value)}` : "–"}</td>
      {props.cols.map((c) => (
        <td class="num" key={c}>
          {fmtNum(r.summary?.[c])}
        </td>
      ))}
    </tr>
  );
}

function focusOnMount(el: HTMLInputElement | null): void {
  if (el && document.activeElement !== el) el.focus();
}
