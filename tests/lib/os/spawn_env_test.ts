import { deepEqual as assertEquals } from "node:assert/strict";
import { envBlock, forgetInheritedEnv, spawnVar } from "../../../lib/os/spawn_env.ts";

/** The `NAME=value` strings an envp block points to, read back through its pointers. */
function readBlock(block: Uint8Array): string[] {
  const pointers = new BigUint64Array(block.buffer, block.byteOffset, block.length / 8);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(block)));
  const out: string[] = [];
  for (let i = 0; pointers[i] !== 0n; i++) {
    const at = Number(pointers[i] - base);
    const end = block.indexOf(0, at);
    out.push(new TextDecoder().decode(block.subarray(at, end)));
  }
  return out;
}

Deno.test("envBlock() is this process's environment with the spawn's variables over it", () => {
  Deno.env.set("HAM_TEST_SPAWN_ENV", "inherited");
  forgetInheritedEnv();
  const entries = readBlock(envBlock({ HAM_ENTITY: "web", HAM_TEST_SPAWN_ENV: "over" }));
  const env = Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf("=")), e]));
  assertEquals(env.HAM_ENTITY, "HAM_ENTITY=web");
  assertEquals(env.HAM_TEST_SPAWN_ENV, "HAM_TEST_SPAWN_ENV=over");
  assertEquals(entries.filter((e) => e.startsWith("HAM_TEST_SPAWN_ENV=")).length, 1);
  assertEquals(env.PATH, `PATH=${Deno.env.get("PATH")}`);
  // A key of Object.prototype is a variable like any other, not an override.
  assertEquals(readBlock(envBlock({ toString: "x" })).includes("toString=x"), true);
  assertEquals(spawnVar("HAM_TEST_SPAWN_ENV", {}), "inherited");
  assertEquals(spawnVar("HAM_TEST_SPAWN_ENV", { HAM_TEST_SPAWN_ENV: "over" }), "over");
  assertEquals(spawnVar("constructor", {}), undefined);
});

Deno.test("envBlock() reads the environment again only after forgetInheritedEnv()", () => {
  Deno.env.set("HAM_TEST_SPAWN_ENV", "before");
  forgetInheritedEnv();
  envBlock({});
  Deno.env.set("HAM_TEST_SPAWN_ENV", "after");
  assertEquals(readBlock(envBlock({})).includes("HAM_TEST_SPAWN_ENV=before"), true);
  forgetInheritedEnv();
  assertEquals(readBlock(envBlock({})).includes("HAM_TEST_SPAWN_ENV=after"), true);
  Deno.env.delete("HAM_TEST_SPAWN_ENV");
  forgetInheritedEnv();
  assertEquals(readBlock(envBlock({})).some((e) => e.startsWith("HAM_TEST_SPAWN_ENV=")), false);
});
