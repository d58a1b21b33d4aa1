import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createLogger, LogFile, memoryLogger } from "../../../lib/os/logger.ts";
import { LineReader } from "../../support/line_reader.ts";
import { mountTmpfs } from "../../support/tmpfs.ts";

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

Deno.test(
  "LogFile.write() starts a new line after one the disk filled up half-way, so the next is not glued to it",
  { sanitizeResources: false },
  async () => {
    await using fs = await mountTmpfs(1 << 20, "LogFile.write() on a full disk");
    if (!fs) return;
    const path = `${fs.path}/ham.log`;
    const log = createLogger({ verbosity: () => 9, timestamps: "none", write: new LogFile(path) });
    log.log("info", "before");
    const filler = await fs.fill();
    // Longer than the room left in the file's last page: written in part, then ENOSPC.
    log.log("info", "x".repeat(8192));
    equal(log.lostLines, 1);
    await Deno.remove(filler);
    log.log("info", "after");
    const lines = (await Deno.readTextFile(path)).split("\n");
    const shown = lines.map((l) => l.replace(/^ham\[\d+\] /, "").replace(/ \(.*/, ""));
    equal(shown[0], "info: before");
    // What the disk took of the long line, on a line of its own.
    match(shown[1], /^info: x+$/);
    deepEqual(shown.slice(2), ["warn: 1 log lines were lost", "info: after", ""]);
  },
);

Deno.test(
  "createLogger() starts a new line after a line written in part to stderr (a full disk)",
  async () => {
    await using fs = await mountTmpfs(1 << 20, "the stderr logger on a full disk");
    if (!fs) return;
    const path = `${fs.path}/ham.log`;
    // The detached HAM's way: stderr appended to the log file by the shell.
    const script = `
      import { createLogger } from "${new URL("../../../lib/os/logger.ts", import.meta.url)}";
      const log = createLogger({ verbosity: () => 9, timestamps: "none" });
      for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
        for (const word of chunk.trim().split("\\n")) {
          log.log("info", word === "long" ? "x".repeat(8192) : word);
          console.log(log.lostLines);
        }
      }`;
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'log="$1"; shift; exec "$@" 2>>"$log"',
        "sh",
        path,
        Deno.execPath(),
        "eval",
        script,
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const input = child.stdin.getWriter();
    const out = new LineReader(child.stdout);
    const say = async (word: string) => {
      await input.write(new TextEncoder().encode(`${word}\n`));
      return Number(await out.next(10_000, `the logger's answer to "${word}"`));
    };
    try {
      equal(await say("before"), 0);
      const filler = await fs.fill();
      equal(await say("long"), 1);
      await Deno.remove(filler);
      equal(await say("after"), 1);
    } finally {
      await input.close();
      await child.status;
    }
    const lines = (await Deno.readTextFile(path)).split("\n");
    equal(lines[0].replace(/^ham\[\d+\] /, ""), "info: before");
    // What the disk took of the long line, on a line of its own.
    match(lines[1], /^ham\[\d+\] info: x+$/);
    ok(lines[1].length < 8192);
    match(lines[2], /^ham\[\d+\] warn: 1 log lines were lost \(/);
    match(lines[3], /^ham\[\d+\] info: after$/);
  },
);
