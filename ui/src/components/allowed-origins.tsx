// Settings card: browser origins (other front ends, e.g. a dev server on localhost:5173) allowed to call this server's API.
import { useState } from "preact/hooks";
import { type ApiError, getJson, sendJson, useResource } from "../api.ts";
import { ErrorState, Loading, toast } from "./common.tsx";

/** `GET/PUT /api/config/cors_origins`. */
interface CorsOrigins {
  cors_origins: string[];
  from_flags: string[];
}

/** The "Allowed origins" card of the settings page. */
export function AllowedOrigins() {
  const origins = useResource("cors-origins", (signal) => getJson<CorsOrigins>("/api/config/cors_origins", signal));
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);

  const save = async (list: string[], done: string) => {
    setBusy(true);
    try {
      await sendJson<CorsOrigins>("PUT", "/api/config/cors_origins", { cors_origins: list });
      toast(done);
      setDraft("");
      origins.reload();
    } catch (err) {
      toast((err as ApiError).message, "error");
    } finally {
      setBusy(false);
    }
  };
  const add = (e: Event) => {
    e.preventDefault();
    const o = draft.trim();
    if (o && origins.data) void save([...origins.data.cors_origins, o], `${o} may now call this server`);
  };

  return (
    <section class="card" data-testid="allowed-origins">
      <h3>Allowed origins</h3>
      <p class="muted">
        Web pages on other origins (another front end, a development server) may read but not change anything, and may not open live
        connections, unless their origin is listed here. Add only pages you trust.
      </p>
      {origins.error && !origins.data ? (
        <ErrorState error={origins.error} onRetry={origins.reload} what="the allowed origins" />
      ) : !origins.data ? (
        <Loading />
      ) : (
        <form class="form" onSubmit={add}>
          <div class="form-row" data-testid="allowed-origins-list">
            {origins.data.cors_origins.length === 0 && origins.data.from_flags.length === 0 ? <span class="muted">None: only this page's own origin.</span> : null}
            {origins.data.from_flags.map((o) => (
              <span class="chip mono" key={`flag-${o}`} title="Given with --cors-origin when the server started">
                {o} (--cors-origin)
              </span>
            ))}
            {origins.data.cors_origins.map((o) => (
              <span class="chip mono" key={o}>
                {o}
                <button
                  type="button"
                  class="chip-x"
                  aria-label={`Remove ${o}`}
                  disabled={busy}
                  onClick={() => void save(origins.data!.cors_origins.filter((x) => x !== o), `${o} removed`)}
                >
                  ×
                </button>
              </span>
            ))}
          </div>
          <div class="form-row">
            <input
              class="input mono"
              aria-label="Origin to allow"
              placeholder="http://localhost:5173"
              value={draft}
              onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
            />
            <button class="btn" type="submit" disabled={busy || !draft.trim()}>
              Allow origin
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
