/**
 * The event-path figures of issue 13 alone (a subset of `bench/main.ts`): SIGKILL → death
 * condition fired against the kill → pidfd-readable floor, and SIGKILL → restarted process
 * running against the spawn floor, each floor measured in the same run. `--rounds N`
 * repeats the pair N times (default 1) and prints every round: the machine is shared, so
 * one round says little.
 *
 * Run: `bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys bench/event_path.ts [--samples N] [--rounds N]`
 *
 * @module
 */

import { BenchHam } from "./bench_ham.ts";
import { measureBareRestart } from "./bare_restart.ts";
import { measureDeath } from "./death_latency.ts";
import { measurePidfdFloor } from "./pidfd_floor.ts";
import { measureRestart } from "./restart_latency.ts";
import { measureSpawnFloor } from "./spawn_floor.ts";
import { buildStampHelper } from "./stamp_helper.ts";
import { aboveFloor, type Figure, loadAverage, withFloor } from "./stats.ts";
import { renderTable } from "./table.ts";

function option(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

async function step(run: () => Promise<Figure | Figure[]>): Promise<Figure[]> {
  const before = loadAverage();
  const got = await run();
  const after = loadAverage();
  return (Array.isArray(got) ? got : [got]).map((f) => ({ ...f, load: { before, after } }));
}

/** One round: both event-path figures, each with its floor of the same run. */
export async function eventPathRound(samples: number, workDir: string): Promise<Figure[]> {
  const helper = await buildStampHelper(workDir);
  const stampDir = `${workDir}/stamps`;
  await Deno.mkdir(stampDir, { recursive: true });
  const worker = helper.argv(stampDir);
  await using h = await BenchHam.start();
  const death = await step(() => measureDeath(h, { worker, samples }));
  const [pidfdFloor] = await step(() => measurePidfdFloor(samples));
  const restart = await step(() => measureRestart(h, { worker, stampDir, samples }));
  const env = { HAM_STATE_DIR: h.stateDir };
  const [spawnFloor] = await step(() => measureSpawnFloor({ worker, stampDir, samples, env }));
  const [bare] = await step(() =>
    measureBareRestart({ worker, stampDir, samples, env }, restart[0])
  );
  const [barePosix] = await step(() =>
    measureBareRestart({ worker, stampDir, samples, env, spawner: "posix" }, restart[0])
  );
  return [
    ...death.map((f) =>
      f.id === "death.stamped"
        ? aboveFloor(f, pidfdFloor, 0.5, "≤ 0.5 ms above the pidfd floor")
        : f
    ),
    pidfdFloor,
    withFloor(restart[0], spawnFloor, {
      median: 1.25,
      p95: 2,
      text: "median ≤ 1.25×, p95 ≤ 2× spawn floor",
    }),
    spawnFloor,
    bare,
    barePosix,
  ];
}

if (import.meta.main) {
  const samples = option("--samples", 100);
  const rounds = option("--rounds", 1);
  const workDir = await Deno.makeTempDir({ prefix: "ham-event-path-" });
  try {
    for (let r = 1; r <= rounds; r++) {
      const figures = await eventPathRound(samples, workDir);
      console.log(`round ${r} of ${rounds} (${samples} samples each)`);
      console.log(renderTable(figures));
      for (const f of figures) {
        if (f.id.startsWith("restart.bare")) {
          console.log(`${f.id}: ${f.median.toFixed(2)} ms: ${f.note}`);
        }
        if (!f.floor) continue;
        const load = f.load ? ` load ${f.load.before}→${f.load.after}` : "";
        const over = f.floor.excess !== undefined
          ? `+${f.floor.excess.toFixed(2)} ms`
          : `${f.floor.ratio.toFixed(2)}× (p95 ${f.floor.p95Ratio.toFixed(2)}×)`;
        console.log(
          `${f.id}: ${f.median.toFixed(2)} / ${f.p95.toFixed(2)} / ${f.max.toFixed(2)} ms` +
            ` vs floor ${f.floor.median.toFixed(2)} ms: ${over}${load}`,
        );
      }
    }
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}
