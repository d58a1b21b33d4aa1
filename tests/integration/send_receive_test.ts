/**
 * The request/response cover (the MsgSend analogue, QNX §8.2) end to end: a real server
 * process under a real HAM reads a request and dies before answering; the client's
 * `sendReceive` (and `haMsgSend`) recovers and sends the request again to the restarted
 * server, which answers it. A plain write-then-read on the same server sees only EOF.
 */

import assert from "node:assert/strict";
import { haMsgSend } from "../../lib/ha/covers.ts";
import { HaConn, haConnect, lineReply } from "../../lib/ha/ha_conn.ts";
import { nextEventSeq, waitForRestart } from "../../lib/ha/wait_restart.ts";
import { BIN, HamProcess } from "../support/ham_process.ts";
import { within } from "../support/within.ts";

const SERVER = new URL("../support/die_once_server.ts", import.meta.url).pathname;
const WAIT_MS = 20_000;

async function superviseServer(ham: HamProcess, socket: string, marker: string): Promise<void> {
  const run = ["run", "--allow-net", "--allow-read", "--allow-write", SERVER, socket, marker];
  await ham.ok("attach", "srv", "--", `${BIN}/deno`, ...run);
  await ham.ok("condition", "srv/death", "death", "--rearm");
  await ham.ok("action", "srv/death/restart", "restart", "--rearm");
}

interface Handle {
  stateDir: string;
  since: number;
  recoveries: number;
}

/** Waits for the HAM's restart report, then reconnects: nothing is replayed by hand. */
async function recover(failed: HaConn<Handle>, h: Handle): Promise<boolean> {
  const r = await waitForRestart("srv", {
    stateDir: h.stateDir,
    since: h.since,
    timeoutMs: WAIT_MS,
  });
  h.since = (r.seq ?? h.since) + 1;
  await failed.reconnect({ waitMs: WAIT_MS });
  h.recoveries++;
  return true;
}

for (
  const [name, call] of [
    [
      "HaConn.sendReceive()",
      (c: HaConn<Handle>, req: Uint8Array) => c.sendReceive(req, lineReply()),
    ],
    ["haMsgSend()", (c: HaConn<Handle>, req: Uint8Array) => haMsgSend(c, req, lineReply())],
  ] as const
) {
  Deno.test(
    `${name} sends a request again to the restarted server when the server died before answering`,
    async () => {
      await using ham = await HamProcess.start({ guardian: false });
      const socket = `${ham.stateDir}/srv.sock`;
      const marker = `${ham.stateDir}/died-on`;
      await superviseServer(ham, socket, marker);
      const h: Handle = {
        stateDir: ham.stateDir,
        since: await nextEventSeq({ stateDir: ham.stateDir }),
        recoveries: 0,
      };
      using conn = await haConnect({ transport: "unix", path: socket }, recover, h, {
        waitMs: WAIT_MS,
      });
      const request = new TextEncoder().encode("hello\n");
      const answer = await within(call(conn, request), "the answer after recovery", WAIT_MS * 2);
      assert.equal(answer, "answer: hello");
      assert.equal(Deno.readTextFileSync(marker), "hello", "the first server read it and died");
      assert.equal(h.recoveries, 1);
      assert.equal(await call(conn, new TextEncoder().encode("again\n")), "answer: again");
      assert.equal(h.recoveries, 1);
    },
  );
}

Deno.test(
  "a plain write then read meets only the end of input when the server dies before answering",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    const socket = `${ham.stateDir}/srv.sock`;
    await superviseServer(ham, socket, `${ham.stateDir}/died-on`);
    const h: Handle = {
      stateDir: ham.stateDir,
      since: await nextEventSeq({ stateDir: ham.stateDir }),
      recoveries: 0,
    };
    using conn = await haConnect({ transport: "unix", path: socket }, recover, h, {
      waitMs: WAIT_MS,
    });
    await conn.writeAll(new TextEncoder().encode("hello\n"));
    assert.equal(await within(conn.read(new Uint8Array(64)), "the read", WAIT_MS), null);
    assert.equal(h.recoveries, 0, "without eofIsDeath, EOF on a lone read is not recovered");
  },
);
