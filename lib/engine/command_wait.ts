/**
 * Waiting for the command of an `execute` action (or of an action-fail item) within its
 * time limit: one this HAM started, or one a previous HAM started and left running when
 * it died (adopted after a takeover, found by its spawn marker). Past the limit, counted
 * from the command's start, the command and what it forked get SIGTERM, then SIGKILL after
 * `executeStopTimeoutMs` (`process_end.ts`).
 *
 * An adopted command is waited for, never started a second time beside it nor ended
 * early: a hook interrupted half-way could leave what it changes half-done. Its exit
 * status cannot be known (it is not this HAM's child): its end counts as a success.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import type { ExitStatus } from "../core/model.ts";
import { type EndParts, endProcesses, entityPidsOf } from "./process_end.ts";

/** A command being waited for. */
export interface Command {
  pid: number;
  /** Its start time (for signals through a pidfd); null when unknown. */
  startTime: string | null;
  /** Resolves when it ends (fields null when its status cannot be known). */
  status: Promise<ExitStatus>;
  /** When it started, in ms since the epoch; null: now (the whole limit is left). */
  startedAt: number | null;
  /** Stops watching it (an adopted command's watch), once waited for. */
  release?(): void;
}

/** How a wait for a command ended. */
export type CommandEnd =
  | { kind: "exited"; status: ExitStatus }
  | { kind: "timed-out" }
  | { kind: "stopped" };

/**
 * The command a previous HAM started with spawn marker `marker` and that still runs,
 * watched; null when none does. Only the command itself: what it forked carries its marker
 * too (a helper it started in the background) and runs on once it has ended, neither
 * waited for nor ended as if it were the command.
 */
export function adoptCommand(parts: EndParts, marker: string): Command | null {
  const pid = parts.processes.findCommand(marker);
  const d = pid === null ? null : parts.processes.describe(pid);
  if (pid === null || d === null) return null;
  let watch;
  try {
    watch = parts.processes.watch(pid, d.startTime);
  } catch {
    return null; // Ended meanwhile.
  }
  const unknown: ExitStatus = { code: null, signal: null };
  return {
    pid,
    startTime: d.startTime,
    // Null: the watch was cancelled (the wait is over, or the HAM stops).
    status: watch.exited.then((st) => st ?? unknown),
    startedAt: d.startedAt ?? null,
    release: () => watch.cancel(),
  };
}

/**
 * Waits for `cmd` up to `limitMs` after it started (0: no limit). Past it, ends it and what
 * it forked (found by `marker` or in its process group) and answers `timed-out` once they
 * are gone; `stopped` at once when the engine stops.
 */
export async function waitCommand(
  parts: EndParts,
  cmd: Command,
  marker: string,
  limitMs: number,
  label: { owner: string; command: string },
): Promise<CommandEnd> {
  try {
    let status: ExitStatus | null;
    if (limitMs === 0) {
      status = await within(parts, cmd.status, null);
    } else {
      const elapsed = cmd.startedAt === null ? 0 : parts.clock.now() - cmd.startedAt;
      status = await within(parts, cmd.status, Math.max(0, limitMs - elapsed));
    }
    if (parts.life.stopped) return { kind: "stopped" };
    if (status !== null) return { kind: "exited", status };
    const grace = DEFAULTS.executeStopTimeoutMs;
    parts.log.log(
      "warn",
      `${label.owner} failed: ETIMEDOUT: "${label.command}" (pid ${cmd.pid}) still ran ` +
        `after its time limit of ${limitMs} ms: ending it (SIGTERM, then SIGKILL after ${grace} ms)`,
    );
    let running = true;
    void cmd.status.then(() => (running = false));
    const command = { pid: cmd.pid, startTime: cmd.startTime };
    const query = {
      spawnId: marker,
      group: cmd.startTime === null ? null : cmd.pid,
      since: cmd.startTime,
      spare: null,
      skip: entityPidsOf(parts),
      local: false,
    };
    // The command itself (a child Deno reaps, which looks for leftovers pass over) and
    // what it forked: by its marker, or in its process group.
    const look = () => [...(running ? [command] : []), ...parts.processes.leftovers(query)];
    await endProcesses(parts, look(), look, grace, {
      owner: label.owner,
      noun: "process(es) of its command",
    });
    return parts.life.stopped ? { kind: "stopped" } : { kind: "timed-out" };
  } finally {
    cmd.release?.();
  }
}

/** `p`'s value when it settles within `ms` (null: no limit); else null, and at once when the engine stops. */
async function within<T>(parts: EndParts, p: Promise<T>, ms: number | null): Promise<T | null> {
  const done = new AbortController();
  const signal = AbortSignal.any([parts.life.haltSignal, done.signal]);
  const stopped = new Promise<null>((resolve) => {
    if (signal.aborted) resolve(null);
    signal.addEventListener("abort", () => resolve(null), { once: true });
  });
  try {
    const racers: Promise<T | null>[] = [p, stopped];
    if (ms !== null) racers.push(parts.clock.sleep(ms, signal).then(() => null));
    return await Promise.race(racers);
  } finally {
    done.abort();
  }
}
