// Run-id qualification across fleet hosts: `<host-slug>--<run_id>`, used only when two hosts hold the same id.

/** The separator between a host slug and a run id; a slug never contains it (runs of `-` collapse to one). */
export const QUALIFIER = "--";

/**
 * A URL-path-safe slug for a host label (`user@gpu-1:2222` → `user-gpu-1-2222`): letters, digits, `_`
 * and single `-`; never empty, never containing `--`, so `slug--id` splits at its first `--`.
 */
export function hostSlug(label: string): string {
  const s = label
    .replace(/[^A-Za-z0-9_]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 64)
    .replace(/-$/, "");
  return s || "host";
}

/** Distinct slugs for a list of labels, in order (a repeated slug gets `-2`, `-3`…). */
export function uniqueSlugs(labels: string[]): string[] {
  const seen = new Set<string>();
  return labels.map((label) => {
    const base = hostSlug(label);
    let slug = base;
    for (let n = 2; seen.has(slug); n++) slug = `${base}-${n}`;
    seen.add(slug);
    return slug;
  });
}

/** The qualified form of a run id on a host. */
export function qualify(slug: string, runId: string): string {
  return `${slug}${QUALIFIER}${runId}`;
}

/** Splits `slug--id` when `slug` is one of `slugs`; undefined for a plain id. */
export function splitQualified(id: string, slugs: ReadonlySet<string>): { slug: string; runId: string } | undefined {
  const at = id.indexOf(QUALIFIER);
  if (at <= 0) return undefined;
  const slug = id.slice(0, at);
  const runId = id.slice(at + QUALIFIER.length);
  return slugs.has(slug) && runId !== "" ? { slug, runId } : undefined;
}
