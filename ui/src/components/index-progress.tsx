// While the server builds its first run index, a progress bar ("indexing 41,000 / 100,001 runs"); gone once ready.
import { useEffect, useRef, useState } from "preact/hooks";
import { getJson } from "../api.ts";

/** The `index` object of `/api/health` (issue 13). */
interface IndexHealth {
  state: "building" | "ready";
  runs_indexed: number;
  runs_found: number;
  runs_total: number | null;
}

const POLL_MS = 1000;

/**
 * Polls `/api/health` once a second while the index builds and stops when it is ready (or when the server
 * does not report an index: an older server). `onProgress` is called after each poll that saw more runs
 * and once at the end, so the page can fill its list in as it goes.
 */
export function IndexProgress({ onProgress }: { onProgress?: () => void }) {
  const [index, setIndex] = useState<IndexHealth | undefined>();
  const cb = useRef(onProgress);
  cb.current = onProgress;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = -1;
    const poll = () => {
      getJson<{ index?: IndexHealth }>("/api/health").then(
        (h) => {
          if (stopped) return;
          setIndex(h.index);
          if (h.index && h.index.runs_indexed !== last && last >= 0) cb.current?.();
          if (h.index?.state === "building") {
            last = h.index.runs_indexed;
            timer = setTimeout(poll, POLL_MS);
          }
        },
        () => {
          if (!stopped) timer = setTimeout(poll, POLL_MS * 3);
        },
      );
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  if (!index || index.state !== "building") return null;
  const total = Math.max(index.runs_total ?? index.runs_found, index.runs_indexed);
  const fmt = (n: number) => n.toLocaleString("en-US");
  return (
    <div class="index-progress" role="status" data-testid="index-progress" style={{ display: "flex", alignItems: "center", gap: "10px", padding: "6px 0 10px", fontSize: "13px" }}>
      <progress max={total || 1} value={index.runs_indexed} style={{ flex: "1", maxWidth: "360px" }} aria-label="Index build progress" />
      <span class="muted">
        indexing {fmt(index.runs_indexed)} / {fmt(total)}
        {index.runs_total === null ? "+" : ""} runs
      </span>
    </div>
  );
}
