/**
 * The looks at `/proc` of a resume (a takeover, or `ham` starting on a state directory)
 * with N pending deaths: for each, its leftovers by spawn marker and the restart to adopt.
 * Before: a scan of every process (each environment read) for each question; now: one
 * `ProcScan` answers them all. Both are measured in the same run, over the same processes
 * (this machine's, topped up with idle `sleep`s to `--procs`), in wall time and CPU time.
 *
 *     bin/deno run -A bench/resume_scan.ts [--procs 240] [--rounds 15] [--burn 0]
 *
 * `--burn K` keeps K busy-looping processes running meanwhile (a loaded machine).
 *
 * @module
 */

import { findLeftovers, type LeftoverQuery } from "../lib/os/leftovers.ts";
import { ProcScan } from "../lib/os/proc_scan.ts";
import { findSpawned } from "../lib/os/spawner.ts";
import { cpuTickMs } from "./proc_stats.ts";
import { loadAverage, percentile } from "./stats.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const procs = flag("procs", 240);
const rounds = flag("rounds", 15);
const burn = flag("burn", 0);

function query(spawnId: string): LeftoverQuery {
  return { spawnId, group: null, since: null, spare: null, skip: new Set(), local: false };
}

/** The questions of a resume with `n` pending deaths, each asked of `look`. */
function ask(n: number, look: {
  findSpawned(id: string): number | null;
  leftovers(q: LeftoverQuery): unknown[];
}): void {
  for (let i = 0; i < n; i++) {
    look.leftovers(query(`bench-dead-${i}`));
    look.findSpawned(`bench-restart-${i}`);
  }
}

const before = (n: number) => ask(n, { findSpawned, leftovers: (q) => findLeftovers(q) });
const now = (n: number) => {
  const scan = new ProcScan();
  ask(n, {
    findSpawned: (id) => scan.findSpawned(id),
    leftovers: (q) => findLeftovers(q, Deno.pid, scan),
  });
};

function measure(run: () => void): { p50: number; p95: number; cpu: number } {
  const wall: number[] = [];
  const cpu0 = cpuTickMs(Deno.pid);
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    run();
    wall.push(performance.now() - t0);
  }
  const cpu = (cpuTickMs(Deno.pid) - cpu0) / rounds;
  wall.sort((a, b) => a - b);
  return { p50: percentile(wall, 50), p95: percentile(wall, 95), cpu };
}

const count = () => [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).length;
const children: Deno.ChildProcess[] = [];
try {
  for (let k = 0; k < burn; k++) {
    children.push(
      new Deno.Command("/bin/sh", { args: ["-c", "while :; do :; done"], stdout: "null" }).spawn(),
    );
  }
  for (let c = count(); c < procs; c++) {
    children.push(new Deno.Command("sleep", { args: ["600"], stdout: "null" }).spawn());
  }
  const seen = count();
  const rows: string[] = [];
  for (const n of [1, 4, 8]) {
    const old = measure(() => before(n));
    const one = measure(() => now(n));
    const ms = (f: number) => f.toFixed(1).padStart(7);
    rows.push(
      `| ${n} | ${ms(old.p50)} / ${ms(old.p95)} | ${ms(old.cpu)} | ${ms(one.p50)} / ${
        ms(one.p95)
      } | ${ms(one.cpu)} |`,
    );
  }
  console.log(
    `resume looks at /proc: ${seen} processes, ${rounds} rounds, ${burn} busy loops, load ${loadAverage()}`,
  );
  console.log(
    "| pending deaths | before p50 / p95 ms | before CPU ms | one scan p50 / p95 ms | one scan CPU ms |",
  );
  console.log("|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
    await c.status;
  }
}
