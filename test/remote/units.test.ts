// Pure parts of the remote feature: shell quoting, known_hosts, ssh config, secrets, the attempt limiter.
import { afterEach, describe, expect, it } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AttemptLimiter } from "../../src/remote/attempt-limiter.ts";
import { parseCondaEnvs } from "../../src/remote/environment.ts";
import { normalizePlatform } from "../../src/remote/host-probe.ts";
import {
  checkHostKey,
  fingerprintSha256,
  hostKeyProblem,
  KnownHostsStore,
  parsePublicKey,
} from "../../src/remote/known-hosts.ts";
import { serveCommand } from "../../src/cli/serve.ts";
import { SecretBox } from "../../src/remote/secrets.ts";
import { shJoin, shPath, shq } from "../../src/remote/shell-quote.ts";
import { resolveSshHost } from "../../src/remote/ssh-config.ts";

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "rn-remote-unit-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// The capture's example key and fingerprint (spec §3.12 captures).
const CAPTURE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const CAPTURE_FP = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU";
const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHArwBZmYc7/359Dgo2ooJI2XlWezArSjhFjMKeFov5x";

/** Runs `printf '%s\n' <quoted words>` in a real sh and returns the words it printed. */
function echoThroughShell(words: string[]): string[] {
  const p = Bun.spawnSync(["sh", "-c", `printf '%s\\n' ${shJoin(words)}`]);
  return p.stdout.toString().split("\n").slice(0, -1);
}

describe("shell quoting", () => {
  it("passes hostile words through a real shell unchanged and runs nothing", () => {
    const marker = join(temp(), "pwned");
    const words = [
      `~/a b/'; touch ${marker}; '`,
      `$(touch ${marker})`,
      "`touch " + marker + "`",
      `"; touch ${marker}; "`,
      "a\nb",
      "",
      "it's",
      "*",
      "-n",
      "$HOME",
    ];
    expect(echoThroughShell(words)).toEqual(words.flatMap((w) => w.split("\n")));
    expect(existsSync(marker)).toBe(false);
  });

  it("leaves plain words unquoted and quotes everything else", () => {
    expect(shq("/usr/bin/python3")).toBe("/usr/bin/python3");
    expect(shq("a b")).toBe("'a b'");
    expect(shq("it's")).toBe(`'it'\\''s'`);
    expect(shq("A=b")).toBe("'A=b'");
    expect(() => shq("a\0b")).toThrow();
  });

  it("expands only a leading ~ of a path and quotes the rest", () => {
    const home = temp();
    const run = (expr: string) =>
      Bun.spawnSync(["sh", "-c", `printf '%s' ${expr}`], { env: { HOME: home } }).stdout.toString();
    expect(run(shPath("~"))).toBe(home);
    expect(run(shPath("~/a b/'; x; '"))).toBe(`${home}/a b/'; x; '`);
    expect(run(shPath("/x/~/$HOME"))).toBe("/x/~/$HOME");
  });
});

describe("known_hosts", () => {
  it("computes the OpenSSH SHA256 fingerprint of a public key", () => {
    expect(fingerprintSha256(parsePublicKey(CAPTURE_KEY).blob)).toBe(CAPTURE_FP);
  });

  it("rejects public keys that are not '<type> <base64>'", () => {
    expect(() => parsePublicKey("ssh-ed25519")).toThrow("Invalid public key format");
    expect(() => parsePublicKey("ssh-ed25519 not*base64")).toThrow("Invalid base64 public key");
  });

  it("finds a key by plain, [host]:port, hashed and wildcard entries", () => {
    const d = temp();
    const blob = parsePublicKey(CAPTURE_KEY).blob;
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update("[10.0.0.9]:2222").digest("base64")}`;
    const f = join(d, "known_hosts");
    writeFileSync(f, [`# comment`, `gpu1,gpu2 ${CAPTURE_KEY}`, `[gpu3]:2200 ${CAPTURE_KEY}`, `${hashed} ${CAPTURE_KEY}`, `*.lab ${CAPTURE_KEY}`].join("\n"));
    expect(checkHostKey([f], "gpu2", 22, blob).status).toBe("ok");
    expect(checkHostKey([f], "gpu3", 2200, blob).status).toBe("ok");
    expect(checkHostKey([f], "gpu3", 22, blob).status).toBe("unknown");
    expect(checkHostKey([f], "10.0.0.9", 2222, blob).status).toBe("ok");
    expect(checkHostKey([f], "box.lab", 22, blob).status).toBe("ok");
    expect(checkHostKey([f], "elsewhere", 22, blob).status).toBe("unknown");
  });

  it("reports a changed key with the expected one, and lets our file override ~/.ssh", () => {
    const d = temp();
    const presented = parsePublicKey(OTHER_KEY).blob;
    const userFile = join(d, "user_known_hosts");
    const ours = join(d, "known_hosts");
    writeFileSync(userFile, `[h]:2222 ${CAPTURE_KEY}\n`);
    const check = checkHostKey([ours, userFile], "h", 2222, presented);
    expect(check.status).toBe("changed");
    const problem = hostKeyProblem("h", 2222, presented, check);
    expect(problem).toMatchObject({
      host: "h",
      port: 2222,
      known_hosts_host: "[h]:2222",
      key_type: "ssh-ed25519",
      reason: "changed",
      public_key: OTHER_KEY,
      expected_public_key: CAPTURE_KEY,
      expected_fingerprint_sha256: CAPTURE_FP,
    });
    new KnownHostsStore(ours).upsert("h", 2222, "ssh-ed25519", OTHER_KEY.split(" ")[1]!);
    expect(checkHostKey([ours, userFile], "h", 2222, presented).status).toBe("ok");
  });

  it("refuses a key marked @revoked", () => {
    const d = temp();
    const f = join(d, "known_hosts");
    writeFileSync(f, `@revoked * ${CAPTURE_KEY}\n`);
    expect(checkHostKey([f], "any", 22, parsePublicKey(CAPTURE_KEY).blob).status).toBe("revoked");
  });

  it("upserts in place, splits multi-host lines, lists and removes entries", () => {
    const d = temp();
    const store = new KnownHostsStore(join(d, "cfg", "known_hosts"));
    expect(store.upsert("example.com", 2222, "ssh-ed25519", CAPTURE_KEY.split(" ")[1]!)).toBe(true);
    expect(readFileSync(store.path, "utf8")).toBe(`[example.com]:2222 ${CAPTURE_KEY}\n`);
    expect(store.list()).toEqual([
      {
        host: "example.com",
        port: 2222,
        known_hosts_host: "[example.com]:2222",
        key_type: "ssh-ed25519",
        key_base64: CAPTURE_KEY.split(" ")[1]!,
        fingerprint_sha256: CAPTURE_FP,
      },
    ]);
    expect(store.upsert("example.com", 2222, "ssh-ed25519", CAPTURE_KEY.split(" ")[1]!)).toBe(false);
    writeFileSync(store.path, `a,b ${CAPTURE_KEY} note\n`);
    store.upsert("a", 22, "ssh-ed25519", OTHER_KEY.split(" ")[1]!);
    expect(readFileSync(store.path, "utf8")).toBe(`b ${CAPTURE_KEY} note\na ${OTHER_KEY}\n`);
    expect(store.remove("b", 22, "ssh-ed25519")).toBe(true);
    expect(store.remove("b", 22, "ssh-ed25519")).toBe(false);
    expect(readFileSync(store.path, "utf8")).toBe(`a ${OTHER_KEY}\n`);
    expect(existsSync(`${store.path}.rnlock`)).toBe(false);
  });
});

describe("~/.ssh/config", () => {
  it("resolves HostName, User, Port and IdentityFile for an alias, first value winning", () => {
    const home = temp();
    mkdirSync(join(home, ".ssh"));
    writeFileSync(
      join(home, ".ssh", "config"),
      [
        "Host gpu",
        "  HostName 10.1.2.3",
        "  User ml",
        "  Port=2200",
        "  IdentityFile ~/.ssh/gpu_key",
        "  ProxyJump bastion",
        "Host *",
        "  User fallback",
        "  Port 22",
        "  IdentityFile id_%r",
      ].join("\n"),
    );
    const c = resolveSshHost("gpu", home, "me");
    expect(c.hostName).toBe("10.1.2.3");
    expect(c.user).toBe("ml");
    expect(c.port).toBe(2200);
    expect(c.identityFiles).toEqual([join(home, ".ssh", "gpu_key"), join(home, ".ssh", "id_ml")]);
    expect(c.unsupported).toEqual(["proxyjump"]);
    const other = resolveSshHost("other", home, "me");
    expect(other.hostName).toBeUndefined();
    expect(other).toMatchObject({ user: "fallback", port: 22 });
  });

  it("yields nothing when there is no config file", () => {
    expect(resolveSshHost("x", temp(), "me")).toEqual({ identityFiles: [], unsupported: [] });
  });
});

describe("secrets at rest", () => {
  const T = "me@gpu:22";
  it("encrypts with AES-GCM under a mode-600 key file and decrypts back", () => {
    const cfg = temp();
    const box = new SecretBox(cfg);
    const enc = box.encrypt("hunter2", T);
    expect(enc.startsWith("rnenc2:")).toBe(true);
    expect(enc).not.toContain("hunter2");
    expect(box.encrypt("hunter2", T)).not.toBe(enc);
    expect(new SecretBox(cfg).decrypt(enc, T)).toBe("hunter2");
    expect(statSync(join(cfg, ".runicorn-secret.key")).mode & 0o777).toBe(0o600);
  });

  it("decrypts a value only for the user@host:port it was saved for", () => {
    const cfg = temp();
    const enc = new SecretBox(cfg).encrypt("hunter2", T);
    for (const other of ["me@gpu:2222", "you@gpu:22", "me@evil:22", "me@gpu:22 "]) {
      expect(new SecretBox(cfg).decrypt(enc, other)).toBeUndefined();
    }
  });

  it("encrypts a password that already looks encrypted instead of storing it as is", () => {
    const box = new SecretBox(temp());
    for (const pw of ["ENC:abc", "rnenc1:AAAA", "rnenc2:AAAA", "gAAAAA" + "x".repeat(60)]) {
      const enc = box.encrypt(pw, T);
      expect(enc).not.toBe(pw);
      expect(enc.startsWith("rnenc2:")).toBe(true);
      expect(box.decrypt(enc, T)).toBe(pw);
    }
  });

  it("refuses a tampered value and a value from another key", () => {
    const enc = new SecretBox(temp()).encrypt("x", T);
    expect(new SecretBox(temp()).decrypt(enc, T)).toBeUndefined();
    const raw = Buffer.from(enc.slice(7), "base64");
    raw[13]! ^= 1;
    expect(new SecretBox(temp()).decrypt("rnenc2:" + raw.toString("base64"), T)).toBeUndefined();
  });

  it("tightens a key file left readable by others and keeps using it", () => {
    const cfg = temp();
    const enc = new SecretBox(cfg).encrypt("pw", T);
    chmodSync(join(cfg, ".runicorn-secret.key"), 0o644);
    expect(new SecretBox(cfg).decrypt(enc, T)).toBe("pw");
    expect(statSync(join(cfg, ".runicorn-secret.key")).mode & 0o777).toBe(0o600);
  });

  it("reads the original's XOR 'ENC:' values with its .credential_key", () => {
    const cfg = temp();
    const key = randomBytes(32);
    writeFileSync(join(cfg, ".credential_key"), key);
    const plain = Buffer.from("pw");
    const xored = Buffer.from(plain.map((b, i) => b ^ key[i % 32]!));
    expect(new SecretBox(cfg).decrypt("ENC:" + xored.toString("base64"), T)).toBe("pw");
  });
});

describe("serve --token-file (the remote viewer's token)", () => {
  it("refuses a missing or empty token file and --token together with --token-file, before starting", async () => {
    const dir = temp();
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n", { mode: 0o600 });
    const env = { HOME: dir };
    await expect(serveCommand(["--token-file", join(dir, "missing")], env)).rejects.toThrow(`cannot read token file ${join(dir, "missing")}: ENOENT`);
    await expect(serveCommand(["--token-file", empty], env)).rejects.toThrow("is empty");
    await expect(serveCommand(["--token", "a", "--token-file", empty], env)).rejects.toThrow("give either --token or --token-file, not both");
  });

  it("refuses a --public-url that is not a plain http(s) URL (it is shown to every training script on the root)", async () => {
    const env = { HOME: temp() };
    for (const bad of ["localhost:23300", "ftp://x/", "http://user:pw@localhost:1", "http://localhost:1/?token=abc", "javascript:alert(1)"]) {
      await expect(serveCommand(["--public-url", bad], env)).rejects.toThrow("--public-url needs an http(s) URL");
    }
  });
});

describe("small helpers", () => {
  it("allows 5 connection attempts per host per minute, then says how long to wait", () => {
    let now = 1_000_000;
    const l = new AttemptLimiter(5, 60_000, () => now);
    for (let i = 0; i < 5; i++) expect(l.take("gpu")).toBe(0);
    expect(l.take("GPU")).toBe(60);
    expect(l.take("other")).toBe(0);
    now += 30_000;
    expect(l.take("gpu")).toBe(30);
    now += 30_001;
    expect(l.take("gpu")).toBe(0);
  });

  it("maps uname output to Bun's platform names", () => {
    expect(normalizePlatform("Linux", "x86_64")).toEqual({ os: "linux", arch: "x64" });
    expect(normalizePlatform("Darwin", "arm64")).toEqual({ os: "darwin", arch: "arm64" });
    expect(normalizePlatform("Linux", "aarch64")).toEqual({ os: "linux", arch: "arm64" });
  });

  it("parses `conda info --envs`", () => {
    const text = "# conda environments:\n#\nbase                     /opt/conda\ntorch                 *  /opt/conda/envs/torch\n";
    expect(parseCondaEnvs(text)).toEqual([
      { name: "base", path: "/opt/conda", isDefault: false },
      { name: "torch", path: "/opt/conda/envs/torch", isDefault: true },
    ]);
  });
});
