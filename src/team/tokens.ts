// Team-mode API tokens: stored as SHA-256 hashes in PostgreSQL, shown once at creation, revocable.
import { createHash, randomBytes } from "node:crypto";
import type { SQL } from "bun";

export interface TokenInfo {
  id: number;
  name: string;
  created_at: number;
  revoked_at: number | null;
}

/** Hex SHA-256 of a token (tokens are 32 random bytes: no salt or slow hash needed). */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Creates a token for `name` and returns it (the only time it is seen). */
export async function createToken(sql: SQL, name: string): Promise<string> {
  if (!NAME_RE.test(name)) throw new Error("a token name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit");
  const token = `rnt_${randomBytes(32).toString("base64url")}`;
  await sql`insert into team_token (name, hash, created_at) values (${name}, ${hashToken(token)}, ${Date.now() / 1000})`;
  return token;
}

export async function listTokens(sql: SQL): Promise<TokenInfo[]> {
  return (await sql`select id, name, created_at, revoked_at from team_token order by id`) as TokenInfo[];
}

/** Revokes every live token of `name` (or the one with id `name`); returns how many. */
export async function revokeTokens(sql: SQL, name: string): Promise<number> {
  const id = /^\d+$/.test(name) ? Number(name) : -1;
  const rows = await sql`update team_token set revoked_at = ${Date.now() / 1000}
    where revoked_at is null and (name = ${name} or id = ${id}) returning id`;
  return rows.length;
}

/** Number of tokens not revoked. */
export async function liveTokenCount(sql: SQL): Promise<number> {
  const rows = (await sql`select count(*)::int as n from team_token where revoked_at is null`) as { n: number }[];
  return rows[0].n;
}

/** The name a live token belongs to, or null. A short per-replica cache keeps revocation visible within `ttlMs`. */
export class TokenVerifier {
  private readonly cache = new Map<string, { name: string | null; at: number }>();
  constructor(
    private readonly sql: SQL,
    private readonly ttlMs = 1000,
  ) {}

  async who(token: string): Promise<string | null> {
    const hash = hashToken(token);
    const hit = this.cache.get(hash);
    const now = Date.now();
    if (hit && now - hit.at < this.ttlMs) return hit.name;
    const rows = (await this.sql`select name from team_token where hash = ${hash} and revoked_at is null`) as { name: string }[];
    const name = rows.length ? rows[0].name : null;
    if (this.cache.size > 10000) this.cache.clear();
    this.cache.set(hash, { name, at: now });
    return name;
  }
}
