// The user's UI preferences, kept in localStorage and shared by every page through a hook.
import { useEffect, useState } from "preact/hooks";

/** Preferences the Settings page edits. */
export interface UiSettings {
  theme: "light" | "dark" | "auto";
  /** Seconds between health pings and, when live push is down, between list refreshes. */
  refreshSeconds: number;
  /** Points per chart asked from `/series` (the server downsamples to this). */
  maxPoints: number;
  chartHeight: number;
  /** Two charts per row on wide windows. */
  wideCharts: boolean;
}

const KEY = "runicorn_ui";
const DEFAULTS: UiSettings = { theme: "auto", refreshSeconds: 5, maxPoints: 2000, chartHeight: 240, wideCharts: true };
const listeners = new Set<(s: UiSettings) => void>();
let current: UiSettings = load();

function load(): UiSettings {
  try {
    const raw = JSON.parse(localStorage.getItem(KEY) || "{}") as Partial<UiSettings>;
    return sanitize({ ...DEFAULTS, ...raw });
  } catch {
    return { ...DEFAULTS };
  }
}

function clamp(v: unknown, lo: number, hi: number, dflt: number): number {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, Math.round(n))) : dflt;
}

function sanitize(s: UiSettings): UiSettings {
  return {
    theme: s.theme === "light" || s.theme === "dark" ? s.theme : "auto",
    refreshSeconds: clamp(s.refreshSeconds, 1, 60, DEFAULTS.refreshSeconds),
    maxPoints: clamp(s.maxPoints, 100, 20000, DEFAULTS.maxPoints),
    chartHeight: clamp(s.chartHeight, 160, 600, DEFAULTS.chartHeight),
    wideCharts: s.wideCharts !== false,
  };
}

/** The current preferences (outside components). */
export function getSettings(): UiSettings {
  return current;
}

/** Changes some preferences, saves them and tells every subscriber. */
export function updateSettings(patch: Partial<UiSettings>): void {
  current = sanitize({ ...current, ...patch });
  try {
    localStorage.setItem(KEY, JSON.stringify(current));
  } catch {
    // storage full or disabled: keep the preference for this page load only
  }
  applyTheme();
  for (const fn of listeners) fn(current);
}

/** Sets `data-theme` on <html> from the preference (auto follows the system). */
export function applyTheme(): void {
  const t = current.theme === "auto" ? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light") : current.theme;
  document.documentElement.dataset.theme = t;
}

/** The preferences, re-rendering the component when they change. */
export function useSettings(): UiSettings {
  const [s, set] = useState(current);
  useEffect(() => {
    listeners.add(set);
    return () => void listeners.delete(set);
  }, []);
  return s;
}

/** A value persisted in localStorage under `key`, like useState. */
export function useStored<T>(key: string, initial: T): [T, (v: T) => void] {
  const [v, setV] = useState<T>(() => {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? initial : (JSON.parse(raw) as T);
    } catch {
      return initial;
    }
  });
  const set = (nv: T) => {
    setV(nv);
    try {
      localStorage.setItem(key, JSON.stringify(nv));
    } catch {
      // not persisted; the value still applies to this page load
    }
  };
  return [v, set];
}
