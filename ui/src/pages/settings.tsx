// The settings page: storage root on the server, archive import, and this browser's language, refresh, chart, theme and notice preferences.
import { useEffect, useState } from "preact/hooks";
import { ApiError, getJson, sendJson, useResource } from "../api.ts";
import { ArchiveImport } from "../components/archive-import.tsx";
import { ErrorState, Loading, restoreNotices, toast, useDismissedNotices } from "../components/common.tsx";
import { fmtInt, LOCALES, type Locale, setLocale, t, useLocale } from "../i18n/i18n.ts";
import { AllowedOrigins } from "../components/allowed-origins.tsx";
import { updateSettings, useSettings } from "../settings.ts";
import type { ConfigResponse } from "../types.ts";
import type { StorageStats } from "../../../src/system/storage-stats.ts";

/** Route component for `/settings`. */
export function SettingsPage() {
  const s = useSettings();
  const locale = useLocale();
  const dismissed = useDismissedNotices();
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
      toast(t("settings.root.switched", { root: r.storage }));
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
      <h2 class="page-title">{t("settings.title")}</h2>
      <section class="card">
        <h3>{t("settings.root.title")}</h3>
        {config.error && !config.data ? (
          <ErrorState error={config.error} onRetry={config.reload} what={t("settings.root.what")} />
        ) : !config.data ? (
          <Loading />
        ) : (
          <form class="form" onSubmit={saveRoot}>
            <label class="field">
              <span>{t("settings.root.label")}</span>
              <input class="input mono" aria-label={t("settings.root.aria")} value={root} onInput={(e) => setRoot((e.target as HTMLInputElement).value)} required />
            </label>
            <div class="form-row">
              <button class="btn btn-primary" type="submit" disabled={saving || !root.trim() || root === config.data.storage}>
                {t("settings.root.switch")}
              </button>
              <span class="muted">
                {t("settings.root.current")} <code data-testid="current-root">{config.data.storage}</code> · {t("settings.root.savedIn")} <code>{config.data.config_file}</code>
              </span>
            </div>
          </form>
        )}
        {storage.data ? (
          <div class="muted storage-line" data-testid="storage-stats">
            {t("settings.storage", { total: storage.data.total.size_human, runs: storage.data.runs.size_human, archive: storage.data.archive.size_human, index: storage.data.index.size_human })}
            {" · "}
            <span data-testid="storage-runs-count">{t("settings.runsCount", { runs: fmtInt(storage.data.runs.runs_count), deleted: fmtInt(storage.data.runs.deleted_runs_count ?? 0) })}</span>
          </div>
        ) : null}
      </section>
      <AllowedOrigins />
      <section class="card">
        <h3>{t("import.title")}</h3>
        <ArchiveImport onImported={() => storage.reload()} />
      </section>
      <section class="card">
        <h3>{t("settings.browser")}</h3>
        <div class="form">
          <label class="field">
            <span>{t("settings.language")}</span>
            <select class="input" aria-label={t("settings.language")} value={locale} onChange={(e) => setLocale((e.target as HTMLSelectElement).value as Locale)}>
              {(Object.keys(LOCALES) as Locale[]).map((l) => (
                <option key={l} value={l}>
                  {LOCALES[l].label}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>{t("settings.theme")}</span>
            <select class="input" aria-label={t("settings.theme")} value={s.theme} onChange={(e) => updateSettings({ theme: (e.target as HTMLSelectElement).value as "light" | "dark" | "auto" })}>
              <option value="auto">{t("settings.theme.auto")}</option>
              <option value="light">{t("settings.theme.light")}</option>
              <option value="dark">{t("settings.theme.dark")}</option>
            </select>
          </label>
          <label class="field">
            <span>{t("settings.refresh", { n: s.refreshSeconds })}</span>
            <input type="range" min="1" max="60" value={s.refreshSeconds} aria-label={t("settings.refresh.aria")} onInput={(e) => updateSettings({ refreshSeconds: Number((e.target as HTMLInputElement).value) })} />
          </label>
          <label class="field">
            <span>{t("settings.points", { n: fmtInt(s.maxPoints) })}</span>
            <input type="range" min="100" max="10000" step="100" value={s.maxPoints} aria-label={t("settings.points.aria")} onInput={(e) => updateSettings({ maxPoints: Number((e.target as HTMLInputElement).value) })} />
          </label>
          <label class="field">
            <span>{t("settings.height", { n: s.chartHeight })}</span>
            <input type="range" min="160" max="600" step="20" value={s.chartHeight} aria-label={t("settings.height.aria")} onInput={(e) => updateSettings({ chartHeight: Number((e.target as HTMLInputElement).value) })} />
          </label>
          <label class="field-inline">
            <input type="checkbox" checked={s.wideCharts} onChange={(e) => updateSettings({ wideCharts: (e.target as HTMLInputElement).checked })} />
            {t("settings.wide")}
          </label>
          <div class="form-row">
            <span class="muted">{t("settings.notices", { n: dismissed.length })}</span>
            <button class="btn-mini" disabled={!dismissed.length} onClick={restoreNotices}>
              {t("settings.notices.restore")}
            </button>
          </div>
        </div>
      </section>
    </div>
  );
}
