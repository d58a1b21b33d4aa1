/**
 * Orphans for tests of the subreaper: processes whose parent shell exits at once, so that
 * they are adopted by the test process once it called `setChildSubreaper()`.
 *
 * @module
 */

import { collectExit } from "../../lib/os/exit_status.ts";
import { libc, WAIT } from "../../lib/os/libc.ts";
import { sendSignal } from "../../lib/os/pidfd.ts";

/** Kills an adopted orphan and reaps it (ECHILD, harmlessly, when it is not our child). */
export function killAndReap(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    return; // already gone
  }
  libc().waitid(WAIT.P_PID, pid, new Uint8Array(128), WAIT.WEXITED);
}

/** Orphans started by {@linkcode startOrphans}. */
export interface Orphans extends AsyncDisposable {
  /** Their pids, in start order. */
  readonly pids: number[];
  /** Closes their stdin, which ends a `read`. */
  release(): Promise<void>;
}

/**
 * Starts `count` copies of the shell command `command` in the background of a shell that
 * exits at once, so they become orphans adopted by the test process. Their stdin is a pipe
 * held by the test: `release()` closes it. Disposing kills and reaps those still there.
 */
export async function startOrphans(command: string, count = 1): Promise<Orphans> {
  const script = `exec 3<&0; i=0; while [ $i -lt ${count} ]; do ` +
    `${command} <&3 >/dev/null 2>&1 3<&- & echo $!; i=$((i+1)); done`;
  const parent = new Deno.Command("/bin/sh", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = await new Response(parent.stdout).text();
  const status = await parent.status;
  if (status.code !== 0) throw new Error(`The orphans' parent exited with ${status.code}`);
  const pids = out.trim().split("\n").map(Number);
  let open = true;
  const release = async (): Promise<void> => {
    if (open) await parent.stdin.close();
    open = false;
  };
  return {
    pids,
    release,
    async [Symbol.asyncDispose](): Promise<void> {
      await release();
      for (const pid of pids) killAndReap(pid);
    },
  };
}

/**
 * Ends processes through pidfds opened while they lived (`fds`, with their `pids`), so that
 * no signal or reap reaches another process that got the pid of one already gone (test files
 * run in parallel in one process: such a pid may be another test's child). SIGKILL to each,
 * then, once each has ended, a reap of those that are this process's zombies; closes `fds`.
 */
export async function endByPidfd(pids: number[], fds: number[]): Promise<void> {
  const lib = libc();
  for (const [i, fd] of fds.entries()) {
    try {
      sendSignal(lib, pids[i], fd, 9);
    } catch { /* already gone */ }
  }
  const polled = new Uint8Array(8 * fds.length);
  const view = new DataView(polled.buffer);
  fds.forEach((fd, i) => {
    view.setInt32(8 * i, fd, true);
    view.setInt16(8 * i + 4, 1, true); // POLLIN: the process ended
  });
  const end = performance.now() + 10_000;
  for (;;) {
    for (let i = 0; i < fds.length; i++) view.setInt16(8 * i + 6, 0, true);
    await lib.poll(polled, fds.length, 100);
    if (fds.every((_, i) => view.getInt16(8 * i + 6, true) !== 0)) break;
    if (performance.now() > end) break;
  }
  for (const fd of fds) {
    collectExit(lib, WAIT.P_PIDFD, fd); // Reaps it if it is this process's zombie.
    lib.close(fd);
  }
}
