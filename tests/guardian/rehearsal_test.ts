import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { STALE_MS } from "../../guardian/rehearsal.ts";

/**
 * Runs `body` (a module's text, with `rehearseTakeover` imported) in a Deno process of its
 * own with `TMPDIR` set to `tmp` (its descriptors are counted: other tests running in this
 * process would move them); returns what it printed, parsed.
 */
async function inProcess(body: string, tmp: string): Promise<Record<string, unknown>> {
  const url = new URL("../../guardian/rehearsal.ts", import.meta.url).href;
  const script = `${tmp}.ts`;
  await Deno.writeTextFile(script, `import { rehearseTakeover } from "${url}";\n${body}`);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", script],
      env: { TMPDIR: tmp, HAM_STATE_DIR: "/somewhere/else" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, `the rehearsal's process failed: ${stderr}`);
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(script).catch(() => {});
  }
}

Deno.test(
  "rehearseTakeover() takes over a scratch state and leaves no file, descriptor or variable behind",
  async () => {
    const tmp = await Deno.makeTempDir({ prefix: "ham-rehearsal-test-" });
    try {
      const got = await inProcess(
        `const fds = () => [...Deno.readDirSync("/proc/self/fd")].map((f) => f.name).sort();
        const first = await rehearseTakeover();
        const left = [...Deno.readDirSync(Deno.env.get("TMPDIR"))].map((f) => f.name);
        // The first one opened the process's shared pollers (kept for the real takeover): a
        // second one opens nothing it does not close.
        const before = fds();
        await rehearseTakeover();
        console.log(JSON.stringify({
          first, left, env: Deno.env.get("HAM_STATE_DIR"), before, after: fds(),
        }));`,
        tmp,
      );
      assert((got.first as number) > 0);
      assertEquals(got.left, [], "the scratch state directory is removed");
      assertEquals(got.env, "/somewhere/else", "HAM_STATE_DIR is set back");
      assertEquals(got.after, got.before, "its lock, socket, pidfds and files are closed");
      assertEquals([...Deno.readDirSync(tmp)], []);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
);

Deno.test("rehearseTakeover() fails, leaving nothing, without a temporary directory", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ham-rehearsal-test-" });
  await Deno.remove(tmp);
  const got = await inProcess(
    `const failed = await rehearseTakeover().then(() => null, (err) => String(err));
    console.log(JSON.stringify({ failed, env: Deno.env.get("HAM_STATE_DIR") }));`,
    tmp,
  );
  assert(typeof got.failed === "string", "it failed");
  assertEquals(got.env, "/somewhere/else");
});

Deno.test("rehearseTakeover() removes the scratch directories of rehearsals that died, only", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ham-rehearsal-test-" });
  const old = new Date(Date.now() - 2 * STALE_MS);
  const make = (name: string, lockFile: boolean, at: Date | null) => {
    Deno.mkdirSync(`${tmp}/${name}/journal`, { recursive: true });
    if (lockFile) Deno.writeTextFileSync(`${tmp}/${name}/ham.lock`, "");
    if (at !== null) Deno.utimeSync(`${tmp}/${name}`, at, at);
  };
  make("ham-rehearsal-died", true, old); // A Guardian killed while it rehearsed.
  make("ham-rehearsal-died-early", false, old); // Killed before it took its lock.
  make("ham-rehearsal-held", true, old); // Rehearsing still (slowly): its lock is held.
  make("ham-rehearsal-young", false, null); // Just made: its lock comes next.
  make("someone-else", false, old);
  await using held = await Deno.open(`${tmp}/ham-rehearsal-held/ham.lock`, { write: true });
  await held.lock(true);
  try {
    const got = await inProcess(
      `await rehearseTakeover();
      const left = [...Deno.readDirSync(Deno.env.get("TMPDIR"))].map((f) => f.name).sort();
      console.log(JSON.stringify({ left }));`,
      tmp,
    );
    assertEquals(got.left, ["ham-rehearsal-held", "ham-rehearsal-young", "someone-else"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
