import assert from "node:assert/strict";
import { EntityOutput, openPipes, outputPipes } from "../../../lib/os/entity_output.ts";
import { libc } from "../../../lib/os/libc.ts";
import { readDirNames, readLinkText } from "../../../lib/os/proc_fs.ts";
import { until } from "../../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function collector(stateDir: string): EntityOutput {
  return new EntityOutput({
    stateDir,
    maxBytes: 1 << 20,
    keep: 1,
    maxLineBytes: 4096,
    fileName: (e) => e,
    now: () => 0,
  });
}

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** Writes `text` into a FIFO as a worker does (opened read-write: never blocks on open). */
function writeFifo(path: string, text: string): void {
  using f = Deno.openSync(path, { read: true, write: true });
  f.writeSync(new TextEncoder().encode(text));
}

Deno.test(
  "EntityOutput.ensure() makes the FIFOs and logs each line written into them",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ham-output-" });
    const out = collector(dir);
    try {
      const pipes = out.ensure("web")!;
      assert.deepEqual(pipes, outputPipes(dir, "web"));
      assert.ok(Deno.statSync(pipes.stdout).isFifo);
      // A second call (a restart) reuses them.
      assert.deepEqual(out.ensure("web"), pipes);
      writeFifo(pipes.stderr, "oops\n");
      await until(() => Promise.resolve(read(out.logPath("web")) || null), "the line");
      assert.equal(read(out.logPath("web")), "1970-01-01T00:00:00.000Z stderr oops\n");
    } finally {
      out.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "EntityOutput.adopt() reads FIFOs another process opened, with what they held already",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ham-output-" });
    const first = collector(dir);
    const out = collector(dir);
    try {
      const pipes = first.ensure("web")!;
      first.close(); // The FIFOs stay, as a HAM that died leaves them.
      const fds = openPipes(libc(), pipes)!;
      assert.ok(fds !== null);
      writeFifo(pipes.stdout, "kept while no one read\n");
      out.adopt("web", fds);
      assert.deepEqual(out.entities, ["web"]);
      await until(() => Promise.resolve(read(out.logPath("web")) || null), "the line");
      assert.equal(
        read(out.logPath("web")),
        "1970-01-01T00:00:00.000Z stdout kept while no one read\n",
      );
      // Missing FIFOs cannot be opened without being made.
      assert.equal(openPipes(libc(), outputPipes(dir, "nobody")), null);
    } finally {
      out.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** The descriptors of this process open on `path`. */
function fdsOn(path: string): string[] {
  const found: string[] = [];
  for (const fd of readDirNames("/proc/self/fd") ?? []) {
    if (readLinkText(`/proc/self/fd/${fd}`) === path) found.push(fd);
  }
  return found;
}

Deno.test(
  "EntityOutput.ensure() closes the stdout FIFO when the stderr FIFO cannot be opened",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ham-output-" });
    const errors: string[] = [];
    const out = new EntityOutput({
      stateDir: dir,
      maxBytes: 1 << 20,
      keep: 1,
      maxLineBytes: 4096,
      fileName: (e) => e,
      onError: (_, err) => errors.push(err.message),
    });
    try {
      const pipes = outputPipes(dir, "web");
      // A directory where the stderr FIFO goes: it can be neither opened nor made.
      Deno.mkdirSync(pipes.stderr, { recursive: true });
      for (let i = 0; i < 3; i++) assert.equal(out.ensure("web"), null); // Each restart.
      assert.equal(errors.length, 3);
      assert.match(errors[0], /Cannot open the FIFO ".*web\.stderr"/);
      assert.ok(Deno.statSync(pipes.stdout).isFifo);
      assert.deepEqual(fdsOn(pipes.stdout), []);
      assert.deepEqual(out.entities, []);
      // Once it can be made, the entity's output is read again.
      Deno.removeSync(pipes.stderr);
      assert.deepEqual(out.ensure("web"), pipes);
      assert.equal(fdsOn(pipes.stdout).length, 1);
    } finally {
      out.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
