// Unit tests of the log line helpers: ANSI colours, escape stripping and tqdm detection.
import { describe, expect, it } from "bun:test";
import { isTqdm, parseAnsi, stripAnsi } from "../../ui/src/ansi.ts";

describe("parseAnsi", () => {
  it("returns plain lines as one segment", () => {
    expect(parseAnsi("epoch 1 done")).toEqual([{ text: "epoch 1 done" }]);
  });
  it("colours text after an SGR code and resets on 0", () => {
    const s = parseAnsi("\x1b[31mERROR\x1b[0m ok");
    expect(s[0]).toMatchObject({ text: "ERROR", fg: "#cd3131" });
    expect(s[1]).toEqual({ text: " ok" });
  });
  it("understands bold, bright, 256-colour and true-colour codes", () => {
    expect(parseAnsi("\x1b[1;92mA")[0]).toMatchObject({ text: "A", bold: true, fg: "#23d18b" });
    expect(parseAnsi("\x1b[38;5;196mB")[0].fg).toBe("rgb(255,0,0)");
    expect(parseAnsi("\x1b[38;2;1;2;3mC")[0].fg).toBe("rgb(1,2,3)");
  });
  it("drops cursor and erase sequences that a browser cannot show", () => {
    expect(parseAnsi("\x1b[2K\x1b[1Gline")).toEqual([{ text: "line" }]);
  });
});

describe("stripAnsi", () => {
  it("removes every escape sequence", () => {
    expect(stripAnsi("\x1b[1m\x1b[31mred\x1b[0m")).toBe("red");
  });
});

describe("isTqdm", () => {
  it("recognises tqdm progress bars (spec §7.2 patterns)", () => {
    expect(isTqdm("[12:00:01]  45%|████▌     | 45/100 [00:04<00:05, 10.1it/s]")).toBe(true);
    expect(isTqdm("100%|##########| 10/10 [00:01<00:00]")).toBe(true);
    expect(isTqdm(" 3%|")).toBe(true);
  });
  it("keeps ordinary lines, including ones that mention percentages", () => {
    expect(isTqdm("12:00:01 | accuracy reached 95% on val")).toBe(false);
    expect(isTqdm("[info] Logs are now available, streaming...")).toBe(false);
  });
});
