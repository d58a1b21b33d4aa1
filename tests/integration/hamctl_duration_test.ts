/**
 * `hamctl` durations with real `ham` and `hamctl` processes: one longer than the HAM accepts
 * is a usage error naming its option, before any request is sent.
 */

import assert from "node:assert/strict";
import { HamProcess } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "hamctl refuses a duration over DEFAULTS.maxDurationMs, naming its option, before any request",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    const pid = Number(await h.ok("attach", "web", "--", "/bin/sleep", "300"));
    await h.ok("condition", "web/death", "death");
    const refused: [string[], string][] = [
      [["attach", "tw", "--wait", "--timeout", "1000d", "--", "/bin/sleep", "300"], "--timeout"],
      [["restart", "web", "--wait", "--timeout", "1000d"], "--timeout"],
      [["action", "web/death/w", "waitfor", "--delay", "30d"], "--delay"],
      [["action", "web/death/r", "restart", "--backoff", "25d"], "--backoff"],
      [["wait", "web", "--for", "dead", "--timeout", "2147483648"], "--timeout"],
      [["stop", "--timeout", "1000d"], "--timeout"],
    ];
    for (const [args, flag] of refused) {
      const r = await h.ctl(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `^hamctl: ${args[0]}: EINVAL: Invalid duration "[^"]+" for ${flag}: longer than`,
        ),
      );
      assert.doesNotMatch(r.stderr, /Ms"/);
    }
    // None of them was sent: no tw, web not restarted, no action, the HAM still up.
    assert.equal((await h.ctl("status", "tw")).code, 5, "attach ran");
    assert.equal((await h.ctl("status", "web/death/w")).code, 5, "the action was added");
    const web = await h.ok("status", "web", "--json");
    assert.deepEqual([web.pid, web.restarts], [pid, 0]);
    assert.equal(await h.ok("ping"), "pong");
  },
);
