import assert from "node:assert/strict";

const DENO = new URL("../../../bin/deno", import.meta.url).pathname;
const KILL_POINT = new URL("../../../lib/os/kill_point.ts", import.meta.url).href;

/** Runs the hook over `steps` in a child process; returns the steps it passed and how it ended. */
async function passSteps(
  file: string,
  steps: string[],
): Promise<{ passed: string[]; signal: string | null }> {
  const script = `import { killPointFromEnv } from ${JSON.stringify(KILL_POINT)};
    const step = killPointFromEnv();
    for (const s of ${JSON.stringify(steps)}) { step?.(s); console.log(s); }`;
  const out = await new Deno.Command(DENO, {
    args: ["eval", script],
    env: { HAM_TEST_KILL_AT: file },
    stdout: "piped",
    stderr: "null",
  }).output();
  const passed = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
  return { passed, signal: out.signal };
}

Deno.test("killPointFromEnv() SIGKILLs the process at the N-th step whose name has the prefix", async () => {
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "restart spawned:2");
  const r = await passSteps(file, ["a", "restart spawned", "b", "restart spawned", "c"]);
  assert.deepEqual(r, { passed: ["a", "restart spawned", "b"], signal: "SIGKILL" });
  assert.throws(() => Deno.statSync(file), Deno.errors.NotFound, "the kill point is consumed");
});

Deno.test("killPointFromEnv() counts every step when the file holds a number alone", async () => {
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "3");
  const r = await passSteps(file, ["a", "b", "c", "d"]);
  assert.deepEqual(r, { passed: ["a", "b"], signal: "SIGKILL" });
});

Deno.test("killPointFromEnv() does nothing while the file is absent", async () => {
  const file = await Deno.makeTempFile();
  await Deno.remove(file);
  const r = await passSteps(file, ["a", "b"]);
  assert.deepEqual(r, { passed: ["a", "b"], signal: null });
});
