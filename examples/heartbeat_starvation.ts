/**
 * Heartbeat starvation, after QNX's example 6 ("thread 2 is made to heartbeat"): a
 * process (examples/workers/starver.ts) has two threads that loop on the same mutex.
 * Thread 1, the high-priority one, works with the lock held; thread 2 takes it for a short
 * step and is the ONLY one that heartbeats, from inside its loop. After about 1 s thread 1
 * turns greedy and takes the lock back every time before thread 2 can: thread 2 starves.
 * The process is alive, its event loop free and thread 1 busy, so neither death
 * monitoring nor a liveness probe would notice; but thread 2's beats stop, and the HAM
 * sees it.
 *
 * The setup is example 5's (see heartbeat_deadlock.ts): self-attached as
 * "mutex-starvation" with a heartbeat of 100 ms, low 3, high 5; `hb-missed-low` → log;
 * `hb-missed-high` → execute a post-mortem into DIR/postmortem-PID.txt, then SIGKILL;
 * `death` → restart; the restarted process attaches itself again and beats. Prints the
 * timeline; exits 0 when all of that happened, 1 when it did not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/heartbeat_starvation.ts
 *
 * @module
 */

import { runHeartbeatStory } from "./heartbeat_deadlock.ts";
import { runScenario } from "./support/scenario.ts";

if (import.meta.main) {
  await runScenario(
    "heartbeat starvation (QNX example 6): thread 2 starves; the HAM kills and restarts",
    (tl) =>
      runHeartbeatStory(tl, {
        entity: "mutex-starvation",
        worker: "starver.ts",
        trouble: /^thread 1 turns greedy/,
        troubleName: "starvation",
      }),
  );
}
