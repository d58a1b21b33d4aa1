/**
 * The HAM under hostile clients and at scale (issue 10): its memory while clients flood it
 * with requests and `subscribe since:0` and never read an answer (it must stay flat), and
 * the CPU one unrelated change costs it with 10,000 entities (the status mirror's share).
 *
 * @module
 */

import type { BenchHam } from "./bench_ham.ts";
import { cpuTickMs, rssBytes } from "./proc_stats.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";
import { PROTOCOL_VERSION } from "../lib/core/protocol.ts";

const encoder = new TextEncoder();
const MIB = 1024 * 1024;

/**
 * Opens `clients` connections that each say hello, subscribe from seq 0 and then send
 * `status` requests as fast as the socket takes them, never reading; samples the HAM's RSS
 * growth every 250 ms for `seconds`.
 */
export async function measureUnreadOutput(
  h: BenchHam,
  clients: number,
  seconds: number,
): Promise<Figure[]> {
  // Some history for the subscriptions to replay.
  for (let i = 0; i < 10; i++) {
    await h.ham.client.request("entity", { entity: `noise${i}`, flags: 0 });
  }
  for (let i = 0; i < 200; i++) await h.ham.client.request("raise", raise(i));
  const base = rssBytes(h.pid);
  const conns: Deno.Conn[] = [];
  const floods: Promise<void>[] = [];
  for (let i = 0; i < clients; i++) {
    const c = await Deno.connect({ transport: "unix", path: `${h.stateDir}/ham.sock` });
    conns.push(c);
    const hello = { id: 0, op: "hello", version: PROTOCOL_VERSION, client: "flood" };
    const sub = { id: 1, op: "subscribe", since: 0 };
    await c.write(encoder.encode(`${JSON.stringify(hello)}\n${JSON.stringify(sub)}\n`));
    const line = encoder.encode(JSON.stringify({ id: 2, op: "status", path: null }) + "\n");
    const batch = new Uint8Array(line.length * 100);
    for (let k = 0; k < 100; k++) batch.set(line, k * line.length);
    floods.push(
      (async () => {
        for (;;) await c.write(batch);
      })().catch(() => {}),
    );
  }
  const growth: number[] = [];
  const waits: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(250);
    // Events keep coming meanwhile, for the subscriptions that do not read them.
    const t0 = performance.now();
    await h.ham.client.request("raise", raise(growth.length)).catch(() => {});
    waits.push(performance.now() - t0);
    growth.push((rssBytes(h.pid) - base) / MIB);
  }
  for (const c of conns) c.close();
  await Promise.all(floods);
  return [
    figure({
      id: "hostile.unread_output_rss",
      label: `HAM RSS growth while ${clients} clients flood and never read (${seconds} s)`,
      unit: "MiB",
      target: { p95: 64, text: "flat (p95 ≤ 64 MiB)" },
      note: "per-connection output cap, read backpressure, subscriber lag",
    }, growth),
    figure({
      id: "hostile.request_under_flood",
      label: `A raise from another client meanwhile`,
      unit: "ms",
      target: null,
    }, waits),
  ];
}

function raise(i: number) {
  return { entity: `noise${i % 10}`, rtype: 1, rclass: 1, rseverity: 1 };
}

/**
 * Creates `entities` placeholder entities, then makes `changes` unrelated changes one at a
 * time, `gapMs` apart (each settles: journal, status mirror), and reads the HAM's CPU time
 * over them, minus its idle CPU over as long: the cost of one change.
 */
export async function measureChangeCost(
  h: BenchHam,
  entities: number,
  changes: number,
  gapMs = 200,
): Promise<Figure> {
  const c = h.ham.client;
  for (let i = 0; i < entities; i += 100) {
    await Promise.all(
      Array.from(
        { length: Math.min(100, entities - i) },
        (_, k) => c.request("entity", { entity: `e${i + k}`, flags: 0 }),
      ),
    );
  }
  // Until the HAM is quiet (the loading's mirror writes and compaction are done): no more
  // than a tick of CPU in a second, for at most a minute.
  for (let i = 0; i < 60; i++) {
    const before = cpuTickMs(h.pid);
    await sleep(1000);
    if (cpuTickMs(h.pid) - before <= 10) break;
  }
  const idle0 = cpuTickMs(h.pid);
  await sleep(changes * gapMs);
  const idle = cpuTickMs(h.pid) - idle0;
  const t0 = cpuTickMs(h.pid);
  for (let i = 0; i < changes; i++) {
    await c.request("verbose", { command: "set", value: 1 + (i % 2) });
    await sleep(gapMs);
  }
  const busy = cpuTickMs(h.pid) - t0;
  return figure({
    id: "hostile.change_cost_10k",
    label: `HAM CPU of one unrelated change with ${entities.toLocaleString("en-US")} entities`,
    unit: "ms",
    target: null,
    note: `(${busy} − ${idle} ms idle) / ${changes} changes; 10 ms tick resolution`,
  }, [Math.max(0, busy - idle) / changes]);
}
