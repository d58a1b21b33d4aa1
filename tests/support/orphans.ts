/**
 * Orphans for tests of the subreaper: processes whose parent shell exits at once, so that
 * they are adopted by the test process once it called `setChildSubreaper()`.
 *
 * @module
 */

import { libc, WAIT } from "../../lib/os/libc.ts";

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
