/**
 * Takeover time: SIGKILL of the HAM → the control socket answering with the full state
 * (through the Guardian that took over), and → the first death after the takeover handled
 * (a worker killed right after the socket answers is restarted).
 *
 * @module
 */

import { HamClient } from "../lib/client/client.ts";
import type { HamView } from "../lib/core/status_view.ts";
import { connect } from "../lib/client/ham.ts";
import { HamProcess, until } from "../tests/support/ham_process.ts";
import { attachSleepersByPid } from "./fleet.ts";
import { threadCpuNs } from "./proc_stats.ts";
import { UNLIMITED_RESTARTS } from "./restart_latency.ts";
import { type Figure, figure } from "./stats.ts";

export async function answerWithState(stateDir: string, oldPid: number): Promise<number> {
  for (;;) {
    try {
      const c = await HamClient.connect({ stateDir, client: "bench", timeoutMs: 5000 });
      try {
        if (c.server.hamPid !== oldPid) {
          const view = await c.request("status", { path: null }) as HamView;
          return view.entities.length;
        }
      } finally {
        await c.close();
      }
    } catch { /* not answering yet */ }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** The targets: SIGKILL → answer with full state, p95, by entity count. */
const TARGET_P95_MS: Record<number, number> = { 1000: 50, 10_000: 250 };

/** CPU time of `pid`'s threads since `before` (threads started since count from 0), in ms. */
function cpuSinceMs(pid: number, before: Map<string, bigint>): number {
  let ns = 0n;
  try {
    for (const [tid, now] of threadCpuNs(pid)) ns += now - (before.get(tid) ?? 0n);
  } catch { /* it exited: not after a takeover */ }
  return Number(ns) / 1e6;
}

/** Waits until no record is being written: two status reads at the same seq, 50 ms apart. */
export async function settle(stateDir: string): Promise<void> {
  let last = -1;
  for (;;) {
    await using c = await connect({ stateDir });
    const seq = (await c.events({ since: 0, limit: 1 })).next;
    if (seq === last) return;
    last = seq;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Measures `rounds` takeovers with `entities` monitored sleepers. */
export async function measureTakeover(entities: number, rounds: number): Promise<Figure[]> {
  await using h = await HamProcess.start();
  const ham = await connect({ stateDir: h.stateDir });
  try {
    const names = Array.from({ length: entities }, (_, i) => `s${i}`);
    await attachSleepersByPid(ham, names);
    await (await ham.entityHandle("s0")).condition("death", "death", { flags: ["rearm"] })
      .then((c) => c.restart("restart", { flags: ["rearm"], policy: UNLIMITED_RESTARTS }));
  } finally {
    ham.close();
  }
  const answer: number[] = [];
  const handled: number[] = [];
  const cpu: number[] = [];
  const status: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const guardian = await h.waitGuardian();
    // In a steady state: the Guardian has its live copy and pidfds (its log line says so).
    await until(
      () => Promise.resolve(h.log().includes(`Guardian ${guardian} watching HAM`) || null),
      `Guardian ${guardian} to be ready`,
      60_000,
    );
    const old = await h.hamPid();
    // The Guardian has mirrored every record once its live copy is at the journal's seq.
    await settle(h.stateDir);
    const cpu0 = threadCpuNs(guardian);
    const t0 = performance.now();
    Deno.kill(old, "SIGKILL");
    const seen = await answerWithState(h.stateDir, old);
    const t1 = performance.now();
    cpu.push(cpuSinceMs(guardian, cpu0));
    if (seen < entities) throw new Error(`takeover answered with ${seen} of ${entities} entities`);
    await using lib = await connect({ stateDir: h.stateDir });
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await lib.client.request("status", { path: null });
      status.push(performance.now() - t);
    }
    const s0 = await lib.status("s0") as { pid: number };
    const since = (await lib.events({ since: 0, limit: 1 })).next;
    const all = await lib.events({ since, limit: 100_000 });
    const t2 = performance.now();
    Deno.kill(s0.pid, "SIGKILL");
    await lib.wait("s0", "restarted", { timeoutMs: 15_000, since: all.next });
    handled.push(performance.now() - t2 + (t1 - t0));
    answer.push(t1 - t0);
  }
  const label = `${entities} entities`;
  const limit = TARGET_P95_MS[entities];
  return [
    figure({
      id: `takeover-answer-${entities}`,
      label: `takeover: SIGKILL → socket answers with full state, ${label}`,
      unit: "ms",
      target: limit === undefined ? null : { p95: limit, text: `p95 ≤ ${limit} ms` },
    }, answer),
    figure({
      id: `status-full-${entities}`,
      label: `full status request (library round trip), ${label}`,
      unit: "ms",
      target: entities === 10_000 ? { median: 20, text: "≤ 20 ms" } : null,
    }, status),
    figure({
      id: `takeover-cpu-${entities}`,
      label: `takeover: CPU of the Guardian taking over (kill → answer), ${label}`,
      unit: "ms",
      target: null,
      note: "every thread's scheduler time; its log line splits it into state and resume",
    }, cpu),
    figure({
      id: `takeover-handled-${entities}`,
      label: `takeover: SIGKILL → first death after it handled, ${label}`,
      unit: "ms",
      target: null,
      note: "takeover time plus kill → restart of a worker",
    }, handled),
  ];
}
