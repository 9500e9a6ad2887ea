// Images logged with run.log_image(): one card per key with a step slider.
import { t } from "../i18n/i18n.ts";
import { useMemo, useState } from "preact/hooks";
import { fmtTime } from "../format.ts";
import type { ImageItem } from "../types.ts";
import { Empty } from "./common.tsx";

/** All image keys of a run, newest step selected by default. */
export function ImagesPanel(props: { images: ImageItem[] }) {
  const byKey = useMemo(() => {
    const m = new Map<string, ImageItem[]>();
    for (const im of props.images) {
      if (!m.has(im.key)) m.set(im.key, []);
      m.get(im.key)!.push(im);
    }
    for (const list of m.values()) list.sort((a, b) => (a.step ?? -1) - (b.step ?? -1) || (a.ts ?? 0) - (b.ts ?? 0));
    return [...m];
  }, [props.images]);
  if (!byKey.length) return <Empty title={t("images.none")}>{t("images.noneText")} <code>run.log_image(key, image, step=…)</code>.</Empty>;
  return (
    <div class="image-grid">
      {byKey.map(([key, list]) => (
        <ImageCard key={key} name={key} list={list} />
      ))}
    </div>
  );
}

function ImageCard(props: { name: string; list: ImageItem[] }) {
  const [idx, setIdx] = useState<number | null>(null);
  const i = idx === null ? props.list.length - 1 : Math.min(idx, props.list.length - 1);
  const im = props.list[i];
  return (
    <div class="card image-card" data-image-key={props.name}>
      <div class="chart-head">
        <span class="chart-title">{props.name}</span>
        <span class="muted mono">
          step {im.step ?? "–"} · {i + 1}/{props.list.length}
        </span>
      </div>
      <a href={im.url} target="_blank" rel="noopener" class="image-frame">
        <img src={im.url} alt={im.caption ?? `${props.name} at step ${im.step ?? "?"}`} loading="lazy" />
      </a>
      {props.list.length > 1 ? (
        <input type="range" min="0" max={props.list.length - 1} value={i} aria-label={`${props.name} step`} onInput={(e) => setIdx(Number((e.target as HTMLInputElement).value))} />
      ) : null}
      <div class="image-caption">
        {im.caption ? <span>{im.caption}</span> : null}
        <span class="muted">{fmtTime(im.ts)}</span>
      </div>
    </div>
  );
}
