// The app shell: header with navigation and server status, the routes of every page, and toasts.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import lazy, { ErrorBoundary } from "preact-iso/lazy";
import { LocationProvider, Route, Router, useLocation } from "preact-iso/router";
import { getJson } from "./api.ts";
import { Toasts, useInterval } from "./components/common.tsx";
import { applyTheme, updateSettings, useSettings } from "./settings.ts";
// uPlot's own stylesheet is loaded here, not by the lazy chart chunk, so that it is part of the page's one CSS file.
import "uplot/dist/uPlot.min.css";
import "./styles.css";

const RunsPage = lazy(() => import("./pages/runs.tsx").then((m) => m.RunsPage));
const RunPage = lazy(() => import("./pages/run.tsx").then((m) => m.RunPage));
const ComparePage = lazy(() => import("./pages/compare.tsx").then((m) => m.ComparePage));
const SystemPage = lazy(() => import("./pages/system.tsx").then((m) => m.SystemPage));
const RemotePage = lazy(() => import("./pages/remote.tsx").then((m) => m.RemotePage));
const SettingsPage = lazy(() => import("./pages/settings.tsx").then((m) => m.SettingsPage));
const NotFound = lazy(() => import("./pages/not-found.tsx").then((m) => m.NotFound));

const NAV = [
  { href: "/", label: "Runs", match: (p: string) => p === "/" || p.startsWith("/runs") },
  { href: "/compare", label: "Compare", match: (p: string) => p.startsWith("/compare") },
  { href: "/system", label: "System", match: (p: string) => p.startsWith("/system") },
  { href: "/remote", label: "Remote", match: (p: string) => p.startsWith("/remote") },
  { href: "/settings", label: "Settings", match: (p: string) => p.startsWith("/settings") },
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
  return (
    <header class="topbar">
      <a class="brand" href="/">
        <span class="logo" aria-hidden="true" />
        Runicorn
      </a>
      <nav class="nav">
        {NAV.map((n) => (
          <a key={n.href} href={n.href} class={n.match(path) ? "active" : ""}>
            {n.label}
          </a>
        ))}
      </nav>
      <div class="topbar-right">
        <span class={`api-status api-${health.state}`} title={health.version ? `server ${health.version}` : ""}>
          <i class="dot" />
          {health.state === "ok" ? "API OK" : health.state === "down" ? "API down" : "Connecting…"}
        </span>
        <button
          class="btn-icon"
          title="Toggle light/dark theme"
          aria-label="Toggle theme"
          onClick={() => updateSettings({ theme: dark ? "light" : "dark" })}
          data-theme-pref={settings.theme}
        >
          {dark ? "☀" : "☾"}
        </button>
      </div>
      {health.state === "down" ? (
        <div class="banner-down" role="alert">
          Cannot reach the Runicorn server at {location.host}. Data shown may be stale; retrying every {settings.refreshSeconds}s.
        </div>
      ) : null}
    </header>
  );
}

/** The whole application. */
export function App() {
  return (
    <LocationProvider>
      <Header />
      <main class="main">
        <ErrorBoundary>
          <Router>
            <Route path="/" component={RunsPage} />
            <Route path="/runs/:id" component={RunPage} />
            <Route path="/compare" component={ComparePage} />
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
