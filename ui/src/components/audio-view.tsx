// Audio logged with rn.Audio: one player per clip, grouped by key, newest step first.
import { getJson, useResource } from "../api.ts";
import { t } from "../i18n/i18n.ts";
import type { AudioItem } from "../../../src/wire/media.ts";
import { fmtTime } from "../format.ts";
import { Empty, ErrorState, Loading, useInterval } from "./common.tsx";

/** The run page's Audio tab. */
export function AudioPanel(props: { runId: string; running: boolean }) {
  const enc = encodeURIComponent(props.runId);
  const list = useResource(`audio:${props.runId}`, (signal) => getJson<{ audio: AudioItem[] }>(`/api/runs/${enc}/audio`, signal));
  useInterval(list.reload, 5000, props.running);
  if (list.error && !list.data) return <ErrorState error={list.error} onRetry={list.reload} />;
  if (!list.data) return <Loading />;
  if (!list.data.audio.length) return <Empty title={t("audio.none")}>{t("audio.noneText")} <code>run.log({"{"}"sample": rn.Audio(samples, sample_rate){"}"})</code>.</Empty>;
  const byKey = new Map<string, AudioItem[]>();
  for (const a of list.data.audio) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a]);
  return (
    <div class="image-grid">
      {[...byKey].map(([key, items]) => (
        <div class="card" key={key} data-audio-key={key}>
          <div class="chart-head">
            <span class="chart-title">{key}</span>
            <span class="muted mono">{items.length}</span>
          </div>
          {[...items].reverse().map((a) => (
            <div key={a.path} class="audio-item">
              <div class="muted mono">
                step {a.step ?? "–"}
                {a.duration !== null ? ` · ${a.duration.toFixed(2)} s` : ""}
                {a.sample_rate !== null ? ` · ${a.sample_rate} Hz` : ""}
              </div>
              {a.url ? <audio controls preload="metadata" src={a.url} aria-label={`${key} at step ${a.step ?? "?"}`} /> : <span class="muted">{a.path}</span>}
              {a.caption ? <div>{a.caption}</div> : null}
              <div class="muted">{fmtTime(a.ts)}</div>
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}
