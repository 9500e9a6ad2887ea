// The run page: header facts, summary and best metric, then tabs for charts, logs, images, config and assets.
import { isStalled } from "../../../src/wire/liveness.ts";
import { fmtInt, t } from "../i18n/i18n.ts";
import { useEffect, useMemo, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso/router";
import { getJson, qs, useResource } from "../api.ts";
import { Empty, ErrorState, Loading, StatusBadge, useInterval } from "../components/common.tsx";
import { AudioPanel } from "../components/audio-view.tsx";
import { HistogramsPanel } from "../components/histograms.tsx";
import { ImagesPanel } from "../components/images-panel.tsx";
import { TablesPanel } from "../components/table-view.tsx";
import { JsonView } from "../components/json-view.tsx";
import { LogsViewer } from "../components/logs-viewer.tsx";
import type { XMode } from "../chart-data.ts";
import { RunCharts } from "../components/run-charts.tsx";
import { RunNotes } from "../components/run-notes.tsx";
import { RunSystem } from "../components/run-system.tsx";
import { displayPath, fmtDuration, fmtNum, fmtTime } from "../format.ts";
import { useLiveMessages, useLiveRuns, useLiveUp } from "../live.ts";
import { useSettings } from "../settings.ts";
import type { ImageItem, KeysResponse, RunDetail } from "../types.ts";

const TABS = ["charts", "system", "logs", "images", "histograms", "tables", "audio", "config", "assets"] as const;
type Tab = (typeof TABS)[number];

/** Route component for `/runs/:id`. */
export function RunPage() {
  const { params } = useRoute();
  const loc = useLocation();
  const id = params.id ?? "";
  const tab: Tab = (TABS as readonly string[]).includes(loc.query.tab) ? (loc.query.tab as Tab) : "charts";
  const xMode: XMode = loc.query.x === "time" || loc.query.x === "epoch" ? loc.query.x : "step";
  const settings = useSettings();
  const liveUp = useLiveUp();
  const enc = encodeURIComponent(id);

  const detail = useResource(`detail:${id}`, (signal) => getJson<RunDetail>(`/api/runs/${enc}`, signal));
  const keys = useResource(`keys:${id}`, (signal) => getJson<KeysResponse>(`/api/runs/${enc}/keys`, signal));
  const sysKeys = useMemo(() => (keys.data?.keys ?? []).map((k) => k.key).filter((k) => k.startsWith("sys/")), [keys.data]);
  const ownKeys = useMemo(() => (keys.data ? { ...keys.data, keys: keys.data.keys.filter((k) => !k.key.startsWith("sys/")) } : undefined), [keys.data]);
  const images = useResource(tab === "images" ? `images:${id}` : null, (signal) => getJson<{ images: ImageItem[] }>(`/api/runs/${enc}/images`, signal));
  const env = useResource(tab === "config" ? `env:${id}` : null, (signal) => getJson<{ available: boolean; environment?: unknown }>(`/api/environment/${enc}`, signal));

  useLiveRuns([id]);
  const [now, setNow] = useState(Date.now() / 1000);
  // steps logged since the key list was fetched (the header's step count follows live rows)
  const [liveSteps, setLiveSteps] = useState<{ base: number; steps: Set<number> }>({ base: -1, steps: new Set() });
  useLiveMessages((m) => {
    if (m.run_id !== id) return;
    if (m.type === "metrics" && keys.data) {
      const base = keys.data.last_step ?? -Infinity;
      const fresh = m.rows.map((r) => r.step).filter((s) => typeof s === "number" && s > base);
      if (fresh.length) {
        setLiveSteps((cur) => {
          const steps = cur.base === base ? new Set(cur.steps) : new Set<number>();
          for (const s of fresh) steps.add(s);
          return { base, steps };
        });
      }
    }
    // a system sample with a key not listed yet (the first one, a GPU seen later): the System tab needs the key list
    if (m.type === "system" && m.rows.some((r) => Object.keys(r.values).some((k) => k.startsWith("sys/") && !sysKeys.includes(k)))) keys.reload();
    // the server sends the current status with every (re)subscription: reload only on a change
    if (m.type === "status" && detail.data && detail.data.status !== m.status) {
      detail.mutate((d) => d && { ...d, status: m.status });
      detail.reload();
    } else if (m.type === "run_changed") detail.reload();
  });
  const d = detail.data;
  const running = d?.status === "running";
  useInterval(() => setNow(Date.now() / 1000), 1000, running);
  // Without the live socket, poll detail and key list while the run is running.
  useInterval(
    () => {
      detail.reload();
      keys.reload();
    },
    settings.refreshSeconds * 1000,
    !liveUp && running,
  );
  useEffect(() => {
    if (d) document.title = `${d.alias || d.id} · Runicorn`;
    return () => void (document.title = "Runicorn");
  }, [d?.alias, d?.id]);

  const setQuery = (patch: Record<string, string>) => {
    const q = { ...loc.query, ...patch };
    if (q.tab === "charts") delete q.tab;
    if (q.x === "step") delete q.x;
    loc.route(`/runs/${enc}${qs(q)}`, true);
  };

  if (detail.error && !d) {
    return (
      <div class="page">
        {detail.error.status === 404 ? (
          <Empty title={t("run.notFound")}>
            {t("run.notFound.text", { id })} <a href="/">{t("run.backToList")}</a>.
          </Empty>
        ) : (
          <ErrorState error={detail.error} onRetry={detail.reload} what={t("run.what")} />
        )}
      </div>
    );
  }
  if (!d) return <Loading text={t("run.loading")} />;

  const start = d.start_time ?? d.created_time ?? null;
  const duration = d.duration ?? (start !== null ? (d.ended_at ?? (running ? now : null) ?? start) - start : null);
  const summary = d.summary ?? {};
  const best = typeof summary.best_metric_name === "string" ? { name: summary.best_metric_name, value: summary.best_metric_value, step: summary.best_metric_step, mode: summary.best_metric_mode === "min" ? ("min" as const) : ("max" as const) } : null;
  const summaryEntries = Object.entries(summary).filter(([k]) => !k.startsWith("best_metric_"));
  const steps = keys.data ? keys.data.total_steps + (liveSteps.base === (keys.data.last_step ?? -Infinity) ? liveSteps.steps.size : 0) : null;
  const logsPath = d.logs;

  return (
    <div class="page page-run">
      <div class="run-head card">
        <div class="run-title">
          <a href="/" class="back" aria-label={t("run.back")}>
            ←
          </a>
          <h1 data-testid="run-title">{d.alias || d.id}</h1>
          <StatusBadge status={isStalled(d.status, d.heartbeat_at) ? "stalled" : d.status} />
          {d.exit_reason ? <span class="muted">({d.exit_reason})</span> : null}
        </div>
        <dl class="facts">
          <Fact label={t("run.fact.id")} value={<code>{d.id}</code>} />
          <Fact label={t("run.fact.path")} value={<code>{displayPath(d.path)}</code>} />
          <Fact label={t("run.fact.host")} value={d.hostname ?? "–"} />
          <Fact label={t("run.fact.pid")} value={d.pid ?? "–"} />
          <Fact label={t("run.fact.started")} value={fmtTime(start)} />
          <Fact label={t("run.fact.duration")} value={<span data-testid="run-duration">{fmtDuration(duration)}</span>} />
          <Fact label={t("run.fact.steps")} value={steps === null ? "–" : fmtInt(steps)} />
          {d.tags?.length ? (
            <Fact
              label={t("run.fact.tags")}
              value={d.tags.map((tag) => (
                <span class="tag" key={tag}>
                  {tag}
                </span>
              ))}
            />
          ) : null}
        </dl>
        {best || summaryEntries.length ? (
          <div class="summary" data-testid="run-summary">
            {best ? (
              <div class="best-metric">
                <span class="muted">{t("run.best", { name: best.name })}</span> <b>{fmtNum(best.value)}</b>
                {best.step !== undefined ? <span class="muted"> {t("run.atStep", { step: String(best.step) })}</span> : null}
              </div>
            ) : null}
            {summaryEntries.slice(0, 24).map(([k, v]) => (
              <div class="summary-item" key={k}>
                <span class="muted">{k}</span> <b>{typeof v === "object" && v !== null ? JSON.stringify(v) : fmtNum(v)}</b>
              </div>
            ))}
          </div>
        ) : null}
        <RunNotes notes={(d as { notes?: string | null }).notes} />
      </div>

      <div class="tabs" role="tablist">
        {TABS.filter((name) => name !== "system" || sysKeys.length > 0).map((name) => (
          <button key={name} role="tab" aria-selected={tab === name} class={tab === name ? "active" : ""} onClick={() => setQuery({ tab: name })}>
            {t(`run.tab.${name}`)}
          </button>
        ))}
      </div>

      {tab === "charts" ? (
        keys.error && !keys.data ? (
          <ErrorState error={keys.error} onRetry={keys.reload} what={t("run.metrics.what")} />
        ) : !keys.data ? (
          <Loading text={t("run.metrics.loading")} />
        ) : (
          <RunCharts
            runId={d.id}
            keys={ownKeys ?? keys.data}
            xMode={xMode}
            onXMode={(x) => setQuery({ x })}
            summaryBest={best ? { name: best.name, mode: best.mode } : undefined}
            onNewKey={keys.reload}
          />
        )
      ) : null}
      {tab === "system" ? <RunSystem runId={d.id} keys={sysKeys} start={d.start_time ?? d.created_time ?? null} running={d.status === "running"} /> : null}
      {tab === "logs" ? <LogsViewer runId={d.id} running={d.status === "running"} downloadUrl={logsPath ? `/api/runs/${enc}/assets/download${qs({ path: logsPath, filename: `${d.id}_logs.txt` })}` : undefined} /> : null}
      {tab === "images" ? (
        images.error && !images.data ? <ErrorState error={images.error} onRetry={images.reload} what={t("run.images.what")} /> : !images.data ? <Loading /> : <ImagesPanel images={images.data.images} />
      ) : null}
      {tab === "histograms" ? <HistogramsPanel runId={d.id} running={running} /> : null}
      {tab === "tables" ? <TablesPanel runId={d.id} running={running} /> : null}
      {tab === "audio" ? <AudioPanel runId={d.id} running={running} /> : null}
      {tab === "config" ? <ConfigPanel detail={d} env={env.data} /> : null}
      {tab === "assets" ? <AssetsPanel detail={d} /> : null}
    </div>
  );
}

function Fact(props: { label: string; value: preact.ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{props.label}</dt>
      <dd>{props.value}</dd>
    </div>
  );
}

function ConfigPanel(props: { detail: RunDetail; env?: { available: boolean; environment?: unknown } }) {
  const config = (props.detail.assets?.config ?? {}) as Record<string, unknown>;
  const hasConfig = Object.keys(config).length > 0;
  return (
    <div class="config-panel">
      <div class="card">
        <h3>{t("run.config")}</h3>
        {hasConfig ? <JsonView value={config} /> : <div class="muted">{t("run.config.none")} <code>run.log_config(args=…)</code>).</div>}
      </div>
      <div class="card">
        <h3>{t("run.environment")}</h3>
        {!props.env ? <Loading /> : props.env.available ? <JsonView value={props.env.environment} /> : <div class="muted">{t("run.environment.none")}</div>}
      </div>
      {props.detail.summary && Object.keys(props.detail.summary).length ? (
        <div class="card">
          <h3>{t("run.summary")}</h3>
          <JsonView value={props.detail.summary} />
        </div>
      ) : null}
    </div>
  );
}

interface AssetRow {
  kind: string;
  name: string;
  detail: string;
  saved: boolean;
  target?: string;
}

function assetRows(assets: Record<string, unknown>): AssetRow[] {
  const rows: AssetRow[] = [];
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const code = assets.code as Record<string, unknown> | undefined;
  const snap = code?.snapshot as Record<string, unknown> | undefined;
  if (snap && typeof snap === "object") rows.push({ kind: "code", name: "code snapshot", detail: str(snap.workspace_root) ?? "", saved: !!snap.saved, target: str(snap.archive_path) });
  for (const [kind, list] of [["dataset", assets.datasets], ["pretrained", assets.pretrained], ["output", assets.outputs]] as const) {
    if (!Array.isArray(list)) continue;
    for (const a of list as Record<string, unknown>[]) {
      rows.push({
        kind,
        name: str(a.name) ?? str(a.key) ?? "?",
        detail: str(a.uri) ?? str(a.path_or_uri) ?? str(a.path) ?? "",
        saved: !!a.saved,
        target: str(a.manifest_path) ?? str(a.archive_path),
      });
    }
  }
  return rows;
}

function AssetsPanel(props: { detail: RunDetail }) {
  const rows = assetRows(props.detail.assets ?? {});
  const enc = encodeURIComponent(props.detail.id);
  if (!rows.length) return <Empty title={t("run.assets.none")}>{t("run.assets.noneText")}</Empty>;
  return (
    <div class="table-wrap">
      <table class="table" data-testid="assets-table">
        <thead>
          <tr>
            <th>{t("run.assets.kind")}</th>
            <th>{t("run.assets.name")}</th>
            <th>{t("run.assets.source")}</th>
            <th>{t("run.assets.archived")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <td>{r.kind}</td>
              <td>{r.name}</td>
              <td>
                <code class="path">{r.detail}</code>
              </td>
              <td>{r.saved ? <span class="tag">{t("run.assets.saved")}</span> : <span class="tag tag-muted">{t("run.assets.ref")}</span>}</td>
              <td>
                {r.target ? (
                  <a class="btn btn-small" href={`/api/runs/${enc}/assets/download${qs({ path: r.target, filename: r.kind === "code" ? "code_snapshot.zip" : r.name })}`}>
                    {t("common.download")}
                  </a>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

