/**
 * A takeover rehearsed once, as a Guardian starts, on a scratch state directory of its own:
 * V8 compiles a function at its first call, and a Guardian, which only mirrors, has never
 * called most of what a takeover runs (the store built from the live copy, the daemon's
 * set-up, the engine's resume and re-watch, the control server, the handler, the status
 * answer). Compiling it when the HAM dies cost ~10 ms of the ~40 ms of CPU a takeover took
 * at 1,000 entities. The rehearsal runs the same path, through `HamDaemon.start` with a
 * takeover, on a state of one entity (this process, attached by pid, with a death
 * condition and its actions), answers a full and an entity's status over its own socket,
 * stops, and removes the directory.
 *
 * It touches nothing of the HAM it guards: the state directory, lock, socket, journal and
 * event log are the scratch directory's; `HAM_STATE_DIR` is set back. It is best-effort:
 * when it cannot be done (no writable temporary directory), the takeover compiles as it
 * goes, as before. A Guardian killed while it rehearsed leaves its scratch directory: the
 * next rehearsal removes those older than {@linkcode STALE_MS} whose lock nobody holds.
 *
 * @module
 */

import { HamClient } from "../lib/client/client.ts";
import { HamDaemon } from "../lib/daemon/daemon.ts";
import { StatusAnswer } from "../lib/core/status_answer.ts";
import { processStartTime } from "../lib/os/proc.ts";
import { StateStore } from "../lib/store/state_store.ts";
import { JournalTail } from "../lib/store/journal_tail.ts";
import { takeLock } from "../lib/store/state_lock.ts";

/** The entity of the rehearsal: this process, watched by pid. */
const ENTITY = "rehearsal";
/** How the scratch directories are named, in the temporary directory. */
const PREFIX = "ham-rehearsal-";
/**
 * A scratch directory untouched this long whose lock is free is what a Guardian killed while
 * it rehearsed left (a rehearsal holds its lock from the moment it has made it), in ms.
 */
export const STALE_MS = 60_000;

/**
 * Rehearses a takeover on a scratch state directory; resolves with how long it took (ms).
 *
 * @throws {Error} when it could not be done (nothing is left behind).
 */
export async function rehearseTakeover(): Promise<number> {
  const t0 = performance.now();
  await removeStale();
  const stateDir = await Deno.makeTempDir({ prefix: PREFIX });
  const env = Deno.env.get("HAM_STATE_DIR");
  try {
    const lock = await takeLock(stateDir);
    let daemon: HamDaemon | null = null;
    try {
      await seed(stateDir);
      const tail = JournalTail.open(stateDir);
      try {
        const answer = new StatusAnswer();
        answer.warm(tail.state);
        const noticedAt = performance.now();
        daemon = await HamDaemon.start({
          stateDir,
          lock,
          write: () => {},
          guardian: false,
          takeover: {
            deadHamPid: null,
            noticedAt,
            noticedBy: "rehearsal",
            liveSeq: tail.seq,
            lockedAt: noticedAt,
            replay: tail.handOver(),
            pidfds: [],
            pipes: [],
            statusAnswer: answer,
          },
        });
      } finally {
        tail.close();
      }
      const client = await HamClient.connect({ stateDir, client: "rehearsal", timeoutMs: 5000 });
      try {
        await client.request("status", { path: null });
        await client.request("status", { path: ENTITY });
      } finally {
        client.close();
        await client.closed;
      }
    } finally {
      // The daemon's stop releases the lock; without a daemon, it is released here.
      if (daemon !== null) await daemon.stop();
      else {
        try {
          lock.close();
        } catch { /* A start that failed closed it. */ }
      }
    }
    return performance.now() - t0;
  } finally {
    if (env === undefined) Deno.env.delete("HAM_STATE_DIR");
    else Deno.env.set("HAM_STATE_DIR", env);
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

/** Removes the scratch directories of rehearsals that died (see {@linkcode STALE_MS}). */
async function removeStale(): Promise<void> {
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  let names: string[];
  try {
    names = [...Deno.readDirSync(tmp)].filter((e) => e.isDirectory && e.name.startsWith(PREFIX))
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = `${tmp}/${name}`;
    let lock: Deno.FsFile | null = null;
    try {
      const mtime = Deno.lstatSync(dir).mtime?.getTime() ?? Date.now();
      if (Date.now() - mtime < STALE_MS) continue;
      try {
        lock = await Deno.open(`${dir}/ham.lock`, { read: true, write: true });
      } catch { /* None: it died before it made it. */ }
      if (lock !== null && !await lock.tryLock(true)) continue; // Rehearsing still.
      await Deno.remove(dir, { recursive: true });
    } catch {
      /* Another user's, or gone meanwhile. */
    } finally {
      lock?.close();
    }
  }
}

/** Journals the rehearsal's state: this process attached by pid, with a death condition. */
async function seed(stateDir: string): Promise<void> {
  const store = await StateStore.open(stateDir);
  try {
    const at = Date.now();
    await store.commit([
      {
        t: "attach",
        entity: ENTITY,
        kind: "attached",
        pid: Deno.pid,
        startTime: processStartTime(Deno.pid),
        argv: null,
        cwd: null,
        env: null,
        spawnId: null,
        spawned: false,
        flags: 0,
        heartbeat: null,
        at,
      },
      { t: "cond-add", entity: ENTITY, condition: "death", type: "death", flags: 0, match: null },
      {
        t: "action-add",
        entity: ENTITY,
        condition: "death",
        action: "restart",
        flags: 0,
        params: { kind: "restart", argv: null, policy: null },
      },
      {
        t: "action-add",
        entity: ENTITY,
        condition: "death",
        action: "note",
        flags: 0,
        params: { kind: "log", message: "rehearsal", prefix: false, verbosity: 1 },
      },
    ]);
  } finally {
    await store.close();
  }
}
