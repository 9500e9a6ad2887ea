// Settings' archive import: drop or pick a .zip/.tar.gz export, watch the upload and the import, then open the imported runs.
import { useRef, useState } from "preact/hooks";
import { detailMessage } from "../api.ts";
import { fmtBytes } from "../format.ts";
import { fmtInt, t } from "../i18n/i18n.ts";
import type { ImportResult } from "../../../src/store/assets/archive-import.ts";

type Phase = { kind: "idle" } | { kind: "uploading"; name: string; loaded: number; total: number } | { kind: "importing"; name: string } | { kind: "done"; name: string; result: ImportResult } | { kind: "error"; name: string; message: string };

const ACCEPT = /\.(zip|tar|tar\.gz|tgz)$/i;

/** Uploads `file` to POST /api/import/archive with XHR (fetch has no upload progress). */
function upload(file: File, onProgress: (loaded: number, total: number) => void, onUploaded: () => void): Promise<ImportResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/import/archive");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.upload.onload = onUploaded;
    xhr.onerror = () => reject(new Error(t("import.unreachable", { host: location.host })));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as ImportResult);
      else reject(new Error(detailMessage(body, xhr.status)));
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** The drop zone and its progress, result and error states. */
export function ArchiveImport(props: { onImported?: () => void }) {
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const busy = phase.kind === "uploading" || phase.kind === "importing";

  const start = async (file: File | undefined) => {
    if (!file || busy) return;
    if (!ACCEPT.test(file.name)) {
      setPhase({ kind: "error", name: file.name, message: t("import.wrongType") });
      return;
    }
    setPhase({ kind: "uploading", name: file.name, loaded: 0, total: file.size });
    try {
      const result = await upload(
        file,
        (loaded, total) => setPhase((p) => (p.kind === "uploading" ? { ...p, loaded, total } : p)),
        () => setPhase({ kind: "importing", name: file.name }),
      );
      setPhase({ kind: "done", name: file.name, result });
      props.onImported?.();
    } catch (e) {
      setPhase({ kind: "error", name: file.name, message: (e as Error).message });
    }
  };

  const pct = phase.kind === "uploading" && phase.total > 0 ? Math.round((100 * phase.loaded) / phase.total) : 0;
  return (
    <div class="import" data-testid="archive-import">
      <div
        class={`dropzone${over ? " over" : ""}${busy ? " busy" : ""}`}
        role="button"
        tabIndex={0}
        aria-label={t("import.drop")}
        onClick={() => !busy && input.current?.click()}
        onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && !busy && input.current?.click()}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          void start(e.dataTransfer?.files?.[0]);
        }}
      >
        <div class="dropzone-title">{t("import.drop")}</div>
        <div class="muted">{t("import.hint")}</div>
        <input
          ref={input}
          type="file"
          accept=".zip,.tar,.gz,.tgz"
          hidden
          data-testid="import-file"
          onChange={(e) => {
            const el = e.target as HTMLInputElement;
            void start(el.files?.[0]);
            el.value = "";
          }}
        />
      </div>
      {phase.kind === "uploading" ? (
        <div class="progress-line" data-testid="import-progress">
          <span>{t("import.uploading", { name: phase.name, loaded: fmtBytes(phase.loaded), total: fmtBytes(phase.total) })}</span>
          <progress max={100} value={pct} />
          <span class="mono">{pct} %</span>
        </div>
      ) : phase.kind === "importing" ? (
        <div class="progress-line" data-testid="import-progress">
          <span>{t("import.importing", { name: phase.name })}</span>
          <progress />
        </div>
      ) : phase.kind === "error" ? (
        <div class="inline-error" role="alert" data-testid="import-error">
          {t("import.failed", { name: phase.name })}: {phase.message}
        </div>
      ) : phase.kind === "done" ? (
        <div class="import-result" data-testid="import-result">
          <div>
            {t("import.done", { runs: fmtInt(phase.result.new_run_ids.length), files: fmtInt(phase.result.imported_files) })}
            {phase.result.skipped_run_ids.length ? ` ${t("import.skipped", { n: fmtInt(phase.result.skipped_run_ids.length) })}` : ""}
          </div>
          {phase.result.new_run_ids.length ? (
            <ul class="plain-list">
              {phase.result.new_run_ids.map((id) => (
                <li key={id}>
                  <a href={`/runs/${encodeURIComponent(id)}`}>{id}</a>
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
