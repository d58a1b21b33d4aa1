/**
 * A catch-up replay of a full event log (issue 10): with the log at its retention limit
 * (16 MiB by default), clients `subscribe since:0` — one that reads as fast as it can, and
 * some that never read — while another client pings. Measures the ping round trip during
 * the replay against the same HAM's ping before it, the time the reading client takes to
 * get the whole log, and how much the HAM grows meanwhile.
 *
 * @module
 */

import type { HamEvent } from "../lib/core/protocol.ts";
import { PROTOCOL_VERSION } from "../lib/core/protocol.ts";
import { EventLog } from "../lib/daemon/event_log.ts";
import { BenchHam } from "./bench_ham.ts";
import { rssBytes } from "./proc_stats.ts";
import { type Figure, figure } from "./stats.ts";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

/** Writes `bytes` of ordinary events into `stateDir`'s event log; returns the last seq. */
export function fillEventLog(stateDir: string, bytes: number): number {
  const log = EventLog.open(stateDir);
  let seq = 0;
  for (let written = 0; written < bytes;) {
    const ev: HamEvent = {
      seq: ++seq,
      at: Date.now(),
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

async function subscribeFromStart(socket: string): Promise<Deno.UnixConn> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const hello = { id: 1, op: "hello", version: PROTOCOL_VERSION, client: "bench", pid: null };
  const sub = { id: 2, op: "subscribe", since: 0 };
  await conn.write(encoder.encode(`${JSON.stringify(hello)}\n${JSON.stringify(sub)}\n`));
  return conn;
}

/** Reads `conn` until an event with sequence number `last` has come. */
async function readUntil(conn: Deno.Conn, last: number): Promise<void> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(256 * 1024);
  let pending = "";
  const needle = `"seq":${last},`;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("The HAM closed the catch-up connection");
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    if (pending.includes(needle)) return;
    pending = pending.slice(Math.max(0, pending.length - needle.length));
  }
}

/**
 * Measures pings during a catch-up of a `logBytes` event log by one reading and `stalled`
 * non-reading subscribers.
 */
export async function measureCatchUp(logBytes: number, stalled: number): Promise<Figure[]> {
  let last = 0;
  await using h = await BenchHam.start({
    prepare: (dir) => void (last = fillEventLog(dir, logBytes)),
  });
  const socket = `${h.stateDir}/ham.sock`;
  const ping = async () => {
    const t0 = performance.now();
    await h.ham.ping();
    return performance.now() - t0;
  };
  const floor: number[] = [];
  for (let i = 0; i < 200; i++) floor.push(await ping());
  const base = rssBytes(h.pid);
  const idle = await Promise.all(Array.from({ length: stalled }, () => subscribeFromStart(socket)));
  const t0 = performance.now();
  const reader = await subscribeFromStart(socket);
  let done = false;
  const replay = readUntil(reader, last).then(() => {
    done = true;
    return performance.now() - t0;
  });
  const during: number[] = [];
  let grown = 0;
  while (!done) {
    during.push(await ping());
    grown = Math.max(grown, rssBytes(h.pid) - base);
  }
  const replayMs = await replay;
  for (const c of [reader, ...idle]) c.close();
  const size = `${(logBytes / MIB).toFixed(0)} MiB`;
  return [
    figure({
      id: "catch_up.ping",
      label: `ping while a client replays a ${size} event log (${stalled} more never read)`,
      unit: "ms",
      target: null,
      note: `${during.length} pings during the replay`,
    }, during),
    figure({
      id: "catch_up.ping_floor",
      label: "… ping of the same HAM before",
      unit: "ms",
      target: null,
    }, floor),
    figure({
      id: "catch_up.replay",
      label: `the reading client has the whole ${size} log`,
      unit: "ms",
      target: null,
    }, [replayMs]),
    figure({
      id: "catch_up.rss",
      label: "HAM RSS growth during the replay",
      unit: "MiB",
      target: { p95: 64, text: "flat (≤ 64 MiB; a whole parse of the log is ~8 times its size)" },
    }, [grown / MIB]),
  ];
}

if (import.meta.main) {
  const figures = await measureCatchUp(Number(Deno.args[0] ?? 16) * MIB, Number(Deno.args[1] ?? 4));
  for (const f of figures) {
    console.log(
      `${f.id}: median ${f.median.toFixed(2)} ${f.unit}, p95 ${f.p95.toFixed(2)}, n ${f.n}`,
    );
  }
}
