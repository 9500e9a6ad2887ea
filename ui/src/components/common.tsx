// Small shared pieces of the pages: error and empty states, status badge, modal dialog, visibility hook, toasts.
import { t } from "../i18n/i18n.ts";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ApiError } from "../api.ts";

/** A clear message for a failed load, with a retry button; unreachable servers get their own wording. */
export function ErrorState(props: { error: ApiError; onRetry?: () => void; what?: string }) {
  const { error } = props;
  // A generic 404 means the route itself is missing (an older or partial server), not the object.
  const noRoute = error.status === 404 && error.message === "Not Found";
  const text = noRoute ? t("common.noRoute", { path: error.path?.split("?")[0] ?? "/api" }) : error.message;
  return (
    <div class="state state-error" role="alert">
      <div class="state-title">{error.unreachable ? t("common.unreachable") : error.status === 404 && !noRoute ? t("common.notFound") : t("common.couldNotLoad", { what: props.what ?? t("common.data") })}</div>
      <div class="state-text">{text}</div>
      {props.onRetry ? (
        <button class="btn" onClick={props.onRetry}>
          {t("common.retry")}
        </button>
      ) : null}
    </div>
  );
}

/** A friendly "nothing here" message. */
export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="state state-empty">
      <div class="state-title">{props.title}</div>
      {props.children ? <div class="state-text">{props.children}</div> : null}
    </div>
  );
}

/** A loading placeholder. */
export function Loading(props: { text?: string }) {
  return <div class="state state-loading">{props.text ?? t("common.loading")}</div>;
}

/** A coloured run status with a pulsing dot while running. */
export function StatusBadge(props: { status: string }) {
  const s = props.status || "unknown";
  const cls = ["running", "finished", "failed", "interrupted", "stalled"].includes(s) ? s : "other";
  return (
    <span class={`badge badge-${cls}`} data-status={s}>
      <i class="dot" />
      {s}
    </span>
  );
}

/** A modal dialog; Escape or a click on the backdrop closes it. */
export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; footer?: ComponentChildren }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && props.onClose();
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, [props.onClose]);
  return (
    <div class="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`modal${props.wide ? " modal-wide" : ""}`} role="dialog" aria-modal="true" aria-label={props.title}>
        <div class="modal-head">
          <h3>{props.title}</h3>
          <button class="btn-icon" aria-label={t("common.close")} onClick={props.onClose}>
            ×
          </button>
        </div>
        <div class="modal-body">{props.children}</div>
        {props.footer ? <div class="modal-foot">{props.footer}</div> : null}
      </div>
    </div>
  );
}

/** A yes/no question in a modal. */
export function Confirm(props: { title: string; text: ComponentChildren; confirmText: string; danger?: boolean; onConfirm: () => void; onCancel: () => void; busy?: boolean }) {
  return (
    <Modal
      title={props.title}
      onClose={props.onCancel}
      footer={
        <>
          <button class="btn" onClick={props.onCancel}>
            {t("common.cancel")}
          </button>
          <button class={`btn ${props.danger ? "btn-danger" : "btn-primary"}`} disabled={props.busy} onClick={props.onConfirm}>
            {props.confirmText}
          </button>
        </>
      }
    >
      {props.text}
    </Modal>
  );
}

/** True once the element has come within `margin` of the viewport (and stays true). */
export function useSeen(ref: { current: Element | null }, margin = "200px"): boolean {
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || seen) return;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          setSeen(true);
          io.disconnect();
        }
      },
      { rootMargin: margin },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [seen]);
  return seen;
}

type ToastItem = { id: number; text: string; kind: "ok" | "error" };
const toastListeners = new Set<(t: ToastItem[]) => void>();
let toasts: ToastItem[] = [];
let toastId = 0;

/** Shows a short message in the corner for a few seconds. */
export function toast(text: string, kind: "ok" | "error" = "ok"): void {
  const t = { id: ++toastId, text, kind };
  toasts = [...toasts, t];
  toastListeners.forEach((fn) => fn(toasts));
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    toastListeners.forEach((fn) => fn(toasts));
  }, kind === "error" ? 6000 : 3000);
}

/** Where toasts appear; mounted once by the shell. */
export function Toasts() {
  const [list, set] = useState(toasts);
  useEffect(() => {
    toastListeners.add(set);
    return () => void toastListeners.delete(set);
  }, []);
  return (
    <div class="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** Calls `fn` every `ms` while mounted (and when `enabled`). */
export function useInterval(fn: () => void, ms: number, enabled = true): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!enabled || ms <= 0) return;
    const id = setInterval(() => ref.current(), ms);
    return () => clearInterval(id);
  }, [ms, enabled]);
}

/** A value that follows `value` after it stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, set] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => set(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

const NOTICES_KEY = "runicorn_dismissed_notices";
const noticeListeners = new Set<(ids: string[]) => void>();
function readDismissed(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(NOTICES_KEY) || "[]") as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}
function writeDismissed(ids: string[]): void {
  try {
    localStorage.setItem(NOTICES_KEY, JSON.stringify(ids));
  } catch {
    // not remembered: the notice stays hidden for this page load only
  }
  noticeListeners.forEach((fn) => fn(ids));
}

/** The ids of the notices this browser dismissed, re-rendering when that changes. */
export function useDismissedNotices(): string[] {
  const [ids, set] = useState(readDismissed);
  useEffect(() => {
    noticeListeners.add(set);
    return () => void noticeListeners.delete(set);
  }, []);
  return ids;
}

/** Shows every dismissed notice again. */
export function restoreNotices(): void {
  writeDismissed([]);
}

/** An informational notice with a close button; once dismissed it stays hidden in this browser (localStorage). */
export function Notice(props: { id: string; children: ComponentChildren; dismissLabel: string }) {
  const ids = useDismissedNotices();
  if (ids.includes(props.id)) return null;
  return (
    <div class="notice" role="note" data-notice={props.id}>
      <span class="notice-text">{props.children}</span>
      <button class="chip-x" aria-label={props.dismissLabel} title={props.dismissLabel} onClick={() => writeDismissed([...readDismissed().filter((x) => x !== props.id), props.id])}>
        ×
      </button>
    </div>
  );
}
