import { deepEqual, equal, match } from "node:assert/strict";
import { createLogger, LogFile, memoryLogger } from "../../../lib/os/logger.ts";

Deno.test("createLogger() counts lines it cannot write and reports them when it can again", () => {
  const lines: string[] = [];
  let full = true;
  const log = createLogger({
    verbosity: () => 9,
    timestamps: "none",
    write: (line) => {
      if (full) throw new Error("No space left on device (os error 28)");
      lines.push(line.trimEnd());
    },
  });
  log.log("error", "one");
  log.logAt(1, "two");
  equal(log.lostLines, 2);
  equal(lines.length, 0);
  full = false;
  log.log("info", "three");
  equal(lines.length, 2);
  match(lines[0], /warn: 2 log lines were lost \(No space left on device/);
  match(lines[1], /info: three$/);
  equal(log.lostLines, 2);
});

Deno.test("LogFile.reopen() writes to a new file after the old one was moved away", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = new LogFile(`${dir}/ham.log`);
    const log = createLogger({ verbosity: () => 9, timestamps: "none", write: file });
    log.log("info", "before");
    await Deno.rename(`${dir}/ham.log`, `${dir}/ham.log.1`);
    log.log("info", "still the old file");
    equal(log.reopen(), true);
    log.log("info", "after");
    match(await Deno.readTextFile(`${dir}/ham.log.1`), /before\n.*still the old file\n$/);
    match(await Deno.readTextFile(`${dir}/ham.log`), /^ham\[\d+\] info: after\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createLogger().reopen() keeps the old file when the path cannot be opened", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/logs`);
    const file = new LogFile(`${dir}/logs/ham.log`);
    const log = createLogger({ verbosity: () => 9, timestamps: "none", write: file });
    await Deno.rename(`${dir}/logs`, `${dir}/moved`);
    equal(log.reopen(), false);
    log.log("info", "kept");
    match(await Deno.readTextFile(`${dir}/moved/ham.log`), /info: kept\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("Logger.soon() writes a microtask later, and before any line logged after it", async () => {
  const log = memoryLogger(1);
  log.soon("notice", "first, soon");
  log.soon("debug", "below the verbosity: never");
  deepEqual(log.lines, [], "not yet");
  log.log("warn", "second");
  deepEqual(
    log.lines,
    ["notice: first, soon", "warn: second"].map((l) => `ham[${Deno.pid}] ${l}`),
  );
  log.soon("notice", "third, soon");
  await Promise.resolve();
  equal(log.lines.at(-1), `ham[${Deno.pid}] notice: third, soon`);
  equal(log.lines.length, 3);
});
