/**
 * The HAM's benchmarks, against the targets of the issue: death detection, restart after
 * SIGKILL (and the spawn floor under it), control requests, reading status from a shell,
 * memory with 1, 100 and 1,000 entities, idle CPU with 100, starting 100 processes, event
 * delivery to a subscriber, missed-high detection against its deadline, and the HAM's CPU
 * with 1,000 entities beating at 10 Hz and 10,000 at 1 Hz.
 * Every HAM runs as a real process on a temporary state directory and is cleaned up, with
 * every process it started, even on Ctrl-C.
 *
 * Run: `deno task bench [--quick] [--json] [--long]`, or
 * `bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys bench/main.ts`
 *
 * - `--quick`: few samples, small fleets (the smoke test's mode; figures are not meaningful)
 * - `--json`: print `{ quick, long, worker, figures }` as JSON instead of the table
 * - `--long`: measure idle CPU over 30 s instead of 10 s, a takeover at 10,000 entities,
 *   and 100,000 entities attached by pid (load, run, take over)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measureBareRestart } from "./bare_restart.ts";
import { BenchHam, liveHams } from "./bench_ham.ts";
import { measureCli } from "./cli_latency.ts";
import { measureDeath } from "./death_latency.ts";
import { measureEventLatency } from "./event_latency.ts";
import { measureFleetStart } from "./fleet_start.ts";
import { type HeartbeatLoad, measureHeartbeatCost } from "./heartbeat_cost.ts";
import { measureHeartbeatLateness } from "./heartbeat_lateness.ts";
import { measureIdleCpu } from "./idle_cpu.ts";
import { measureDaemonPss, measureDenoRss, measureMemory } from "./memory.ts";
import { measureRequests } from "./request_latency.ts";
import { measureRestart } from "./restart_latency.ts";
import { measureSpawnFloor } from "./spawn_floor.ts";
import { buildStampHelper } from "./stamp_helper.ts";
import { aboveFloor, type Figure, loadAverage, withFloor } from "./stats.ts";
import { measurePidfdFloor } from "./pidfd_floor.ts";
import { renderTable } from "./table.ts";
import { measureJournalThroughput } from "./journal_throughput.ts";
import { measureSnapshot } from "./snapshot_size.ts";
import { measureTakeover } from "./takeover.ts";
import { measureFullStatus } from "./status_full.ts";
import { measureScale } from "./scale.ts";
import { measureChangeCost, measureUnreadOutput } from "./hostile_clients.ts";
import { measureMirrorChange } from "./status_mirror.ts";
import { measureCatchUp } from "./catch_up.ts";
import { measureClusterFailover } from "./cluster_failover.ts";
import { measureCrossNodeNotify } from "./cross_node_notify.ts";

const USAGE = `Usage: deno task bench [--quick] [--json] [--long]
  --quick  few samples and short windows (a smoke test; the figures mean little)
  --json   print the figures as JSON instead of a table
  --long   measure idle CPU over 30 s instead of 10 s, a takeover at 10,000 entities, and
           100,000 entities attached by pid (load, run, take over)`;

/** How many samples each measurement takes. */
export interface BenchPlan {
  deaths: number;
  restarts: number;
  spawns: number;
  requests: number;
  cliRuns: number;
  /** Entity counts at which memory is read, ascending; idle CPU is read at 100. */
  memoryAt: number[];
  idleSeconds: number;
  fleetSize: number;
  fleetRuns: number;
  /** Raise → event received samples. */
  events: number;
  /** Missed-high lateness samples. */
  lateness: number;
  /**
   * The heartbeat loads (fast, then slow), each measured on a HAM of its own: answered
   * beats, then beats without replies.
   */
  heartbeatLoads: [HeartbeatLoad, HeartbeatLoad];
  /** The window of each heartbeat load, in seconds. */
  heartbeatSeconds: number;
  /** The longest wait for the HAM to settle after a load's attaches, in ms. */
  heartbeatSettleMs: number;
  /** Takeovers measured, as [entities, rounds]. */
  takeovers: Array<[number, number]>;
  /** Concurrent clients of the journal throughput runs, and each run's seconds. */
  journalClients: number[];
  journalSeconds: number;
  /** Cross-node failovers measured (etcd, three HAMs). */
  clusterFailovers: number;
  /** Notifications forwarded to another node's HAM, measured. */
  crossNodeNotifies: number;
  /** Entities of the snapshot measurement, and its rounds. */
  snapshotEntities: number;
  snapshotRounds: number;
  /** The scale run's [entities, entities per process, takeovers], or null for none. */
  scale: [number, number, number] | null;
  /** Full status requests at the hostile run's entity count. */
  statusSamples: number;
  /** The hostile-client run's [clients, seconds, entities, changes], when not the full one. */
  quickHostile?: [number, number, number, number];
  /** The status mirror's change cost: [entities, changes]. */
  mirror: [number, number];
  /** The catch-up replay: [event log MiB, subscribers that never read]. */
  catchUp: [number, number];
}

/** The plan of a run. */
export function plan(opts: { quick: boolean; long: boolean }): BenchPlan {
  if (opts.quick) {
    return {
      deaths: 5,
      restarts: 5,
      spawns: 5,
      requests: 50,
      cliRuns: 3,
      memoryAt: [1, 100],
      idleSeconds: 1,
      fleetSize: 10,
      fleetRuns: 1,
      events: 50,
      lateness: 5,
      heartbeatLoads: [
        { entities: 100, hz: 10, clients: 2 },
        { entities: 1000, hz: 1, clients: 2 },
      ],
      heartbeatSeconds: 2,
      heartbeatSettleMs: 5_000,
      takeovers: [[10, 1]],
      journalClients: [1, 10],
      journalSeconds: 0.5,
      snapshotEntities: 1000,
      snapshotRounds: 1,
      quickHostile: [5, 2, 1000, 3],
      statusSamples: 3,
      scale: null,
      mirror: [1000, 3],
      catchUp: [1, 2],
      clusterFailovers: 1,
      crossNodeNotifies: 3,
    };
  }
  return {
    deaths: 100,
    restarts: 100,
    spawns: 100,
    requests: 1000,
    cliRuns: 20,
    memoryAt: [1, 100, 1000],
    idleSeconds: opts.long ? 30 : 10,
    fleetSize: 100,
    fleetRuns: 10,
    events: 1000,
    lateness: 50,
    heartbeatLoads: [
      { entities: 1000, hz: 10, clients: 4 },
      { entities: 10_000, hz: 1, clients: 4 },
    ],
    heartbeatSeconds: 10,
    heartbeatSettleMs: 60_000,
    takeovers: opts.long ? [[10, 5], [1000, 10], [10_000, 3]] : [[10, 5], [1000, 10]],
    journalClients: [1, 10, 100],
    journalSeconds: 2,
    snapshotEntities: 10_000,
    snapshotRounds: 3,
    clusterFailovers: 10,
    crossNodeNotifies: 50,
    statusSamples: 20,
    scale: opts.long ? [100_000, 100, 2] : null,
    mirror: [10_000, 20],
    catchUp: [16, 20],
  };
}

function progress(message: string): void {
  console.error(`bench: ${message}`);
}

/** What a run produced: the figures, and which stamping worker measured them. */
export interface BenchResult {
  /** `c-static`, `c` or `sh` (see `stamp_helper.ts`). */
  worker: string;
  figures: Figure[];
}

/** Runs a measurement and stamps its figures with the load average before and after it. */
async function step(into: Figure[], run: () => Promise<Figure | Figure[]>): Promise<Figure[]> {
  const before = loadAverage();
  const got = await run();
  const after = loadAverage();
  const out = (Array.isArray(got) ? got : [got]).map((f) => ({ ...f, load: { before, after } }));
  into.push(...out);
  return out;
}

/** Runs every measurement of `p`; `workDir` holds the stamping worker and its stamps. */
export async function runBench(p: BenchPlan, workDir: string): Promise<BenchResult> {
  const figures: Figure[] = [];
  const helper = await buildStampHelper(workDir);
  const stampDir = `${workDir}/stamps`;
  await Deno.mkdir(stampDir);
  const worker = helper.argv(stampDir);
  progress(`stamping worker: ${helper.kind}`);
  {
    await using h = await BenchHam.start();
    progress(`death → condition (${p.deaths} samples)`);
    const death: Figure[] = [];
    await step(death, () => measureDeath(h, { worker, samples: p.deaths }));
    progress(`kill → pidfd readable floor (${p.deaths} samples)`);
    const [pidfdFloor] = await step(figures, () => measurePidfdFloor(p.deaths));
    figures.push(
      ...death.map((f) =>
        f.id === "death.stamped"
          ? aboveFloor(f, pidfdFloor, 0.5, "≤ 0.5 ms above the pidfd floor")
          : f
      ),
    );
    progress(`restart after SIGKILL (${p.restarts} samples)`);
    const restart: Figure[] = [];
    await step(restart, () => measureRestart(h, { worker, stampDir, samples: p.restarts }));
    progress(`spawn floor (${p.spawns} samples)`);
    const env = { HAM_STATE_DIR: h.stateDir };
    const [floor] = await step(
      figures,
      () => measureSpawnFloor({ worker, stampDir, samples: p.spawns, env }),
    );
    figures.push(
      withFloor(restart[0], floor, {
        median: 1.25,
        p95: 2,
        text: "median ≤ 1.25×, p95 ≤ 2× spawn floor",
      }),
    );
    progress(`restart by a bare loop (${p.restarts} samples)`);
    await step(
      figures,
      () => measureBareRestart({ worker, stampDir, samples: p.restarts, env }, restart[0]),
    );
    await step(
      figures,
      () =>
        measureBareRestart(
          { worker, stampDir, samples: p.restarts, env, spawner: "posix" },
          restart[0],
        ),
    );
    progress(`library requests (${p.requests} of each)`);
    await step(figures, () => measureRequests(h.ham, "restarter", p.requests));
    progress(`hamctl ping and status from a shell (${p.cliRuns} runs each)`);
    await step(figures, () => measureCli(h.stateDir, "restarter", p.cliRuns, workDir));
  }
  progress("memory of an idle Deno");
  const denoRss = await measureDenoRss(workDir);
  {
    await using h = await BenchHam.start();
    const cpu: Figure[] = [];
    let have = 0;
    for (const count of p.memoryAt) {
      progress(`memory with ${count} entit${count === 1 ? "y" : "ies"}`);
      await step(figures, () => measureMemory(h, have, count));
      have = count;
      if (count === 100) {
        progress(`PSS of HAM + Guardian with 100 entities`);
        await step(figures, () => measureDaemonPss(h, count));
        progress(`idle CPU with 100 entities over ${p.idleSeconds} s, from 3 s after loading`);
        // measureMemory settled 1 s after loading: the window starts 2 s later.
        await step(cpu, () => measureIdleCpu(h, count, p.idleSeconds, 2000));
      }
    }
    figures.push(denoRss, ...cpu);
  }
  {
    await using h = await BenchHam.start();
    progress(`${p.fleetSize} processes running (${p.fleetRuns} runs)`);
    await step(figures, () => measureFleetStart(h, p.fleetSize, p.fleetRuns));
  }
  {
    await using h = await BenchHam.start();
    progress(`event delivery (${p.events} samples)`);
    await step(figures, () => measureEventLatency(h, p.events));
    progress(`missed-high lateness (${p.lateness} samples)`);
    await step(figures, () => measureHeartbeatLateness(h, p.lateness));
  }
  for (
    const [load, id] of [
      [{ ...p.heartbeatLoads[0], path: "slot" }, "heartbeat.cpu_fast"],
      [{ ...p.heartbeatLoads[1], path: "slot" }, "heartbeat.cpu_slow"],
      [{ ...p.heartbeatLoads[0], path: "reply" }, "heartbeat.cpu_fast_socket"],
      [{ ...p.heartbeatLoads[1], path: "reply" }, "heartbeat.cpu_slow_socket"],
      [{ ...p.heartbeatLoads[0], path: "noreply" }, "heartbeat.cpu_fast_noreply"],
      [{ ...p.heartbeatLoads[1], path: "noreply" }, "heartbeat.cpu_slow_noreply"],
    ] as const
  ) {
    await using h = await BenchHam.start();
    progress(`${load.entities} entities beating at ${load.hz} Hz (${p.heartbeatSeconds} s)`);
    await step(
      figures,
      () => measureHeartbeatCost(h, id, load, p.heartbeatSeconds, p.heartbeatSettleMs),
    );
  }
  progress(`snapshot at ${p.snapshotEntities} entities`);
  await step(figures, () => measureSnapshot(p.snapshotEntities, p.snapshotRounds));
  for (const clients of p.journalClients) {
    progress(`journal throughput with ${clients} client(s)`);
    await step(figures, () => measureJournalThroughput(clients, p.journalSeconds));
  }
  {
    await using h = await BenchHam.start();
    const [clients, seconds, entities, changes] = p.quickHostile ?? [20, 10, 10_000, 20];
    progress(`${clients} clients that never read (${seconds} s)`);
    figures.push(...await measureUnreadOutput(h, clients, seconds));
    progress(`one change with ${entities} entities (${changes} changes)`);
    figures.push(await measureChangeCost(h, entities, changes));
    progress(`full status with ${entities} entities (${p.statusSamples} requests)`);
    await step(figures, () => measureFullStatus(h.ham, entities, p.statusSamples));
  }
  progress(`status mirror: one change with ${p.mirror[0]} entities (${p.mirror[1]} changes)`);
  await step(figures, () => measureMirrorChange(...p.mirror));
  progress(`catch-up of a ${p.catchUp[0]} MiB event log (${p.catchUp[1]} stalled subscribers)`);
  await step(figures, () => measureCatchUp(p.catchUp[0] * 1024 * 1024, p.catchUp[1]));
  for (const [entities, rounds] of p.takeovers) {
    progress(`takeover with ${entities} entities (${rounds} rounds)`);
    await step(figures, () => measureTakeover(entities, rounds));
  }
  if (p.scale) {
    const [entities, perProcess, rounds] = p.scale;
    progress(`${entities} entities attached by pid: load, run, ${rounds} takeovers`);
    await step(figures, () => measureScale(entities, perProcess, rounds));
  }
  progress(`cluster failover (${p.clusterFailovers} rounds)`);
  figures.push(...await measureClusterFailover(p.clusterFailovers));
  progress(`cross-node notify (${p.crossNodeNotifies} rounds)`);
  figures.push(...await measureCrossNodeNotify(p.crossNodeNotifies));
  return { worker: helper.kind, figures };
}

/** Runs the benchmarks and prints the results; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        long: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const quick = values.quick ?? false;
  const long = values.long ?? false;
  const workDir = await Deno.makeTempDir({ prefix: "ham-bench-work-" });
  const cleanup = async () => {
    await Promise.all([...liveHams].map((h) => h[Symbol.asyncDispose]()));
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  };
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) return;
    interrupted = true;
    progress("interrupted: cleaning up");
    // The measurement under way fails as its HAM goes away: that is expected now.
    globalThis.addEventListener("unhandledrejection", (e) => e.preventDefault());
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const { worker, figures } = await runBench(plan({ quick, long }), workDir);
    if (values.json) console.log(JSON.stringify({ quick, long, worker, figures }, null, 2));
    else console.log(`Stamping worker: ${worker}\n\n${renderTable(figures)}`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    await cleanup();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
