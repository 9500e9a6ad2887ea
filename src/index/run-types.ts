// Types the run index shares with other features (metrics, live push, UI API).

/** A run as the index knows it. */
export interface RunRecord {
  id: string;
  /** Absolute run directory under the current root. */
  run_dir: string;
  entry_path: string | null;
  status: string;
  deleted: boolean;
  created_time: number | null;
}

/** What changed in a run directory, as noticed by the watcher or the periodic sweep. */
export interface RunChange {
  kind: "added" | "updated" | "removed";
  id: string;
  run_dir: string;
  /** Base names of the files that changed (e.g. `events.jsonl`, `logs.txt`, `status.json`); empty when unknown. */
  files: string[];
}

/** The run index seen from other features. */
export interface RunService {
  /** The first live (not soft-deleted) run with this id in scan order, or undefined. */
  findRun(id: string): RunRecord | undefined;
  /** Like findRun, but soft-deleted runs are found too. */
  findRunIncludingDeleted(id: string): RunRecord | undefined;
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (change: RunChange) => void): () => void;
}
