// What every API feature receives: the configuration, the logger, and the live services of the server (assembled once in cli/serve.ts).
import type { AllowedOrigins } from "../config/allowed-origins.ts";
import type { Config } from "../config/config.ts";
import type { Fleet } from "../fleet/fleet.ts";
import type { UiFleet } from "../fleet/ui-fleet.ts";
import type { IndexDb } from "../index/db.ts";
import type { MetricStore } from "../index/metric-store.ts";
import type { RunService } from "../index/run-types.ts";
import type { Storage } from "../index/storage.ts";
import type { LiveHub } from "../live/live-hub.ts";
import type { RemoteManager } from "../remote/manager.ts";
import type { SystemSamplers } from "../system/samplers.ts";
import type { IngestSink } from "../ingest/sink.ts";
import type { Logger } from "../util/log.ts";

/**
 * Services shared by the API features, each built once by `startServer` (cli/serve.ts); route factories
 * only read them. `root()` can change at run time (POST /api/config/user_root_dir): read the per-root
 * services (`index()`, `metrics()`) per request.
 */
export interface AppContext {
  config: Config;
  log: Logger;
  /** The current storage root, absolute. */
  root(): string;
  /** The index of the current root (replaced when the root changes; read it per request). */
  index(): IndexDb;
  /** The metric store of the current root (replaced with the index; read it per request). */
  metrics(): MetricStore;
  /** Run lookup and change notifications of the current root. */
  runs: RunService;
  /** The storage holder (root, index, indexer) for features that write run files. */
  storage: Storage;
  /** Live push of metric rows, log lines and status changes (the `/api/live` socket). */
  live: LiveHub;
  /** GPU, host and storage samplers behind the system endpoints. */
  system: SystemSamplers;
  /** SSH connections and remote viewer sessions. */
  remote: RemoteManager;
  /** Browser origins allowed to call the API (CORS), editable at run time. */
  origins: AllowedOrigins;
  /** Fleet mode (issue 18): the hosts whose viewers this server merges; runs, metrics and system routes go to them. */
  fleet?: Fleet;
  /** The fleet the Remote page builds from saved connections (src/fleet/ui-fleet.ts); unset on a fleet started from the command line. */
  uiFleet?: UiFleet;
  /** Where the ingest API (api/ingest.ts) stores runs sent over HTTP: the file sink over the storage root. */
  ingest: IngestSink;
  /** Functions to call when the server stops (samplers, watchers, sessions). */
  onClose(fn: () => void | Promise<void>): void;
}
