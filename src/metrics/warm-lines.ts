// Synthetic events.jsonl lines in the SDK's exact shape, for warming the metric code up (no file involved).

/**
 * Lines `from .. from + count - 1` of a synthetic run of `total` steps as the Python SDK writes them:
 * float32 values printed with Python's shortest repr (16-17 digits, the same text as JavaScript's), a
 * decaying learning rate, global_step, time, and a stage that turns from warmup to train to eval. The
 * numbers look like real ones on purpose: code compiled for other shapes of text is compiled again.
 */
export function syntheticLines(from: number, count: number, total: number): Buffer {
  let text = "";
  let seed = (from * 2654435761) % 2147483647 || 1;
  const rnd = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  for (let i = from; i < from + count; i++) {
    const t = String(Math.round((1795922975.044536 + i * 0.000171) * 1e6) / 1e6);
    const loss = 2 / Math.sqrt(i + 1) + Math.fround(rnd()) * 0.1;
    const stage = i < total * 0.1 ? "warmup" : i < total * 0.8 ? "train" : "eval";
    text += `{"ts": ${t}, "type": "metrics", "data": {"loss": ${loss}, "acc": ${Math.fround(rnd())}, "lr": ${0.001 * (1 - i / total) + 1e-6}, "grad_norm": ${Math.fround(rnd()) * 10}, "val_loss": ${loss + Math.fround(rnd()) * 0.5}, "global_step": ${i}, "time": ${t}, "stage": "${stage}"}}\n`;
  }
  return Buffer.from(text);
}
