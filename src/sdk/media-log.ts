// Writes the TS SDK's rich values as the Python SDK does: histograms.jsonl lines, media/ files and their table/audio event lines.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { dumps, formatFloat, PyFloat } from "./py-json.ts";
import { nowSeconds } from "./run-files.ts";
import { Audio, Histogram, Image, Table } from "./media.ts";

/** A value that log() writes apart from the metrics line. */
export type RichValue = Histogram | Table | Audio;

/** Whether log() writes `v` apart from the metrics line. */
export function isRichValue(v: unknown): v is RichValue {
  return v instanceof Histogram || v instanceof Table || v instanceof Audio;
}

const floats = (xs: number[]) => "[" + xs.map(formatFloat).join(", ") + "]";
const orNull = (v: number | null) => (v === null ? "null" : formatFloat(v));

/** One histograms.jsonl line, as Python's `_encode({"ts", "step", "key", **h.to_json()})` writes it. */
export function histogramLine(h: Histogram, key: string, step: number, ts: number): string {
  let s = `{"ts": ${formatFloat(ts)}, "step": ${step}, "key": ${JSON.stringify(key)}, "edges": ${floats(h.edges)}, "counts": [${h.counts.join(", ")}]`;
  s += `, "count": ${h.count}, "sum": ${formatFloat(h.sum)}, "min": ${orNull(h.min)}, "max": ${orNull(h.max)}`;
  if (h.nonfinite) s += `, "nonfinite": ${h.nonfinite}`;
  return s + "}\n";
}

/** Python's `_media_name`: `<ms>_<6 hex>_<key with unsafe characters as _>.<ext>`. */
export function mediaName(key: string, ext: string): string {
  const safe = key.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 100);
  const hex = Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, "0");
  return `${Date.now()}_${hex}_${safe}.${ext}`;
}

/**
 * Saves a Table or Audio into `mediaDir` and returns its events.jsonl line (Python's `log_media_value`).
 * I/O errors are thrown for the caller's guard.
 */
export function saveMediaValue(mediaDir: string, key: string, value: Table | Audio, step: number): string {
  let kind: string;
  let data: Record<string, unknown>;
  if (value instanceof Audio) {
    const name = mediaName(key, value.ext);
    writeFileSync(join(mediaDir, name), value.data);
    kind = "audio";
    data = {
      key,
      path: "media/" + name,
      step,
      sample_rate: value.sampleRate,
      duration: value.duration === null ? null : new PyFloat(value.duration),
      caption: value.caption,
    };
  } else {
    const rows = value.rows.map((row, r) =>
      row.map((cell, c) => {
        if (!(cell instanceof Image)) return cell;
        const iname = mediaName(`${key}_r${r}_c${c}`, cell.ext);
        writeFileSync(join(mediaDir, iname), cell.data);
        return { _type: "image", path: "media/" + iname, caption: cell.caption };
      }),
    );
    const name = mediaName(key, "table.json");
    writeFileSync(join(mediaDir, name), dumps({ columns: value.columns, rows }));
    kind = "table";
    data = { key, path: "media/" + name, step, rows: rows.length, columns: value.columns.length };
  }
  return dumps({ ts: new PyFloat(nowSeconds()), type: kind, data }) + "\n";
}
