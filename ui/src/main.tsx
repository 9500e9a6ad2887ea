// The app shell: header with navigation and server status, the routes of every page, and toasts.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import lazy, { ErrorBoundary } from "preact-iso/lazy";
import { LocationProvider, Route, Router, useLocation } from "preact-iso/router";
import { getJson } from "./api.ts";
import { Toasts, useInterval } from "./components/common.tsx";
import { LOCALES, type Locale, setLocale, t, useLocale } from "./i18n/i18n.ts";
import type { MessageKey } from "./i18n/en.ts";
import { applyTheme, updateSettings, useSettings } from "./settings.ts";
// uPlot's own stylesheet is loaded here, not by the lazy chart chunk, so that it is part of the page's one CSS file.
import "uplot/dist/uPlot.min.css";
import "./styles.css";

const RunsPage = lazy(() => import("./pages/runs.tsx").then((m) => m.RunsPage));
const RunPage = lazy(() => import("./pages/run.tsx").then((m) => m.RunPage));
const ComparePage = lazy(() => import("./pages/compare.tsx").then((m) => m.ComparePage));
const SystemPage = lazy(() => import("./pages/system.tsx").then((m) => m.SystemPage));
const RemotePage = lazy(() => import("./pages/remote.tsx").then((m) => m.RemotePage));
const AssetsPage = lazy(() => import("./pages/assets.tsx").then((m) => m.AssetsPage));
const SettingsPage = lazy(() => import("./pages/settings.tsx").then((m) => m.SettingsPage));
const NotFound = lazy(() => import("./pages/not-found.tsx").then((m) => m.NotFound));

const NAV: { href: string; label: MessageKey; match: (p: string) => boolean }[] = [
  { href: "/", label: "nav.runs", match: (p: string) => p === "/" || p.startsWith("/runs") },
  { href: "/compare", label: "nav.compare", match: (p: string) => p.startsWith("/compare") },
  { href: "/assets", label: "nav.assets", match: (p: string) => p.startsWith("/assets") },
  { href: "/system", label: "nav.system", match: (p: string) => p.startsWith("/system") },
  { href: "/remote", label: "nav.remote", match: (p: string) => p.startsWith("/remote") },
  { href: "/settings", label: "nav.settings", match: (p: string) => p.startsWith("/settings") },
];

/** Pings /api/health every refresh interval; "down" after two misses in a row (spec §3.15). */
function useHealth(): { state: "ok" | "loading" | "down"; version?: string } {
  const { refreshSeconds } = useSettings();
  const [state, setState] = useState<{ state: "ok" | "loading" | "down"; version?: string; fails: number }>({ state: "loading", fails: 0 });
  const ping = () => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 3000);
    getJson<{ version?: string }>("/api/health", ctl.signal).then(
      (h) => setState({ state: "ok", version: h.version, fails: 0 }),
      () => setState((s) => ({ ...s, state: s.fails + 1 >= 2 ? "down" : s.state, fails: s.fails + 1 })),
    ).finally(() => clearTimeout(timer));
  };
  useEffect(ping, []);
  useInterval(ping, Math.max(refreshSeconds, 2) * 1000);
  return state;
}

function Header() {
  const { path } = useLocation();
  const health = useHealth();
  const settings = useSettings();
  const dark = document.documentElement.dataset.theme === "dark";
  const locale = useLocale();
  return (
    <header class="topbar">
      <a class="brand" href="/">
        <span class="logo" aria-hidden="true" />
        Runicorn
      </a>
      <nav class="nav">
        {NAV.map((n) => (
          <a key={n.href} href={n.href} class={n.match(path) ? "active" : ""}>
            {t(n.label)}
          </a>
        ))}
      </nav>
      <div class="topbar-right">
        <span class={`api-status api-${health.state}`} title={health.version ? t("header.server", { version: health.version }) : ""}>
          <i class="dot" />
          {health.state === "ok" ? t("header.apiOk") : health.state === "down" ? t("header.apiDown") : t("header.connecting")}
        </span>
        <select class="input lang-select" aria-label={t("header.language")} title={t("header.language")} value={locale} onChange={(e) => setLocale((e.target as HTMLSelectElement).value as Locale)}>
          {(Object.keys(LOCALES) as Locale[]).map((l) => (
            <option key={l} value={l}>
              {LOCALES[l].label}
            </option>
          ))}
        </select>
        <button
          class="btn-icon"
          title={t("header.theme")}
          aria-label={t("header.themeAria")}
          onClick={() => updateSettings({ theme: dark ? "light" : "dark" })}
          data-theme-pref={settings.theme}
        >
          {dark ? "☀" : "☾"}
        </button>
      </div>
      {health.state === "down" ? (
        <div class="banner-down" role="alert">
          {t("header.down", { host: location.host, seconds: settings.refreshSeconds })}
        </div>
      ) : null}
    </header>
  );
}

/** The whole application. */
export function App() {
  // a new language re-renders every page from scratch, so no string is left in the old one
  const locale = useLocale();
  return (
    <LocationProvider>
      <Header />
      <main class="main" key={locale}>
        <ErrorBoundary>
          <Router>
            <Route path="/" component={RunsPage} />
            <Route path="/runs/:id" component={RunPage} />
            <Route path="/compare" component={ComparePage} />
            <Route path="/assets" component={AssetsPage} />
            <Route path="/assets/:id" component={AssetsPage} />
            <Route path="/system" component={SystemPage} />
            <Route path="/remote" component={RemotePage} />
            <Route path="/settings" component={SettingsPage} />
            <Route default component={NotFound} />
          </Router>
        </ErrorBoundary>
      </main>
      <Toasts />
    </LocationProvider>
  );
}

applyTheme();
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
render(<App />, document.getElementById("app")!);
