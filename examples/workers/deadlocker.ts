/**
 * A worker for the heartbeat-deadlock example (QNX example 5): a process with two
 * "threads" (async tasks) and two mutexes, A and B, that the threads take in opposite
 * order: a design flaw. It attaches ITSELF to the HAM with a heartbeat (period 100 ms,
 * missed-low 3, missed-high 5) and beats from inside the inner locked section of each
 * thread's round, so a beat proves that a thread got through both locks.
 *
 * Until the race window opens (DEADLOCK_AFTER_MS, default 1000) the threads happen to run
 * their rounds one after the other; then they run at once, each takes its first lock,
 * and each waits for ever for the lock the other holds. The process stays alive and its
 * event loop idle, but no beat is sent any more: only the heartbeat shows that it is
 * stuck.
 *
 * The race bites once: a process that finds DIR/NAME.deadlocked (the mark the first run
 * leaves) keeps running its rounds one after the other, so a restarted worker keeps
 * beating and the example's timeline ends cleanly. (A real deadlock would come back, and
 * the HAM would kill and restart the process again.) A restarted worker attaches itself
 * again under the same name: the HAM accepts attach-self from the entity's current pid.
 *
 * What the worker does is appended to DIR/NAME.log (`<ms> <pid> <text>` lines). It exits
 * when its connection to the HAM ends.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env examples/workers/deadlocker.ts STATE_DIR [NAME] [DEADLOCK_AFTER_MS]
 *
 * @module
 */

import { Mutex, sleep, startWorker } from "./mutex.ts";

const { ham, note, firstRun: bites, mark, faultAt: raceAt } = await startWorker(
  Deno.args,
  {
    name: "mutex-deadlock",
    mark: "deadlocked",
    usage: "deadlocker.ts STATE_DIR [NAME] [DEADLOCK_AFTER_MS]",
  },
  (first, after) => first ? `the race window opens in ${after} ms` : "no race this time",
);

const a = new Mutex("A");
const b = new Mutex("B");
let beats = 0;

/** One thread's round: take `first`, work a little, take `second`, beat inside both. */
async function round(first: Mutex, second: Mutex): Promise<void> {
  await first.lock();
  await sleep(5);
  await second.lock();
  beats++;
  await ham.heartbeat();
  if (beats === 1 || beats % 20 === 0) note(`beat #${beats}`);
  second.unlock();
  first.unlock();
}

const thread1 = () => round(a, b);
const thread2 = () => round(b, a);

for (;;) {
  if (!bites || Date.now() < raceAt) {
    await thread1();
    await thread2();
    await sleep(10);
    continue;
  }
  note(`race window open: thread 1 takes A then B while thread 2 takes B then A (${beats} beats)`);
  const both = Promise.all([thread1(), thread2()]);
  await Promise.race([both, sleep(20)]);
  if (a.held && b.held) {
    mark();
    note("deadlocked: thread 1 holds A and waits for B, thread 2 holds B and waits for A");
  }
  await both; // never resolves: the threads wait for each other
}
