/**
 * Catch-up replay on a full event log (16 MiB, what the HAM keeps by default): a
 * `subscribe since:0` whose client does not read is streamed a chunk at a time and paused,
 * so other clients are answered while it is under way and the HAM does not grow; once the
 * client reads, it gets every event in order; `hamctl events` lists the whole log.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import { type HamEvent, PROTOCOL_VERSION } from "../../lib/core/protocol.ts";
import { EventLog } from "../../lib/daemon/event_log.ts";
import { readFileBytes } from "../../lib/os/proc_fs.ts";
import { deadline, HamProcess } from "../support/ham_process.ts";

const MIB = 1024 * 1024;
const LOG_BYTES = DEFAULTS.eventSegments * DEFAULTS.eventSegmentBytes;

/** The HAM's resident memory (`VmRSS`), in bytes. */
function rss(pid: number): number {
  const text = new TextDecoder().decode(readFileBytes(`/proc/${pid}/status`)!);
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(text)![1]) * 1024;
}

/** Fills `stateDir`'s event log with `bytes` of ordinary events; returns the last seq. */
function fillEventLog(stateDir: string, bytes: number): number {
  const log = EventLog.open(stateDir);
  const encoder = new TextEncoder();
  let seq = 0;
  for (let written = 0; written < bytes;) {
    const ev: HamEvent = {
      seq: ++seq,
      at: Date.UTC(2026, 11, 1) + seq,
      type: seq % 3 === 0 ? "raise" : "state",
      entity: `worker${seq % 100}`,
      detail: seq % 3 === 0 ? { rtype: 1, rclass: 2, rseverity: 3 } : { from: 0, to: seq % 7 },
    };
    log.append(ev);
    written += encoder.encode(JSON.stringify(ev) + "\n").length;
  }
  log.close();
  return seq;
}

/** Reads newline-separated JSON from `conn` until `done` says so. */
async function readLines(
  conn: Deno.Conn,
  done: (line: Record<string, unknown>) => boolean,
): Promise<number> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(256 * 1024);
  let pending = "";
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("The HAM closed the connection");
    total += n;
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) if (line.length > 0 && done(JSON.parse(line))) return total;
  }
}

Deno.test(
  "a catch-up replay of a 16 MiB event log is streamed: others are served, the HAM stays small",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "ham-test-" });
    const last = fillEventLog(stateDir, LOG_BYTES);
    let onDisk = 0;
    for (const f of Deno.readDirSync(`${stateDir}/events`)) {
      if (f.name.endsWith(".jsonl")) onDisk += Deno.statSync(`${stateDir}/events/${f.name}`).size;
    }
    assert(onDisk >= 16 * MIB, `${onDisk} bytes of events`);
    await using ham = await HamProcess.start({ stateDir, guardian: false });
    const pid = await ham.hamPid();
    await ham.ok("ping");
    const before = rss(pid);

    // A client that subscribes from the start and reads nothing.
    const reader = await Deno.connect({ transport: "unix", path: ham.socket });
    try {
      const hello = { id: 1, op: "hello", version: PROTOCOL_VERSION, client: "test", pid: null };
      const sub = { id: 2, op: "subscribe", since: 0 };
      await reader.write(
        new TextEncoder().encode(`${JSON.stringify(hello)}\n${JSON.stringify(sub)}\n`),
      );
      // Another client lists the whole log meanwhile (a page of events per request).
      const listing = ham.ctl("events");
      // Others are answered while the replay waits for its reader: it has read nothing yet,
      // so at most what a socket and the high-water mark hold has gone out of 16 MiB.
      await ham.ok("ping");
      const status = await ham.ok("status", "--json");
      assertEquals(status.hamPid, pid);
      const grown = rss(pid) - before;
      const listed = await deadline(listing, 120_000, "hamctl events on a 16 MiB log");
      assertEquals(listed.code, 0, listed.stderr);
      const lines = listed.stdout.trimEnd().split("\n");
      assertEquals(lines.length, last);
      assertEquals([lines[0].split(" ")[0], lines.at(-1)!.split(" ")[0]], ["1", String(last)]);

      // Now it reads: every event, in order, none skipped, and it was not cut off.
      let next = 1;
      const received = await deadline(
        readLines(reader, (line) => {
          const push = line.push as { type: string; event?: HamEvent } | undefined;
          if (push === undefined) {
            assert(line.ok === true, `an answer that is not a success: ${JSON.stringify(line)}`);
            return false;
          }
          assertEquals(push.type, "event", JSON.stringify(push));
          assertEquals(push.event!.seq, next);
          next++;
          return push.event!.seq === last;
        }),
        120_000,
        "the whole replay",
      );
      assert(received > 16 * MIB, `${received} bytes received`);
      // The HAM held neither the parsed log nor its 16 MiB of output: it grew by less than
      // the log's size while the replay waited (a whole parse takes ~4 times the log).
      assert(grown < LOG_BYTES, `the HAM grew by ${(grown / MIB).toFixed(1)} MiB`);
    } finally {
      reader.close();
    }
  },
);
