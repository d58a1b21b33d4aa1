/**
 * The figures of issue 13 alone (a subset of `bench/main.ts`, for the README's figures
 * table): `hamctl ping`/`status` against the Deno floor, HAM + Guardian PSS and idle CPU with
 * 100 entities, and takeovers at 1,000 (and with `--long`, 10,000) entities.
 *
 * Run: `bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys bench/figures.ts [--long]`
 *
 * @module
 */

import { BenchHam } from "./bench_ham.ts";
import { measureCli } from "./cli_latency.ts";
import { measureIdleCpu } from "./idle_cpu.ts";
import { measureDaemonPss, measureMemory } from "./memory.ts";
import { type Figure, loadAverage } from "./stats.ts";
import { renderTable } from "./table.ts";
import { measureTakeover } from "./takeover.ts";

async function step(into: Figure[], run: () => Promise<Figure | Figure[]>): Promise<void> {
  const before = loadAverage();
  const got = await run();
  const after = loadAverage();
  const out = (Array.isArray(got) ? got : [got]).map((f) => ({ ...f, load: { before, after } }));
  into.push(...out);
  console.error(renderTable(out)); // As it goes: a long run may be cut short.
}

if (import.meta.main) {
  const long = Deno.args.includes("--long");
  const figures: Figure[] = [];
  const workDir = await Deno.makeTempDir({ prefix: "ham-figures-" });
  try {
    {
      await using h = await BenchHam.start();
      await h.ham.entity("web");
      console.error("figures: hamctl ping/status (20 each)");
      await step(figures, () => measureCli(h.stateDir, "web", 20, workDir));
    }
    {
      await using h = await BenchHam.start();
      console.error("figures: memory and idle CPU with 100 entities");
      await step(figures, () => measureMemory(h, 0, 100));
      await step(figures, () => measureDaemonPss(h, 100));
      await step(figures, () => measureIdleCpu(h, 100, 30, 2000));
    }
    for (const [n, rounds] of long ? [[1000, 10], [10_000, 3]] : [[1000, 10]]) {
      console.error(`figures: takeover at ${n} entities (${rounds} rounds)`);
      await step(figures, () => measureTakeover(n, rounds));
    }
    console.log(renderTable(figures));
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}
