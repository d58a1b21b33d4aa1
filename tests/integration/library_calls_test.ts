/**
 * Library calls whose answer QNX leaves open or the HAM decides, against a real HAM:
 * `heartbeat()` from a connection that has not self-attached, and handles on items that
 * do not exist.
 */

import * as assert from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import { HamError } from "../../lib/core/errors.ts";
import { HamProcess } from "../support/ham_process.ts";

const code = (c: string) => (e: unknown) => e instanceof HamError && e.code === c;

Deno.test(
  "heartbeat() fails with EINVAL on a connection that has not self-attached, then works once it has",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using lib = await connect({ stateDir: ham.stateDir });
    await assert.rejects(lib.heartbeat(), code("EINVAL"));
    await assert.rejects(lib.heartbeat("nobody"), code("ENOENT"));
    await lib.attachSelf("me", { heartbeat: { periodMs: 60_000, low: 1, high: 2 } });
    await lib.heartbeat();
    await lib.heartbeat("me");
    await lib.detachSelf("me");
  },
);

Deno.test(
  "entityHandle(), conditionHandle() and actionHandle() fail with ENOENT for missing items",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await ham.ok("entity", "web");
    await ham.ok("condition", "web/death", "death");
    await using lib = await connect({ stateDir: ham.stateDir });
    assert.equal((await lib.entityHandle("web")).path, "web");
    assert.equal((await lib.entityHandle("@global")).path, "@global");
    assert.equal((await lib.conditionHandle("web/death")).path, "web/death");
    await assert.rejects(lib.entityHandle("db"), code("ENOENT"));
    await assert.rejects(lib.conditionHandle("web/gone"), code("ENOENT"));
    await assert.rejects(lib.actionHandle("web/death/restart"), code("ENOENT"));
    const death = await lib.conditionHandle("web/death");
    await death.log("note", "web died");
    assert.equal((await lib.actionHandle("web/death/note")).path, "web/death/note");
  },
);
