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
import { HamProcess } from "../tests/support/ham_process.ts";
import { attachSleepers } from "./fleet.ts";
import { type Figure, figure } from "./stats.ts";

async function answerWithState(stateDir: string, oldPid: number): Promise<number> {
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

/** Measures `rounds` takeovers with `entities` monitored sleepers. */
export async function measureTakeover(entities: number, rounds: number): Promise<Figure[]> {
  await using h = await HamProcess.start();
  const ham = await connect({ stateDir: h.stateDir });
  try {
    const names = Array.from({ length: entities }, (_, i) => `s${i}`);
    await attachSleepers(ham, names);
    await (await ham.entityHandle("s0")).condition("death", "death", { flags: ["rearm"] })
      .then((c) => c.restart("restart", { flags: ["rearm"] }));
  } finally {
    ham.close();
  }
  const answer: number[] = [];
  const handled: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await h.waitGuardian();
    const old = await h.hamPid();
    const t0 = performance.now();
    Deno.kill(old, "SIGKILL");
    const seen = await answerWithState(h.stateDir, old);
    const t1 = performance.now();
    if (seen < entities) throw new Error(`takeover answered with ${seen} of ${entities} entities`);
    await using lib = await connect({ stateDir: h.stateDir });
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
  return [
    figure({
      id: `takeover-answer-${entities}`,
      label: `takeover: SIGKILL → socket answers with full state, ${label}`,
      unit: "ms",
      target: null,
    }, answer),
    figure({
      id: `takeover-handled-${entities}`,
      label: `takeover: SIGKILL → first death after it handled, ${label}`,
      unit: "ms",
      target: null,
      note: "takeover time plus kill → restart of a worker",
    }, handled),
  ];
}
