// Audio API: the rn.Audio values a run logged (audio event lines), listed, and their files served with an audio content type and byte ranges.
import { extname } from "node:path";
import { Elysia } from "elysia";
import type { AudioItem } from "../wire/media.ts";
import { openForClient } from "./assets.ts";
import type { AppContext } from "./context.ts";
import { fileResponse } from "./file-response.ts";
import { HttpError } from "./errors.ts";
import { mediaName, numOrNull, readMediaEvents, strOrNull } from "./media-events.ts";
import { mediaFile } from "./metrics.ts";
import { getLiveRun } from "./run-ids.ts";

export const AUDIO_TYPES: Record<string, string> = {
  ".wav": "audio/wav",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".flac": "audio/flac",
};

/** GET /api/runs/{id}/audio and /audio/{file}. */
export function mediaAudioRoutes(ctx: AppContext) {
  return new Elysia({ name: "media-audio" })
    .get(
      "/api/runs/:run_id/audio",
      ({ params }) => {
        const run = getLiveRun(ctx, params.run_id);
        const id = encodeURIComponent(params.run_id);
        const audio: AudioItem[] = readMediaEvents(ctx.root(), run.run_dir)
          .filter((e) => e.type === "audio")
          .map((e) => {
            const path = e.data.path as string;
            const name = mediaName(path);
            return {
              key: e.data.key as string,
              step: numOrNull(e.data.step),
              path,
              sample_rate: numOrNull(e.data.sample_rate),
              duration: numOrNull(e.data.duration),
              caption: strOrNull(e.data.caption),
              ts: e.ts,
              url: name && AUDIO_TYPES[extname(name).toLowerCase()] ? `/api/runs/${id}/audio/${encodeURIComponent(name)}` : null,
            };
          });
        return { run_id: params.run_id, audio };
      },
      { detail: { summary: "Audio logged with rn.Audio: key, step, sample rate, duration, caption and the URL to play it" } },
    )
    .get(
      "/api/runs/:run_id/audio/:file",
      ({ params, request }) => {
        const run = getLiveRun(ctx, params.run_id);
        const type = AUDIO_TYPES[extname(params.file).toLowerCase()];
        if (!type) throw new HttpError(404, "Not an audio file");
        const path = mediaFile(run.run_dir, params.file);
        if (!path) throw new HttpError(404, "File not found");
        return fileResponse(request, openForClient(ctx.root(), path), { "content-type": type, "x-content-type-options": "nosniff" });
      },
      { detail: { summary: "An audio file of the run's media/ folder (.wav, .mp3, .ogg, .flac) with its content type" } },
    );
}
