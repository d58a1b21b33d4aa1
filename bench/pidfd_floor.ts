/**
 * The floor under death detection: SIGKILL of a process → its pidfd readable, seen by a
 * `poll()` on Deno's thread pool (the way the HAM's watcher waits), in this process. The
 * HAM's SIGKILL → death condition fired is compared to it (the issue: at most 0.5 ms above).
 *
 * @module
 */

import { realtimeMs } from "./clock.ts";
import { type Libc, libc } from "../lib/os/libc.ts";
import { openPidfd } from "../lib/os/pidfd.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";

/** `POLLIN` of `poll()`. */
const POLLIN = 1;

/** One `poll()` of `fd` for readability on Deno's thread pool; resolves when it answers. */
export function pollReadable(lib: Libc, fd: number): Promise<number> {
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  return lib.poll(pollfd, 1, -1);
}

/** Measures `samples` kills of a sleeper → its pidfd readable. */
export async function measurePidfdFloor(samples: number, gapMs = 50): Promise<Figure> {
  const lib = libc();
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const child = new Deno.Command("/bin/sleep", {
      args: ["1000"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const fd = openPidfd(lib, "watch", child.pid);
    try {
      const ready = pollReadable(lib, fd);
      await sleep(gapMs);
      const t0 = realtimeMs();
      child.kill("SIGKILL");
      await ready;
      out.push(realtimeMs() - t0);
    } finally {
      lib.close(fd);
      await child.status;
    }
  }
  return figure({
    id: "death.floor",
    label: "SIGKILL → pidfd readable (poll on the thread pool, this process)",
    unit: "ms",
    target: null,
    note: "the floor under death detection: no journal, no condition, no delivery",
  }, out);
}
