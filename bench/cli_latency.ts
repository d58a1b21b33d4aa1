/**
 * Measurement 4: reading an entity's status from a shell, end to end (process start to
 * exit): `hamctl status ENTITY` (a Deno process connecting to the socket), and
 * `cat DIR/status/ENTITY/.info` (the plain-file mirror the HAM keeps up to date); and, as
 * the floor under `hamctl`, `bin/deno run` of an empty module.
 *
 * @module
 */

import { BIN } from "./bench_ham.ts";
import { type Figure, figure, withFloor } from "./stats.ts";

/** Times `samples` runs of a command (after one untimed run), checking that each succeeds. */
async function timeRuns(cmd: string, args: string[], samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = -1; i < samples; i++) {
    const t0 = performance.now();
    const r = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
    const ms = performance.now() - t0;
    if (!r.success) {
      throw new Error(
        `"${cmd} ${args.join(" ")}" exited ${r.code}: ${new TextDecoder().decode(r.stderr)}`,
      );
    }
    if (i >= 0) out.push(ms);
  }
  return out;
}

/**
 * Measures `hamctl status ENTITY`, `cat` of the entity's status file, and Deno's start-up
 * (an empty module written into `workDir`).
 */
export async function measureCli(
  stateDir: string,
  entity: string,
  samples: number,
  workDir: string,
): Promise<Figure[]> {
  const empty = `${workDir}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  // Interleaved, so that a change in the machine's load weighs on all three alike.
  const ping: number[] = [], status: number[] = [], deno: number[] = [];
  for (let i = 0; i < samples; i++) {
    deno.push(...await timeRuns(`${BIN}/deno`, ["run", "--quiet", "--no-prompt", empty], 1));
    ping.push(...await timeRuns(`${BIN}/hamctl`, ["--state-dir", stateDir, "ping"], 1));
    status.push(
      ...await timeRuns(`${BIN}/hamctl`, ["--state-dir", stateDir, "status", entity], 1),
    );
  }
  const cat = await timeRuns("cat", [`${stateDir}/status/${entity}/.info`], samples);
  const ratio = { median: 1.25, text: "≤ 1.25 × deno floor" };
  const floor = figure({
    id: "cli.deno_floor",
    label: "bin/deno run of an empty module, end to end",
    unit: "ms",
    target: null,
    note: "the floor under any Deno-based hamctl: runtime start-up alone",
  }, deno);
  return [
    withFloor(
      figure(
        { id: "cli.hamctl_ping", label: "hamctl ping, end to end", unit: "ms", target: null },
        ping,
      ),
      floor,
      ratio,
    ),
    withFloor(
      figure({
        id: "cli.hamctl_status",
        label: `hamctl status ${entity}, end to end`,
        unit: "ms",
        target: { text: "", others: "PM2 275, s6 3.6, runit 3.1 ms" },
      }, status),
      floor,
      ratio,
    ),
    figure({
      id: "cli.cat_status_file",
      label: `cat status/${entity}/.info, end to end`,
      unit: "ms",
      target: null,
    }, cat),
    floor,
  ];
}
