import { deepEqual as assertEquals, equal } from "node:assert/strict";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import {
  DAEMON_ENV_VAR,
  daemonEnv,
  parseEnvPairs,
  scrubDaemonEnv,
} from "../../../lib/os/daemon_env.ts";

Deno.test("parseEnvPairs() reads NAME=value pairs, skipping what is not one", () => {
  assertEquals(parseEnvPairs(" A=1  B=x=y junk =z C= "), { A: "1", B: "x=y", C: "" });
});

Deno.test("daemonEnv() adds each tuning variable the environment lacks, and names them", () => {
  const all = parseEnvPairs(DEFAULTS.daemonMallocEnv);
  assertEquals(daemonEnv(() => undefined), {
    ...all,
    [DAEMON_ENV_VAR]: Object.keys(all).join(" "),
  });
  // A variable the user set is left to the user.
  const env = daemonEnv((name) => name === "MALLOC_ARENA_MAX" ? "4" : undefined);
  equal(env.MALLOC_ARENA_MAX, undefined);
  equal(env[DAEMON_ENV_VAR].includes("MALLOC_ARENA_MAX"), false);
  assertEquals(daemonEnv((name) => all[name] ?? "set"), {});
});

Deno.test("scrubDaemonEnv() removes exactly the variables named, and the list", () => {
  Deno.env.set("HAM_TEST_TUNED", "1");
  Deno.env.set("HAM_TEST_USERS", "2");
  Deno.env.set(DAEMON_ENV_VAR, "HAM_TEST_TUNED");
  try {
    scrubDaemonEnv();
    equal(Deno.env.get("HAM_TEST_TUNED"), undefined);
    equal(Deno.env.get(DAEMON_ENV_VAR), undefined);
    equal(Deno.env.get("HAM_TEST_USERS"), "2");
  } finally {
    Deno.env.delete("HAM_TEST_USERS");
  }
});
