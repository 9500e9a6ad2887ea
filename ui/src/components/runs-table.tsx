// The analysis view of the runs page: filter box, a virtualised table of chosen fields, parallel coordinates and a scatter.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { qs, request, useResource } from "../api.ts";
import { t } from "../i18n/i18n.ts";
import { displayPath, fmtNum, fmtTime, shortId } from "../format.ts";
import type { RunItem } from "../types.ts";
import type { RunListIncludes } from "../../../src/wire/analysis.ts";
import { ErrorState, Loading } from "./common.tsx";
import { FilterBox } from "./filter-box.tsx";
import { type AnalysisRow, type Brushes, buildAxis, ParallelCoords, passesBrushes } from "./parallel-coords.tsx";
import { Scatter } from "./scatter.tsx";

/** Rows the table loads at most (one request; the DOM holds only the visible ones). */
export const TABLE_LIMIT = 10_000;
const ROW_H = 28;
const VIEW_H = 560;
const OVERSCAN = 8;
const BASE_FIELDS = ["run_id", "path", "alias", "status", "tags", "created_at"];
/** Server sort keys of the base fields (the rest sort by their own name). */
const SORT_KEY: Record<string, string> = { run_id: "id", created_at: "created_time" };

type Item = RunItem & RunListIncludes;

/** Flattens nested objects into dotted keys (`{"a": {"b": 1}}` → `a.b`); arrays stay values. */
export function flatten(obj: Record<string, unknown> | null | undefined, prefix: string, out: Record<string, unknown>): void {
  if (!obj) return;
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${prefix}${k}.`, out);
    else out[`${prefix}${k}`] = v;
  }
}

/** One list item as flat fields: the base fields, config.*, summary.*, metric.<key>.last|min|max|count. */
export function toRow(r: Item): AnalysisRow {
  const fields: Record<string, unknown> = { run_id: r.id, path: r.path, alias: r.alias, status: r.status, tags: r.tags.join(", "), created_at: r.created_time };
  if (r.host !== undefined) fields.host = r.host;
  // the server's config holds the bare keys of `args` and `extra` and the containers too: show each key once
  const { args: _args, extra: _extra, ...config } = r.config ?? {};
  flatten(config, "config.", fields);
  flatten(r.summary, "summary.", fields);
  for (const [k, m] of Object.entries(r.metrics ?? {})) {
    fields[`metric.${k}.last`] = m.last;
    fields[`metric.${k}.min`] = m.min;
    fields[`metric.${k}.max`] = m.max;
    fields[`metric.${k}.count`] = m.count;
  }
  return { id: r.id, label: r.alias || shortId(r.id), fields };
}

/** Every field some row has, base fields first, then config.*, summary.*, metric.* (each sorted). */
export function discoverFields(rows: AnalysisRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.fields)) seen.add(k);
  const rank = (f: string) => (BASE_FIELDS.includes(f) ? 0 : f.startsWith("config.") ? 1 : f.startsWith("summary.") ? 2 : f.startsWith("metric.") ? 3 : 4);
  return [...seen].sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? BASE_FIELDS.indexOf(a) - BASE_FIELDS.indexOf(b) : a.localeCompare(b)));
}

function colsKey(path: string): string {
  return `runs_table_cols:${path}`;
}
function readCols(path: string): string[] | null {
  try {
    const raw = localStorage.getItem(colsKey(path));
    const v = raw === null ? null : (JSON.parse(raw) as unknown);
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  } catch {
    return null;
  }
}

function defaultCols(fields: string[]): string[] {
  return [
    ...["path", "alias", "status", "created_at"],
    ...fields.filter((f) => f.startsWith("config.")).slice(0, 4),
    ...fields.filter((f) => f.startsWith("summary.") && !f.startsWith("summary.best_metric_")).slice(0, 2),
  ];
}

function cell(field: string, v: unknown): string {
  if (v === undefined || v === null) return "–";
  if (field === "created_at" && typeof v === "number") return fmtTime(v);
  if (field === "path") return displayPath(v as string);
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function RunsAnalysis(props: { path: string; status: string; q: string; filter: string; sort: string; order: "asc" | "desc"; onQuery: (patch: Record<string, string>) => void; onCompare: (ids: string[], groupBy?: string) => void }) {
  const [scrollTop, setScrollTop] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [brushes, setBrushes] = useState<Brushes>({});
  const [colsOpen, setColsOpen] = useState(false);
  const [cols, setColsState] = useState<string[] | null>(() => readCols(props.path));
  const [pcFields, setPcFields] = useState<string[] | null>(null);
  const [result, setResult] = useState<string>("");
  const [scatterX, setScatterX] = useState<string>("");
  const scroller = useRef<HTMLDivElement>(null);
  useEffect(() => setColsState(readCols(props.path)), [props.path]);
  const setCols = (c: string[]) => {
    setColsState(c);
    try {
      localStorage.setItem(colsKey(props.path), JSON.stringify(c));
    } catch (e) {
      console.warn("cannot remember the columns", e);
    }
  };

  const key = JSON.stringify([props.path, props.status, props.q, props.filter, props.sort, props.order]);
  const list = useResource(key, async (signal) => {
    const { data, headers } = await request<Item[]>(
      `/api/runs${qs({ limit: TABLE_LIMIT, sort: props.sort, order: props.order, status: props.status, path: props.path, q: props.q, filter: props.filter, include: "config,summary,metrics" })}`,
      { signal },
    );
    const unknown = (headers.get("X-Unknown-Fields") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    return { rows: data.map(toRow), total: Number(headers.get("X-Total-Count") ?? data.length), unknown };
  });
  useEffect(() => {
    setSelected(new Set());
    setBrushes({});
    scroller.current?.scrollTo(0, 0);
    setScrollTop(0);
  }, [key]);

  const allRows = list.data?.rows ?? [];
  const fields = useMemo(() => discoverFields(allRows), [list.data]);
  const shown = cols ?? defaultCols(fields);
  const configFields = fields.filter((f) => f.startsWith("config."));
  const resultFields = fields.filter((f) => f.startsWith("summary.") || f.startsWith("metric."));
  const resultField = result && resultFields.includes(result) ? result : (resultFields.find((f) => f.endsWith(".last")) ?? resultFields[0] ?? "");
  const pcChosen = (pcFields ?? configFields.slice(0, 5)).filter((f) => fields.includes(f));
  const axes = useMemo(() => [...pcChosen, ...(resultField ? [resultField] : [])].map((f) => buildAxis(allRows, f)), [list.data, pcChosen.join("|"), resultField]);
  const rows = useMemo(() => (Object.keys(brushes).length ? allRows.filter((r) => passesBrushes(r, axes, brushes)) : allRows), [list.data, axes, brushes]);
  const xField = scatterX && configFields.includes(scatterX) ? scatterX : (configFields[0] ?? "");

  const error = list.error && list.error.status === 400 ? list.error.message : null;
  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + VIEW_H) / ROW_H) + OVERSCAN);
  const gridCols = `32px ${shown.map((c) => (c === "path" ? "minmax(160px, 2fr)" : "minmax(110px, 1fr)")).join(" ")}`;
  const sortBy = (f: string) => {
    const k = SORT_KEY[f] ?? f;
    props.onQuery({ sort: k, order: props.sort === k && props.order === "desc" ? "asc" : "desc" });
  };
  const selectedIds = rows.filter((r) => selected.has(r.id)).map((r) => r.id);
  const targetIds = selectedIds.length ? selectedIds : rows.map((r) => r.id);

  return (
    <div class="runs-analysis" data-testid="runs-analysis">
      <FilterBox key={props.filter} value={props.filter} fields={fields} unknown={list.data?.unknown ?? []} error={error} onApply={(e) => props.onQuery({ filter: e })} />
      {list.error && !error && !list.data ? (
        <ErrorState error={list.error} onRetry={list.reload} what={t("runs.what")} />
      ) : !list.data ? (
        <Loading text={t("runs.loading")} />
      ) : (
        <>
          <div class="toolbar">
            <span class="muted" data-testid="analysis-count">
              {t("analysis.count", { shown: rows.length, total: list.data.total })}
            </span>
            {Object.keys(brushes).length ? (
              <button class="btn" data-testid="clear-brushes" onClick={() => setBrushes({})}>
                {t("analysis.clearBrushes")}
              </button>
            ) : null}
            {list.data.total > TABLE_LIMIT ? <span class="muted">{t("analysis.limited", { n: TABLE_LIMIT })}</span> : null}
            <span class="spacer" />
            <button class="btn" disabled={targetIds.length < 2 || targetIds.length > 20} onClick={() => props.onCompare(targetIds)}>
              {t("runs.compare")}
            </button>
            <button class="btn" disabled={targetIds.length < 1 || !pcChosen.length} title={t("analysis.groupCompare.title")} onClick={() => props.onCompare(targetIds.slice(0, 500), pcChosen[0])}>
              {t("analysis.groupCompare")}
            </button>
            <div class="dropdown">
              <button class="btn" aria-expanded={colsOpen} data-testid="table-columns" onClick={() => setColsOpen(!colsOpen)}>
                {t("runs.columns")}
              </button>
              {colsOpen ? (
                <div class="menu menu-down menu-scroll" role="menu" data-testid="columns-menu">
                  {fields.map((k) => (
                    <label key={k} class="menu-check">
                      <input type="checkbox" data-field={k} checked={shown.includes(k)} onChange={(e) => setCols((e.target as HTMLInputElement).checked ? [...shown, k] : shown.filter((c) => c !== k))} />
                      {k}
                    </label>
                  ))}
                </div>
              ) : null}
            </div>
          </div>
          <div class="vtable" role="table" data-testid="analysis-table">
            <div class="vrow vhead" role="row" style={{ gridTemplateColumns: gridCols }}>
              <span role="columnheader" />
              {shown.map((c) => {
                const k = SORT_KEY[c] ?? c;
                const on = props.sort === k;
                return (
                  <span role="columnheader" key={c} class="sortable" data-field={c} aria-sort={on ? (props.order === "asc" ? "ascending" : "descending") : "none"} onClick={() => sortBy(c)} title={c}>
                    {c}
                    <span class="sort-ind">{on ? (props.order === "asc" ? "▲" : "▼") : ""}</span>
                  </span>
                );
              })}
            </div>
            <div class="vbody" ref={scroller} style={{ height: `${Math.min(VIEW_H, rows.length * ROW_H + 2)}px` }} onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}>
              <div style={{ height: `${rows.length * ROW_H}px`, position: "relative" }}>
                {rows.slice(first, last).map((r, i) => (
                  <div role="row" class={`vrow${selected.has(r.id) ? " row-selected" : ""}`} key={r.id} data-run-id={r.id} style={{ gridTemplateColumns: gridCols, top: `${(first + i) * ROW_H}px`, height: `${ROW_H}px` }}>
                    <span role="cell">
                      <input
                        type="checkbox"
                        aria-label={t("runs.select", { id: r.id })}
                        checked={selected.has(r.id)}
                        onChange={() => {
                          const s = new Set(selected);
                          s.has(r.id) ? s.delete(r.id) : s.add(r.id);
                          setSelected(s);
                        }}
                      />
                    </span>
                    {shown.map((c) =>
                      c === "run_id" || c === "alias" ? (
                        <span role="cell" key={c} data-field={c}>
                          <a href={`/runs/${encodeURIComponent(r.id)}`}>{cell(c, r.fields[c]) === "–" ? shortId(r.id) : cell(c, r.fields[c])}</a>
                        </span>
                      ) : (
                        <span role="cell" key={c} data-field={c} class={typeof r.fields[c] === "number" ? "num" : ""}>
                          {cell(c, r.fields[c])}
                        </span>
                      ),
                    )}
                  </div>
                ))}
              </div>
            </div>
          </div>
          <div class="analysis-plots">
            <section class="card">
              <div class="toolbar">
                <h4>{t("analysis.parallel")}</h4>
                <span class="spacer" />
                <label class="field-inline">
                  {t("analysis.result")}
                  <select class="input" data-testid="pc-result" value={resultField} onChange={(e) => setResult((e.target as HTMLSelectElement).value)}>
                    {resultFields.map((f) => (
                      <option key={f} value={f}>
                        {f}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
              <div class="pc-axes" data-testid="pc-axes">
                {configFields.map((f) => (
                  <label key={f} class="menu-check">
                    <input type="checkbox" data-field={f} checked={pcChosen.includes(f)} onChange={(e) => setPcFields((e.target as HTMLInputElement).checked ? [...pcChosen, f] : pcChosen.filter((x) => x !== f))} />
                    {f}
                  </label>
                ))}
              </div>
              {axes.length >= 2 ? <ParallelCoords rows={allRows} axes={axes} brushes={brushes} onBrush={setBrushes} /> : <p class="muted">{t("analysis.parallel.empty")}</p>}
              <p class="muted hint">{t("analysis.parallel.hint")}</p>
            </section>
            <section class="card">
              <div class="toolbar">
                <h4>{t("analysis.scatter")}</h4>
                <span class="spacer" />
                <select class="input" data-testid="scatter-x" aria-label={t("analysis.scatter.x")} value={xField} onChange={(e) => setScatterX((e.target as HTMLSelectElement).value)}>
                  {configFields.map((f) => (
                    <option key={f} value={f}>
                      {f}
                    </option>
                  ))}
                </select>
                <span class="muted">→</span>
                <span class="mono">{resultField}</span>
              </div>
              {xField && resultField ? <Scatter rows={rows} x={xField} y={resultField} /> : <p class="muted">{t("analysis.parallel.empty")}</p>}
            </section>
          </div>
        </>
      )}
    </div>
  );
}
