// At most N SSH connection attempts per host in a sliding window (the original documented 5/min but never enforced it, spec §6.3).

/** Sliding-window counter of connection attempts per host. */
export class AttemptLimiter {
  private readonly attempts = new Map<string, number[]>();

  constructor(
    private readonly max = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records an attempt for `host` and returns 0, or returns the seconds to wait (≥ 1) without
   * recording when the host already had `max` attempts in the window.
   */
  take(host: string): number {
    const key = host.toLowerCase();
    const t = this.now();
    const recent = (this.attempts.get(key) ?? []).filter((a) => t - a < this.windowMs);
    if (recent.length >= this.max) {
      this.attempts.set(key, recent);
      return Math.max(1, Math.ceil((recent[0]! + this.windowMs - t) / 1000));
    }
    recent.push(t);
    this.attempts.set(key, recent);
    return 0;
  }
}
