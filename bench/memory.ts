/**
 * Measurement 5: the HAM's resident memory (`VmRSS`) with a number of entities, read once
 * the HAM has settled (status mirror written, no request in flight); and, as the floor
 * under it, the RSS of an idle Deno running an empty module.
 *
 * @module
 */

import { type BenchHam, BIN } from "./bench_ham.ts";
import { attachSleepersByPid } from "./fleet.ts";
import { rssBytes } from "./proc_stats.ts";
import { readFileBytes } from "../lib/os/proc_fs.ts";
import { sleep } from "./sleep.ts";
import { DEFAULTS } from "../lib/core/defaults.ts";
import { type Figure, figure, type Target } from "./stats.ts";

/** Targets of the issue, by entity count. */
const TARGETS: Record<number, Target> = {
  100: { median: 45, text: "≤ 45 MiB" },
  1000: { median: 80, text: "≤ 80 MiB" },
};

/**
 * Attaches sleepers until the HAM has `count` entities (it has `have`), waits `settleMs`,
 * and reads its RSS.
 */
export async function measureMemory(
  h: BenchHam,
  have: number,
  count: number,
  settleMs = 1000,
): Promise<Figure> {
  const names = Array.from({ length: count - have }, (_, i) => `mem-${have + i}`);
  await attachSleepersByPid(h.ham, names);
  await sleep(settleMs);
  const mib = rssBytes(h.pid) / (1024 * 1024);
  return figure({
    id: `memory.rss_${count}`,
    label: `HAM RSS with ${count} entit${count === 1 ? "y" : "ies"}`,
    unit: "MiB",
    target: TARGETS[count] ?? null,
  }, [mib]);
}

/** Measures the RSS of `bin/deno run` of a module that only waits (written into `workDir`). */
export async function measureDenoRss(workDir: string, settleMs = 1000): Promise<Figure> {
  const module = `${workDir}/idle.ts`;
  await Deno.writeTextFile(module, 'console.log("ready");\nsetTimeout(() => {}, 600_000);\n');
  const child = new Deno.Command(`${BIN}/deno`, {
    args: ["run", "--quiet", "--no-prompt", module],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    await reader.read(); // "ready"
    reader.releaseLock();
    await sleep(settleMs);
    return figure({
      id: "memory.deno_floor",
      label: "RSS of an idle Deno (empty module)",
      unit: "MiB",
      target: null,
      note: "the floor under any Deno-based HAM: the runtime alone",
    }, [rssBytes(child.pid) / (1024 * 1024)]);
  } finally {
    child.kill("SIGKILL");
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
}

/** `Pss` and `Pss_Anon` of `/proc/PID/smaps_rollup`, in MiB. */
function pss(pid: number): { pss: number; anon: number } {
  const text = new TextDecoder().decode(readFileBytes(`/proc/${pid}/smaps_rollup`) ?? undefined);
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(text)?.[1]);
  return { pss: kib("Pss") / 1024, anon: kib("Pss_Anon") / 1024 };
}

/**
 * The proportional memory of the HAM and its Guardian together (`Pss`, and the private
 * part of it, `Pss_Anon`), with the HAM's current `entities` entities.
 */
export async function measureDaemonPss(h: BenchHam, entities: number): Promise<Figure[]> {
  // Steady state: after both daemons dropped their start-up pages (the Guardian starts a
  // moment after the HAM answers).
  await sleep(Math.max(0, DEFAULTS.startUpPagesDropMs + 1500 - (performance.now() - h.startedAt)));
  const guardian = (await h.ham.status() as { guardianPid: number | null }).guardianPid;
  const pids = guardian ? [h.pid, guardian] : [h.pid];
  const each = pids.map(pss);
  const sum = (k: "pss" | "anon") => each.reduce((a, m) => a + m[k], 0);
  const split = (k: "pss" | "anon") =>
    `HAM ${each[0][k].toFixed(1)} + Guardian ${(each[1]?.[k] ?? 0).toFixed(1)} MiB`;
  return [
    figure({
      id: `memory.pss_${entities}`,
      label: `HAM + Guardian PSS with ${entities} entities`,
      unit: "MiB",
      target: { median: 47, text: "≤ PM2's 47 MiB", others: "PM2 48, s6 14, runit 11 MiB" },
      note: split("pss"),
    }, [sum("pss")]),
    figure({
      id: `memory.pss_anon_${entities}`,
      label: `HAM + Guardian Pss_Anon with ${entities} entities`,
      unit: "MiB",
      target: { median: 30, text: "≤ 30 MiB" },
      note: split("anon"),
    }, [sum("anon")]),
  ];
}
