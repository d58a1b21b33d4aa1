/**
 * `hamctl` arguments with real `ham` and `hamctl` processes: what follows `--`, and what
 * must be refused before any request is sent.
 */

import assert from "node:assert/strict";
import { HamProcess } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "hamctl takes the words after -- as operands, and refuses those left over",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    assert.equal(await h.ok("entity", "--", "-dash"), "");
    const status = await h.ctl("status", "--json", "--", "-dash");
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).name, "-dash");
    assert.equal(await h.ok("detach", "--", "-dash"), "");
    assert.equal((await h.ctl("status", "--", "-dash")).code, 5, "-dash was not detached");

    // A COMMAND after -- is still a command for attach.
    const pid = Number(await h.ok("attach", "web", "--", "/bin/sleep", "300"));
    assert.ok(pid > 0);
    const kill = await h.ctl("kill", "web", "--", "extra");
    assert.equal(kill.code, 2);
    assert.match(kill.stderr, /^hamctl: kill: Unexpected argument "extra"\n/);
    assert.equal((await h.ok("status", "web", "--json")).pid, pid, "kill ran despite the error");
    for (const args of [["ping", "--", "x"], ["list", "--", "x"], ["stop", "--", "x"]]) {
      const r = await h.ctl(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /Unexpected argument "x"/);
    }
  },
);
