/**
 * The stamping worker: a process that, as soon as it runs, writes the `CLOCK_REALTIME`
 * instant it started at into `DIR/stamp.PID` ("SECONDS NANOSECONDS\n"), then sleeps until
 * killed. It is a ten-line C program compiled at bench time when `cc` is available
 * (statically if possible, to skip the dynamic loader); otherwise `/bin/sh` running
 * `date`, whose stamp comes a fork and an exec later (about a millisecond).
 *
 * @module
 */

import { stampMs } from "./clock.ts";

const SOURCE = `#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char path[4096], line[64];
  snprintf(path, sizeof path, "%s/stamp.%d", argc > 1 ? argv[1] : ".", (int)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int n = snprintf(line, sizeof line, "%lld %ld\\n", (long long)ts.tv_sec, ts.tv_nsec);
  if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
  for (;;) pause();
}
`;

/** A built stamping worker. */
export interface StampHelper {
  /** `c-static`, `c` (dynamically linked) or `sh` (the `date` fallback). */
  kind: "c-static" | "c" | "sh";
  /** The command that starts a worker stamping into `dir`. */
  argv(dir: string): string[];
}

async function compiles(args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command("cc", { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false; // no cc
  }
}

/** Builds the worker into `workDir` (C when `cc` works, else the shell fallback). */
export async function buildStampHelper(workDir: string): Promise<StampHelper> {
  const src = `${workDir}/stamp.c`;
  const bin = `${workDir}/stamp`;
  await Deno.writeTextFile(src, SOURCE);
  for (const [kind, extra] of [["c-static", ["-static"]], ["c", []]] as const) {
    if (await compiles(["-O2", ...extra, "-o", bin, src])) {
      return { kind, argv: (dir) => [bin, dir] };
    }
  }
  return {
    kind: "sh",
    argv: (dir) => [
      "/bin/sh",
      "-c",
      'date +"%s %N" >"$1/stamp.$$"; exec sleep 100000',
      "sh",
      dir,
    ],
  };
}

/** Starts a worker (`argv`, from {@linkcode StampHelper.argv}) with `Deno.Command`, as the floors do. */
export function startWorker(argv: string[], env?: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}

/**
 * The start instant (ms since the epoch) worker `pid` stamped into `dir`, once it has
 * written it in full; the stamp file is removed. Throws after `timeoutMs`.
 */
export async function readStamp(dir: string, pid: number, timeoutMs = 5000): Promise<number> {
  const path = `${dir}/stamp.${pid}`;
  const end = performance.now() + timeoutMs;
  let delay = 0;
  while (performance.now() < end) {
    let text = "";
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const m = /^(\d+) (\d+)\n$/.exec(text);
    if (m) {
      await Deno.remove(path).catch(() => {});
      return stampMs(BigInt(m[1]), BigInt(m[2]));
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay + 1, 5);
  }
  throw new Error(`No start stamp from pid ${pid} in "${path}" within ${timeoutMs} ms`);
}
