// The UI's language: one catalogue per locale, picked from navigator.languages or the user's choice (localStorage), and Intl formatting in that locale.
import { useEffect, useState } from "preact/hooks";
import { en, type MessageKey } from "./en.ts";
import { zhCN } from "./zh-CN.ts";

/** The locales the UI ships. */
export const LOCALES = { en: { label: "English", messages: en }, "zh-CN": { label: "中文", messages: zhCN } } as const;
/** A shipped locale. */
export type Locale = keyof typeof LOCALES;

const KEY = "runicorn_locale";
const listeners = new Set<(l: Locale) => void>();
let current: Locale = initialLocale();

/** The stored choice, else the first of the browser's languages we ship (any `zh*` → zh-CN), else English. */
export function pickLocale(stored: string | null, languages: readonly string[]): Locale {
  if (stored && stored in LOCALES) return stored as Locale;
  for (const l of languages) {
    const low = l.toLowerCase();
    if (low.startsWith("zh")) return "zh-CN";
    if (low.startsWith("en")) return "en";
  }
  return "en";
}

function initialLocale(): Locale {
  let stored: string | null = null;
  try {
    stored = typeof localStorage === "undefined" ? null : localStorage.getItem(KEY);
  } catch {
    stored = null; // storage disabled: follow the browser
  }
  const nav = typeof navigator === "undefined" ? undefined : navigator;
  return pickLocale(stored, nav?.languages?.length ? nav.languages : [nav?.language ?? "en"]);
}

/** The current locale. */
export function getLocale(): Locale {
  return current;
}

/** Switches the language, remembers it and re-renders every subscriber. */
export function setLocale(l: Locale): void {
  current = l;
  try {
    localStorage.setItem(KEY, l);
  } catch {
    // not remembered; the choice holds for this page load
  }
  if (typeof document !== "undefined") document.documentElement.lang = l;
  for (const fn of listeners) fn(l);
}

/** The message `key` in the current language with `{name}` placeholders filled from `vars`. */
export function t(key: MessageKey, vars?: Record<string, string | number>): string {
  const msg: string = LOCALES[current].messages[key] ?? en[key];
  if (!vars) return msg;
  return msg.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** The current locale, re-rendering the component when it changes. */
export function useLocale(): Locale {
  const [l, set] = useState(current);
  useEffect(() => {
    listeners.add(set);
    return () => void listeners.delete(set);
  }, []);
  return l;
}

let numberFmt: { locale: Locale; fmt: Intl.NumberFormat } | undefined;
/** An integer or count with the locale's grouping (1,234 / 1,234). */
export function fmtInt(n: number): string {
  if (!numberFmt || numberFmt.locale !== current) numberFmt = { locale: current, fmt: new Intl.NumberFormat(current) };
  return numberFmt.fmt.format(n);
}

let dateFmt: { locale: Locale; fmt: Intl.DateTimeFormat } | undefined;
/** A date and time (24 h) in the locale's order. */
export function fmtDateTime(ms: number): string {
  if (!dateFmt || dateFmt.locale !== current)
    dateFmt = { locale: current, fmt: new Intl.DateTimeFormat(current, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }) };
  return dateFmt.fmt.format(new Date(ms));
}

if (typeof document !== "undefined") document.documentElement.lang = current;
