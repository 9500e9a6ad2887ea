// The settings page: storage root on the server, and this browser's refresh, chart and theme preferences.
import { useEffect, useState } from "preact/hooks";
import { ApiError, getJson, sendJson, useResource } from "../api.ts";
import { ErrorState, Loading, toast } from "../components/common.tsx";
import { AllowedOrigins } from "../components/allowed-origins.tsx";
import { updateSettings, useSettings } from "../settings.ts";
import type { ConfigResponse } from "../types.ts";

interface StorageStats {
  storage_root: string;
  total?: { size_human: string };
  runs?: { size_human: string; runs_count?: number };
  archive?: { size_human: string };
  index?: { size_human: string };
}

/** Route component for `/settings`. */
export function SettingsPage() {
  const s = useSettings();
  const config = useResource("config", (signal) => getJson<ConfigResponse>("/api/config", signal));
  const storage = useResource("storage", (signal) => getJson<StorageStats>("/api/storage/stats", signal));
  const [root, setRoot] = useState("");
  const [saving, setSaving] = useState(false);
  useEffect(() => {
    if (config.data) setRoot(config.data.user_root_dir || config.data.storage);
  }, [config.data]);

  const saveRoot = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    try {
      const r = await sendJson<{ storage: string }>("POST", "/api/config/user_root_dir", { path: root });
      toast(`Storage root is now ${r.storage}`);
      config.reload();
      storage.reload();
    } catch (err) {
      toast((err as ApiError).message, "error");
    } finally {
      setSaving(false);
    }
  };

  return (
    <div class="page page-settings">
      <h2 class="page-title">Settings</h2>
      <section class="card">
        <h3>Storage root (server)</h3>
        {config.error && !config.data ? (
          <ErrorState error={config.error} onRetry={config.reload} what="the configuration" />
        ) : !config.data ? (
          <Loading />
        ) : (
          <form class="form" onSubmit={saveRoot}>
            <label class="field">
              <span>Directory the server reads runs from</span>
              <input class="input mono" aria-label="Storage root" value={root} onInput={(e) => setRoot((e.target as HTMLInputElement).value)} required />
            </label>
            <div class="form-row">
              <button class="btn btn-primary" type="submit" disabled={saving || !root.trim() || root === config.data.storage}>
                Switch root
              </button>
              <span class="muted">
                Current: <code data-testid="current-root">{config.data.storage}</code> · saved in <code>{config.data.config_file}</code>
              </span>
            </div>
          </form>
        )}
        {storage.data ? (
          <div class="muted storage-line" data-testid="storage-stats">
            Total {storage.data.total?.size_human ?? "–"} · runs {storage.data.runs?.size_human ?? "–"} · archive {storage.data.archive?.size_human ?? "–"} · index {storage.data.index?.size_human ?? "–"}
          </div>
        ) : null}
      </section>
      <AllowedOrigins />
      <section class="card">
        <h3>This browser</h3>
        <div class="form">
          <label class="field">
            <span>Theme</span>
            <select class="input" aria-label="Theme" value={s.theme} onChange={(e) => updateSettings({ theme: (e.target as HTMLSelectElement).value as "light" | "dark" | "auto" })}>
              <option value="auto">Follow the system</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <label class="field">
            <span>Refresh interval when live updates are unavailable: {s.refreshSeconds} s</span>
            <input type="range" min="1" max="60" value={s.refreshSeconds} aria-label="Refresh interval" onInput={(e) => updateSettings({ refreshSeconds: Number((e.target as HTMLInputElement).value) })} />
          </label>
          <label class="field">
            <span>Points per chart: {s.maxPoints.toLocaleString()}</span>
            <input type="range" min="100" max="10000" step="100" value={s.maxPoints} aria-label="Max points" onInput={(e) => updateSettings({ maxPoints: Number((e.target as HTMLInputElement).value) })} />
          </label>
          <label class="field">
            <span>Chart height: {s.chartHeight} px</span>
            <input type="range" min="160" max="600" step="20" value={s.chartHeight} aria-label="Chart height" onInput={(e) => updateSettings({ chartHeight: Number((e.target as HTMLInputElement).value) })} />
          </label>
          <label class="field-inline">
            <input type="checkbox" checked={s.wideCharts} onChange={(e) => updateSettings({ wideCharts: (e.target as HTMLInputElement).checked })} />
            Two charts per row on wide windows
          </label>
        </div>
      </section>
    </div>
  );
}
