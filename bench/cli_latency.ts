/**
 * Measurement 4: reading an entity's status from a shell, end to end (process start to
 * exit): `hamctl status ENTITY` (a Deno process connecting to the socket), and
 * `cat DIR/status/ENTITY/.info` (the plain-file mirror the HAM keeps up to date); and, as
 * the floor under `hamctl`, `bin/deno run` of an empty module.
 *
 * @module
 */

import { BIN } from "./bench_ham.ts";
import { type Figure, figure } from "./stats.ts";

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
  const hamctl = await timeRuns(
    `${BIN}/hamctl`,
    ["--state-dir", stateDir, "status", entity],
    samples,
  );
  const cat = await timeRuns("cat", [`${stateDir}/status/${entity}/.info`], samples);
  const empty = `${workDir}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const deno = await timeRuns(`${BIN}/deno`, ["run", "--quiet", "--no-prompt", empty], samples);
  return [
    figure({
      id: "cli.hamctl_status",
      label: `hamctl status ${entity}, end to end`,
      unit: "ms",
      target: { median: 30, text: "≤ 30 ms", others: "PM2 180, supervisord 156 ms" },
    }, hamctl),
    figure({
      id: "cli.cat_status_file",
      label: `cat status/${entity}/.info, end to end`,
      unit: "ms",
      target: null,
    }, cat),
    figure({
      id: "cli.deno_floor",
      label: "bin/deno run of an empty module, end to end",
      unit: "ms",
      target: null,
      note: "the floor under any Deno-based hamctl: runtime start-up alone",
    }, deno),
  ];
}
