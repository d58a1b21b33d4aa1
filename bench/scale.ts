/**
 * Scale: a HAM (with its Guardian) loading, running and taking over with a very large
 * number of entities attached by pid (the issue: 100,000; no target yet). The entities
 * share sleepers, `perProcess` names per process, so that the machine is not asked for
 * 100,000 processes: the HAM still watches, journals and mirrors every entity.
 *
 * @module
 */

import { HamClient } from "../lib/client/client.ts";
import { connect } from "../lib/client/ham.ts";
import { DEFAULTS } from "../lib/core/defaults.ts";
import { HamProcess, until } from "../tests/support/ham_process.ts";
import { attachSleepersByPid } from "./fleet.ts";
import { cpuTickMs, rssBytes } from "./proc_stats.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";
import { measureFullStatus } from "./status_full.ts";
import { answerWithState, settle } from "./takeover.ts";

/** Bytes of one entity in a full status answer (~380): past `maxOutputBytes` it is refused. */
const STATUS_BYTES_PER_ENTITY = 400;

/**
 * Waits until a HAM other than `oldPid` answers with the last entity's status: the whole
 * state is loaded (for a state whose full status would pass the output limit).
 */
async function answerWithLast(stateDir: string, oldPid: number, last: string): Promise<void> {
  for (;;) {
    try {
      const c = await HamClient.connect({ stateDir, client: "bench", timeoutMs: 5000 });
      try {
        if (c.server.hamPid !== oldPid) {
          await c.request("status", { path: last });
          return;
        }
      } finally {
        await c.close();
      }
    } catch { /* not answering yet */ }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Measures loading, running and `takeovers` takeovers with `entities` entities. */
export async function measureScale(
  entities: number,
  perProcess: number,
  takeovers: number,
): Promise<Figure[]> {
  const count = entities.toLocaleString("en-US");
  const h = await HamProcess.start();
  try {
    return await measureOn(h, entities, perProcess, takeovers, count);
  } finally {
    // A HAM with this many entities may take longer to stop than a test allows: say so,
    // and keep the figures.
    await h[Symbol.asyncDispose]().catch((err) =>
      console.error(`bench: scale: ${(err as Error).message.split("\n")[0]}`)
    );
  }
}

async function measureOn(
  h: HamProcess,
  entities: number,
  perProcess: number,
  takeovers: number,
  count: string,
): Promise<Figure[]> {
  const figures: Figure[] = [];
  {
    await using ham = await connect({ stateDir: h.stateDir });
    const names = Array.from({ length: entities }, (_, i) => `x${i}`);
    const t0 = performance.now();
    await attachSleepersByPid(ham, names, 100, perProcess);
    const loadS = (performance.now() - t0) / 1000;
    figures.push(figure({
      id: `scale.load_${entities}`,
      label: `attach ${count} entities by pid (100 requests in flight, one connection)`,
      unit: "s",
      target: null,
      note: `${(entities / loadS).toFixed(0)} attaches/s; ${perProcess} entities per process`,
    }, [loadS]));
  }
  await settle(h.stateDir);
  await sleep(2000);
  const pids = await h.pids();
  const idle0 = cpuTickMs(pids.hamPid) + cpuTickMs(pids.guardianPid!);
  await sleep(10_000);
  const idleMs = cpuTickMs(pids.hamPid) + cpuTickMs(pids.guardianPid!) - idle0;
  const mib = (pid: number) => rssBytes(pid) / 1048576;
  figures.push(
    figure({
      id: `scale.rss_${entities}`,
      label: `HAM + Guardian RSS, ${count} entities`,
      unit: "MiB",
      target: null,
      note: `HAM ${mib(pids.hamPid).toFixed(0)} + Guardian ${
        mib(pids.guardianPid!).toFixed(0)
      } MiB`,
    }, [mib(pids.hamPid) + mib(pids.guardianPid!)]),
    figure({
      id: `scale.idle_${entities}`,
      label: `HAM + Guardian CPU while idle, ${count} entities, per 10 s`,
      unit: "ms",
      target: null,
    }, [idleMs]),
  );
  const fullFits = entities * STATUS_BYTES_PER_ENTITY < DEFAULTS.maxOutputBytes;
  if (fullFits) {
    await using ham = await connect({ stateDir: h.stateDir });
    figures.push(...await measureFullStatus(ham, entities, 5));
  }
  const answers: number[] = [];
  for (let r = 0; r < takeovers; r++) {
    const guardian = await h.waitGuardian(null, 600_000);
    await until(
      () => Promise.resolve(h.log().includes(`Guardian ${guardian} watching HAM`) || null),
      `Guardian ${guardian} to be ready`,
      600_000,
    );
    await settle(h.stateDir);
    const old = await h.hamPid();
    const t0 = performance.now();
    Deno.kill(old, "SIGKILL");
    if (fullFits) {
      const seen = await answerWithState(h.stateDir, old);
      if (seen < entities) throw new Error(`takeover answered with ${seen} of ${entities}`);
    } else {
      await answerWithLast(h.stateDir, old, `x${entities - 1}`);
    }
    answers.push(performance.now() - t0);
  }
  const took = h.log().split("\n").filter((l) => l.includes("took over from HAM")).at(-1);
  figures.push(figure({
    id: `scale.takeover_${entities}`,
    label: `takeover: SIGKILL → socket answers with ${
      fullFits ? "full state" : "the last entity"
    }, ${count} entities`,
    unit: "ms",
    target: null,
    note: `${
      fullFits ? "" : "a full status would pass the 16 MiB output limit (maxOutputBytes); "
    }the last one's log line: ${took?.replace(/^.*took over/, "took over") ?? "none"}`,
  }, answers));
  return figures;
}
