/**
 * A worker for the heartbeat-starvation example (QNX example 6): a process with two
 * "threads" (async tasks) that loop on the same mutex. Thread 1 stands for QNX's
 * high-priority thread: it holds the lock while it works. Thread 2, the low-priority
 * one, takes the lock for a short step, and ONLY thread 2 heartbeats, from inside its
 * loop: a beat proves that thread 2 still makes progress. The process attaches ITSELF to
 * the HAM with a heartbeat (period 100 ms, missed-low 3, missed-high 5).
 *
 * For the first STARVE_AFTER_MS (default 1000) thread 1 pauses between its turns, and
 * thread 2 gets the lock in between. Then thread 1 turns greedy: it takes the lock back
 * as soon as it lets go of it, before the waiting thread 2 has run (the mutex is not
 * fair, see `mutex.ts`). Thread 2 starves: the process is alive, its event loop is free
 * and thread 1 keeps working, but thread 2 never runs again, and its beats stop.
 *
 * Starvation sets in once: a process that finds DIR/NAME.starved (the mark the first run
 * leaves) keeps thread 1 polite, so a restarted worker keeps beating and the example's
 * timeline ends cleanly. A restarted worker attaches itself again under the same name.
 *
 * What the worker does is appended to DIR/NAME.log (`<ms> <pid> <text>` lines). It exits
 * when its connection to the HAM ends.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env examples/workers/starver.ts STATE_DIR [NAME] [STARVE_AFTER_MS]
 *
 * @module
 */

import { Mutex, sleep, startWorker } from "./mutex.ts";

const { ham, note, firstRun: starves, mark, faultAt: greedyAt } = await startWorker(
  Deno.args,
  {
    name: "mutex-starvation",
    mark: "starved",
    usage: "starver.ts STATE_DIR [NAME] [STARVE_AFTER_MS]",
  },
  (first, after) => first ? `thread 1 turns greedy in ${after} ms` : "thread 1 stays polite",
);

const lock = new Mutex("work");
let rounds1 = 0;
let beats = 0;
let greedy = false;
/** When thread 2 began waiting for the lock, or null while it is not waiting. */
let waitingSince: number | null = null;

/** Thread 1 (high priority): works with the lock held; greedy after `greedyAt`. */
async function thread1(): Promise<never> {
  await lock.lock();
  for (;;) {
    await sleep(5); // work, with the lock held
    rounds1++;
    lock.unlock();
    if (!greedy && starves && Date.now() >= greedyAt) {
      greedy = true;
      mark();
      note(`thread 1 turns greedy: it takes the lock back at once (${beats} beats so far)`);
    }
    if (!greedy) await sleep(10); // a pause, in which thread 2 gets its turn
    await lock.lock(); // greedy: back before the waiting thread 2 has run
  }
}

/** Thread 2 (low priority): one short step with the lock held, and a beat. */
async function thread2(): Promise<never> {
  for (;;) {
    waitingSince = Date.now();
    await lock.lock();
    waitingSince = null;
    beats++;
    await ham.heartbeat();
    if (beats === 1 || beats % 20 === 0) note(`thread 2: beat #${beats}`);
    lock.unlock();
    await sleep(10);
  }
}

// Once greedy, thread 1 reports that it is busy: the process is not stuck, thread 2 starves.
setInterval(() => {
  if (greedy && waitingSince !== null) {
    note(
      `thread 1: ${rounds1} rounds; thread 2 waiting for the lock for ${
        Date.now() - waitingSince
      } ms`,
    );
  }
}, 200);
await Promise.all([thread1(), thread2()]);
