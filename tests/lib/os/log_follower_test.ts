import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { LogFollower } from "../../../lib/os/log_follower.ts";
import { RotatingLog } from "../../../lib/os/rotating_log.ts";

const enc = new TextEncoder();

/** Runs `body` with a fresh directory and the path of a log in it. */
async function withLog(body: (path: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(`${dir}/a.log`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The lines `follower` reads now. */
function readNow(follower: LogFollower): string[] {
  const out: string[] = [];
  follower.read((lines) => out.push(...lines));
  return out;
}

function numbered(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `line ${from + i}`);
}

Deno.test("LogFollower.read() hands the whole file, then only what was appended", async () => {
  await withLog((path) => {
    Deno.writeTextFileSync(path, "one\ntwo\n");
    using f = new LogFollower(path);
    assert(f.found);
    assertEquals(readNow(f), ["one", "two"]);
    assertEquals(readNow(f), []);
    Deno.writeTextFileSync(path, "three\n", { append: true });
    assertEquals(readNow(f), ["three"]);
  });
});

Deno.test("LogFollower.read() hands every line once, in order, across rotations", async () => {
  await withLog((path) => {
    const log = new RotatingLog(path, { maxBytes: 40, keep: 5 });
    const write = (from: number, to: number) => {
      for (const line of numbered(from, to)) log.write(enc.encode(`${line}\n`));
    };
    write(0, 3);
    using f = new LogFollower(path);
    const seen = readNow(f);
    write(3, 6); // One rotation.
    seen.push(...readNow(f));
    write(6, 20); // Several rotations (at most 5 files kept behind the new one).
    seen.push(...readNow(f));
    write(20, 21);
    seen.push(...readNow(f));
    log.close();
    assertEquals(seen, numbered(0, 21));
  });
});

Deno.test("LogFollower.read() goes on with the new file when the old ones are gone", async () => {
  await withLog((path) => {
    const log = new RotatingLog(path, { maxBytes: 8, keep: 0 });
    log.write(enc.encode("line 0\n"));
    using f = new LogFollower(path);
    assertEquals(readNow(f), ["line 0"]);
    log.write(enc.encode("line 1\n")); // The old file is deleted, a new one started.
    log.write(enc.encode("line 2\n"));
    log.close();
    assertEquals(readNow(f), ["line 2"]);
  });
});

Deno.test("LogFollower.read() reads a truncated file again from its start", async () => {
  await withLog((path) => {
    Deno.writeTextFileSync(path, "one\ntwo\n");
    using f = new LogFollower(path);
    assertEquals(readNow(f), ["one", "two"]);
    Deno.truncateSync(path, 0);
    Deno.writeTextFileSync(path, "new\n", { append: true });
    assertEquals(readNow(f), ["new"]);
  });
});

Deno.test("LogFollower.read() hands an unfinished line once it ends, whole", async () => {
  await withLog((path) => {
    const euro = enc.encode("€"); // Three bytes, split across two reads.
    Deno.writeFileSync(path, new Uint8Array([...enc.encode("a "), euro[0]]));
    using f = new LogFollower(path);
    assertEquals(readNow(f), []);
    assertEquals(f.partial, "a ");
    Deno.writeFileSync(path, new Uint8Array([...euro.subarray(1), ...enc.encode(" b\nc")]), {
      append: true,
    });
    assertEquals(readNow(f), ["a € b"]);
    assertEquals(f.partial, "c");
  });
});

Deno.test("LogFollower.read() reads a log created after it began", async () => {
  await withLog((path) => {
    using f = new LogFollower(path);
    assert(!f.found);
    assertEquals(readNow(f), []);
    Deno.writeTextFileSync(path, "first\n");
    assertEquals(readNow(f), ["first"]);
    assert(f.found);
  });
});
