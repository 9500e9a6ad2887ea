// A worker thread of `runicorn import --tensorboard`: imports one run directory per message
// (compiled into the binary as an extra entry, like the metrics ingest worker).
import { importTensorBoardRun, type TensorBoardRunJob } from "./tensorboard.ts";
import { ImportError } from "./run-writer.ts";

declare const self: { onmessage: (ev: MessageEvent<TensorBoardRunJob>) => void; postMessage(v: unknown): void };

self.onmessage = (ev) => {
  try {
    self.postMessage({ ok: true, result: importTensorBoardRun(ev.data) });
  } catch (e) {
    self.postMessage({ ok: false, error: (e as Error).message, importError: e instanceof ImportError });
  }
};
