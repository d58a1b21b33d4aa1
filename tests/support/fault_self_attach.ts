/**
 * A self-attached client for the Guardian and fault-injection tests: a separate Deno
 * process that connects through the library, self-attaches as entity `NAME`, prints
 * `attached PID` on stdout, and then only lives (until killed), re-attaching by itself
 * whenever its HAM is taken over.
 *
 * Run: `bin/deno run --allow-read --allow-write --allow-net --allow-env
 * tests/support/fault_self_attach.ts STATE_DIR NAME`
 *
 * @module
 */

import { connect } from "../../lib/client/ham.ts";

const SELF_ATTACH_SCRIPT = new URL(import.meta.url).pathname;

/** A running self-attached client process. */
export interface SelfAttached extends AsyncDisposable {
  /** Its pid (the entity's pid). */
  pid: number;
  /** Its process. */
  child: Deno.ChildProcess;
}

/** Starts the client as entity `name` of the HAM of `stateDir`; resolves once attached. */
export async function startSelfAttached(stateDir: string, name: string): Promise<SelfAttached> {
  const deno = new URL("../../bin/deno", import.meta.url).pathname;
  const child = new Deno.Command(deno, {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      SELF_ATTACH_SCRIPT,
      stateDir,
      name,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { HAM_STATE_DIR: stateDir },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/attached \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The self-attached client exited before attaching: ${text}`);
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    pid: child.pid,
    child,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

if (import.meta.main) {
  const [stateDir, name] = Deno.args;
  const ham = await connect({ stateDir, client: "self-attach-test" });
  await ham.attachSelf(name);
  console.log(`attached ${Deno.pid}`);
  // Lives until killed; the connection keeps the process alive.
  await new Promise(() => {});
}
