import { Client } from "ssh2";
import { readFileSync } from "node:fs";
import { startSshd } from "./sshd.ts";
const s = await startSshd();
console.log("sshd on", s.port);
const c = new Client();
const t0 = performance.now();
c.on("ready", () => {
  console.log("ready", performance.now() - t0);
  c.exec('echo "$HOME" "$TMPDIR"; pwd; uname -sm', (err, ch) => {
    if (err) throw err;
    let out = "";
    ch.on("data", (d: Buffer) => (out += d)).on("close", (code: number) => {
      console.log("exec", code, out);
      c.sftp((e, sftp) => {
        if (e) throw e;
        sftp.readdir(s.remoteHome, (e2, list) => {
          console.log("readdir", e2, list?.length);
          c.end();
        });
      });
    });
    ch.stderr.on("data", (d: Buffer) => console.log("err", d.toString()));
  });
});
c.on("error", (e) => console.log("error", e));
c.on("close", async () => { console.log(readFileSync(s.logFile,"utf8").split("\n").slice(-15).join("\n")); await s.stop(); console.log("closed"); });
c.connect({ host: "127.0.0.1", port: s.port, username: s.user, privateKey: readFileSync(s.userKey),
  hostVerifier: (key: Buffer) => { console.log("hostkey", key.length); return true; } });
