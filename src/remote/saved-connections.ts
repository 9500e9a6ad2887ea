// Saved SSH servers: CFG/connections.json (Remote page) and config.json `ssh_connections` (spec §3.8, §3.12), secrets encrypted and never handed out.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeSecretJson } from "../config/secret-file.ts";
import { readUserFile, updateUserFile } from "../config/user-files.ts";
import { isObject, parseTolerant, type JsonObject } from "../store/json.ts";
import { SecretBox } from "./secrets.ts";

/** Secret fields of connections.json entries (the original encrypted only `password`). */
const SAVED_SECRETS = ["password", "passphrase"] as const;
/** Secret fields of config.json ssh_connections entries (spec §6.4). */
const CONFIG_SECRETS = ["password", "passphrase", "private_key", "secret", "token", "api_key"] as const;

function readJson(path: string): unknown {
  try {
    return parseTolerant(readFileSync(path, "utf8"));
  } catch {
    return undefined; // missing or corrupt: start from empty
  }
}

/** The `user@host:port` a secret is bound to (port 22 when absent, as the UI saves it). */
export function secretTarget(username: unknown, host: unknown, port: unknown): string {
  return `${String(username ?? "")}@${String(host ?? "")}:${Number(port ?? 22)}`;
}

const entryTarget = (e: JsonObject) => secretTarget(e.username, e.host, e.port);

/** Decrypted secrets of a saved server, for a connect request that carries none. */
export interface SavedSecrets {
  password?: string;
  passphrase?: string;
  privateKeyPath?: string;
}

/** The two stores of saved connections in CFG. */
export class SavedConnections {
  private readonly box: SecretBox;

  constructor(private readonly configDir: string) {
    this.box = new SecretBox(configDir);
  }

  private get savedPath(): string {
    return join(this.configDir, "connections.json");
  }

  private readSaved(): JsonObject[] {
    const v = readJson(this.savedPath);
    return Array.isArray(v) ? v.filter(isObject) : [];
  }

  /** connections.json as the browser sees it: secrets replaced by `has_password` / `has_passphrase`. */
  listSaved(): JsonObject[] {
    return this.readSaved().map((e) => {
      const out: JsonObject = { ...e };
      for (const f of SAVED_SECRETS) {
        const has = typeof e[f] === "string" && e[f] !== "";
        delete out[f];
        if (f === "password" || has) out[`has_${f}`] = has;
      }
      return out;
    });
  }

  /**
   * Replaces connections.json with `entries` (the UI posts the whole list). A secret sent is always
   * encrypted (whatever prefix it has), bound to the entry's `user@host:port`. An entry without it
   * keeps the stored one (the browser never had it) only while its user, host and port are unchanged
   * and it does not say `has_password: false`; a changed target drops every stored secret.
   */
  replaceSaved(entries: unknown[]): void {
    const previous = this.readSaved();
    const out = entries.filter(isObject).map((e) => {
      const prev = findMatch(previous, e);
      const sameTarget = prev !== undefined && entryTarget(prev) === entryTarget(e);
      const next: JsonObject = { ...e };
      for (const f of SAVED_SECRETS) {
        const flag = e[`has_${f}`];
        delete next[`has_${f}`];
        const v = e[f];
        if (typeof v === "string" && v !== "") next[f] = this.box.encrypt(v, entryTarget(e));
        else if (v == null && flag !== false && prev && sameTarget && typeof prev[f] === "string" && prev[f] !== "") next[f] = prev[f];
        else delete next[f];
      }
      return next;
    });
    writeSecretJson(this.savedPath, out);
  }

  /** The stored secrets of the first saved server for `username@host:port`, decrypted. */
  findSecrets(host: string, port: number, username: string): SavedSecrets | undefined {
    const target = secretTarget(username, host, port);
    const hit = this.readSaved().find((e) => e.kind !== "connection" && entryTarget(e) === target);
    const fromConfig = this.readConfigConnections().find((e) => e.key === `${host}:${port}@${username}` && entryTarget(e) === target);
    const pick = (src: JsonObject | undefined, f: string) =>
      src && typeof src[f] === "string" && src[f] !== "" ? this.box.decrypt(src[f] as string, target) : undefined;
    const out: SavedSecrets = {
      password: pick(hit, "password") ?? pick(fromConfig, "password"),
      passphrase: pick(hit, "passphrase") ?? pick(fromConfig, "passphrase"),
      privateKeyPath:
        (typeof hit?.privateKeyPath === "string" && hit.privateKeyPath) ||
        (typeof fromConfig?.private_key_path === "string" && fromConfig.private_key_path) ||
        undefined,
    };
    return out.password || out.passphrase || out.privateKeyPath ? out : undefined;
  }

  private readConfigConnections(): JsonObject[] {
    const list = readUserFile(this.configDir, "config.json").ssh_connections;
    return Array.isArray(list) ? list.filter(isObject) : [];
  }

  /** Merge-updates config.json (other keys such as user_root_dir are kept). */
  private writeConfigConnections(list: JsonObject[]): void {
    updateUserFile(this.configDir, "config.json", (cur) => ({ ...cur, ssh_connections: list }));
  }

  /** `GET /api/config/ssh_connections`: entries without secrets, with `has_password` / `has_private_key`. */
  listConfigConnections(): JsonObject[] {
    return this.readConfigConnections().map((e) => stripConfigSecrets(e));
  }

  /** `GET …/{key}/details`: one entry, still without secrets (spec §10.13); undefined when absent. */
  configConnectionDetails(key: string): JsonObject | undefined {
    const e = this.readConfigConnections().find((c) => c.key === key);
    return e ? stripConfigSecrets(e) : undefined;
  }

  /**
   * `POST /api/config/ssh_connections`: upsert by `host:port@username`, keep the last 10, encrypt
   * secrets bound to that target. With `remember_password`, a secret left out keeps the one stored
   * for the same key (the browser never receives it); without, none is kept.
   */
  saveConfigConnection(body: JsonObject): void {
    const host = String(body.host ?? "");
    const port = Number(body.port ?? 22);
    const username = String(body.username ?? "");
    const remember = body.remember_password === true;
    const entry: JsonObject = {
      host,
      port,
      username,
      name: typeof body.name === "string" ? body.name : "",
      remember_password: remember,
      auth_method: typeof body.auth_method === "string" ? body.auth_method : "password",
    };
    if (typeof body.private_key_path === "string" && body.private_key_path) entry.private_key_path = body.private_key_path;
    const key = `${host}:${port}@${username}`;
    const target = secretTarget(username, host, port);
    const all = this.readConfigConnections();
    const prev = all.find((c) => c.key === key && entryTarget(c) === target);
    if (remember) {
      for (const f of ["password", "private_key", "passphrase"] as const) {
        const v = body[f];
        if (typeof v === "string" && v !== "") entry[f] = this.box.encrypt(v, target);
        else if (v == null && typeof prev?.[f] === "string" && prev[f] !== "") entry[f] = prev[f];
      }
    }
    entry.key = key; // last, as the original writes it
    const list = all.filter((c) => c.key !== entry.key);
    list.push(entry);
    this.writeConfigConnections(list.slice(-10));
  }

  /** `DELETE /api/config/ssh_connections/{key}`: true when an entry was removed. */
  removeConfigConnection(key: string): boolean {
    const list = this.readConfigConnections();
    const next = list.filter((c) => c.key !== key);
    if (next.length === list.length) return false;
    this.writeConfigConnections(next);
    return true;
  }
}

function stripConfigSecrets(e: JsonObject): JsonObject {
  const out: JsonObject = { ...e };
  for (const f of CONFIG_SECRETS) delete out[f];
  out.has_password = typeof e.password === "string" && e.password !== "";
  out.has_private_key = typeof e.private_key === "string" && e.private_key !== "";
  if (typeof e.passphrase === "string" && e.passphrase !== "") out.has_passphrase = true;
  return out;
}

/** The previous entry an incoming one updates: same id, else same kind and server address. */
function findMatch(previous: JsonObject[], e: JsonObject): JsonObject | undefined {
  if (e.id !== undefined) {
    const byId = previous.find((p) => p.id === e.id);
    if (byId) return byId;
  }
  return previous.find(
    (p) => p.kind === e.kind && p.host === e.host && Number(p.port ?? 22) === Number(e.port ?? 22) && p.username === e.username,
  );
}
