// Audio API: the rn.Audio values a run logged (audio event lines), listed, and their files served with an audio content type and byte ranges.
import { extname } from "node:path";
import { Elysia } from "elysia";
import type { AudioItem } from "../wire/media.ts";
import { HttpError } from "./errors.ts";
import { mediaName, numOrNull, type RunMedia, strOrNull } from "./media-events.ts";

export const AUDIO_TYPES: Record<string, string> = {
  ".wav": "audio/wav",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".flac": "audio/flac",
};

/** GET /api/runs/{id}/audio and /audio/{file} over a run's media (the file mode's folder or the team mode's database and blobs). */
export function mediaAudioRoutes(media: RunMedia) {
  return new Elysia({ name: "media-audio" })
    .get(
      "/api/runs/:run_id/audio",
      async ({ params }) => {
        const id = encodeURIComponent(params.run_id);
        const audio: AudioItem[] = (await media.events(params.run_id))
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
      async ({ params, request }) => {
        await media.assertRun(params.run_id);
        const type = AUDIO_TYPES[extname(params.file).toLowerCase()];
        if (!type) throw new HttpError(404, "Not an audio file");
        const res = await media.respond(params.run_id, params.file, request, { "content-type": type, "x-content-type-options": "nosniff" });
        if (!res) throw new HttpError(404, "File not found");
        return res;
      },
      { detail: { summary: "An audio file of the run's media/ folder (.wav, .mp3, .ogg, .flac) with its content type" } },
    );
}
