/**
 * The HAM starts with glibc's malloc tuned (DEFAULTS.daemonMallocEnv); its Guardian (whose
 * takeover the tuning slowed) and the entities it starts never inherit that tuning; a
 * variable the user set stays the user's, for the HAM and for the entities alike.
 */

import assert from "node:assert/strict";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import { parseEnvPairs } from "../../lib/os/daemon_env.ts";
import { readFileBytes } from "../../lib/os/proc_fs.ts";
import { HamProcess, until } from "../support/ham_process.ts";

/** The environment a process was started with (`/proc/PID/environ`). */
function startEnv(pid: number): Map<string, string> {
  // Through libc: Deno reads nothing under /proc without --allow-all.
  const bytes = readFileBytes(`/proc/${pid}/environ`);
  assert.ok(bytes !== null, `/proc/${pid}/environ`);
  const text = new TextDecoder().decode(bytes);
  return new Map(
    text.split("\0").filter((kv) => kv.includes("=")).map((kv) => {
      const eq = kv.indexOf("=");
      return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string];
    }),
  );
}

/** The environment an entity's process sees, as written by `env` into `file`. */
async function entityEnv(ham: HamProcess, name: string): Promise<Map<string, string>> {
  const file = `${ham.stateDir}/${name}.env`;
  await ham.ok(
    "attach",
    name,
    "--",
    "/bin/sh",
    "-c",
    `env > ${file}.tmp; mv ${file}.tmp ${file}; exec sleep 1000`,
  );
  const text = await until(
    () => Deno.readTextFile(file).catch(() => null),
    `the environment of ${name}`,
  );
  return new Map(
    text.split("\n").filter((l) => l.includes("=")).map((l) => {
      const eq = l.indexOf("=");
      return [l.slice(0, eq), l.slice(eq + 1)] as [string, string];
    }),
  );
}

const TUNING = parseEnvPairs(DEFAULTS.daemonMallocEnv);

Deno.test("the HAM starts with malloc tuned, its Guardian and its entities without", async () => {
  await using ham = await HamProcess.start();
  const { hamPid, guardianPid } = await ham.pids();
  const hamEnv = startEnv(hamPid);
  const guardianEnv = startEnv(guardianPid!);
  for (const [name, value] of Object.entries(TUNING)) {
    assert.equal(hamEnv.get(name), value, `the HAM's ${name}`);
    assert.equal(guardianEnv.get(name), undefined, `the Guardian's ${name}`);
  }
  const seen = await entityEnv(ham, "plain");
  for (const name of [...Object.keys(TUNING), "HAM_DAEMON_ENV"]) {
    assert.equal(seen.get(name), undefined, `the entity sees ${name}`);
  }
  assert.equal(seen.get("HAM_ENTITY"), "plain");
});

Deno.test("a malloc variable the user set stays the user's, for the HAM and its entities", async () => {
  await using ham = await HamProcess.start({ guardian: false, env: { MALLOC_ARENA_MAX: "3" } });
  const { hamPid } = await ham.pids();
  assert.equal(startEnv(hamPid).get("MALLOC_ARENA_MAX"), "3");
  assert.equal(startEnv(hamPid).get("MALLOC_TOP_PAD_"), TUNING.MALLOC_TOP_PAD_);
  const seen = await entityEnv(ham, "users");
  assert.equal(seen.get("MALLOC_ARENA_MAX"), "3");
  assert.equal(seen.get("MALLOC_TOP_PAD_"), undefined);
});
