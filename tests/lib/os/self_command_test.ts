import assert from "node:assert/strict";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { selfCommand } from "../../../lib/os/self_command.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

Deno.test("selfCommand(), bin/ham and deno task compile run the daemon with DEFAULTS.daemonV8Flags", async () => {
  const flag = `--v8-flags=${DEFAULTS.daemonV8Flags}`;
  assert.ok(selfCommand().includes(flag), "selfCommand()");
  assert.ok((await Deno.readTextFile(`${ROOT}bin/ham`)).includes(flag), "bin/ham");
  assert.ok((await Deno.readTextFile(`${ROOT}deno.json`)).includes(flag), "deno.json compile");
});

Deno.test("bin/ham sets DEFAULTS.daemonMallocEnv for the daemons", async () => {
  const text = await Deno.readTextFile(`${ROOT}bin/ham`);
  assert.ok(text.includes(`malloc="${DEFAULTS.daemonMallocEnv}"`), "bin/ham");
});
