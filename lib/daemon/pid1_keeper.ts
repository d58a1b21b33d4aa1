/**
 * PID 1 of a container (`ham --foreground` as the first process of a PID namespace): a
 * minimal keeper, so that PID 1 is the process least likely to die (when PID 1 exits, the
 * kernel ends the whole namespace). It runs the HAM as its child and the HAM runs the
 * Guardian, as anywhere else; the keeper only
 *
 * - reaps every orphan re-parented to it (the HAM is a child subreaper, so those are the
 *   processes left by a HAM that died);
 * - starts a new HAM when the HAM is gone and no Guardian took over (the state directory's
 *   lock is free), which recovers everything from the journal;
 * - on SIGTERM or SIGINT (`docker stop`) stops the HAM and its Guardian in order (as
 *   `hamctl stop`), waits until the lock is free, and exits 0.
 *
 * @module
 */

import { daemonEnv } from "../os/daemon_env.ts";
import { HamClient } from "../client/client.ts";
import { requestStop } from "../client/ham.ts";
import type { Logger } from "../os/logger.ts";
import { ZombieReaper } from "../os/reaper.ts";
import { denoChildren } from "../os/spawner.ts";
import { lockIsFree, waitForLock } from "../store/state_lock.ts";

/** Options of {@linkcode runKeeper}. */
export interface KeeperOptions {
  stateDir: string;
  /** The HAM's command line (`ham --foreground ...`). */
  command: string[];
  log: Logger;
  /** How long a stop may take before the keeper exits anyway, ms. */
  stopTimeoutMs: number;
  /** How long a Guardian gets to take a free lock before a new HAM is started, ms. */
  takeoverGraceMs: number;
}

/** Runs the keeper until a SIGTERM/SIGINT stop; returns the exit code. */
export async function runKeeper(opts: KeeperOptions): Promise<number> {
  const reaper = new ZombieReaper({
    isDenoChild: (pid) => denoChildren.has(pid),
    isWatched: () => false,
  });
  reaper.start();
  const stop = Promise.withResolvers<void>();
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    opts.log.log("notice", `Keeper ${Deno.pid}: stopping the HAM and its Guardian`);
    stop.resolve();
  };
  for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, onSignal);
  while (!stopping) {
    const child = new Deno.Command(opts.command[0], {
      args: opts.command.slice(1),
      env: daemonEnv(),
      stdin: "null",
    }).spawn();
    denoChildren.add(child.pid);
    const status = child.status.finally(() => denoChildren.delete(child.pid));
    opts.log.log("info", `Keeper ${Deno.pid}: started HAM ${child.pid}`);
    await Promise.race([status, stop.promise]);
    if (stopping) break;
    // The HAM is gone without a stop: its Guardian takes over (and holds the lock), or none
    // does, and then a new HAM recovers the state.
    while (!stopping) {
      const waiting = waitForLock(opts.stateDir);
      const free = await Promise.race([waiting, stop.promise]);
      if (free) free.close();
      if (stopping) {
        // This wait still stands: once the stop frees the lock it must let it go at once, or
        // the stop's own wait for the free lock below would wait behind it.
        if (!free) waiting.then((f) => f.close(), () => {});
        break;
      }
      await Promise.race([new Promise((r) => setTimeout(r, opts.takeoverGraceMs)), stop.promise]);
      if (await lockIsFree(opts.stateDir)) break;
    }
    if (!stopping) opts.log.log("warn", `Keeper ${Deno.pid}: no HAM serves: starting one`);
  }
  await stopHam(opts);
  reaper.stop();
  return 0;
}

/** Stops whichever HAM serves (and its Guardian), then waits until the lock is free. */
async function stopHam(opts: KeeperOptions): Promise<void> {
  const deadline = new Promise<void>((r) => setTimeout(r, opts.stopTimeoutMs));
  try {
    await using client = await HamClient.connect({ stateDir: opts.stateDir, client: "keeper" });
    await requestStop(client);
  } catch { /* no HAM answers */ }
  const free = await Promise.race([waitForLock(opts.stateDir), deadline]);
  if (free) free.close();
}
