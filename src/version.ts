// The product version, and the Runicorn version we report for compatibility (spec §10: remote checks read 0.6.x).
export const VERSION = "0.7.0";
/** What `/api/health` reports as `version`: the original's clients check for 0.6.x. */
export const COMPAT_VERSION = "0.6.0";
