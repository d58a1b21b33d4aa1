/**
 * An engine on a fake clock, fake processes and an in-memory store, with entity `app`
 * (pid 700) self-attached and heartbeating every 10 ms (missed-low 2, missed-high 4): the
 * start of the engine's heartbeat tests.
 *
 * @module
 */

import { Engine } from "../../lib/engine/engine.ts";
import { memoryLogger } from "../../lib/os/logger.ts";
import { FakeClock } from "./fake_clock.ts";
import { FakeProcesses } from "./fake_processes.ts";
import { MemoryStore } from "./memory_store.ts";

/** The engine and its fakes. */
export interface SelfAttached {
  clock: FakeClock;
  procs: FakeProcesses;
  store: MemoryStore;
  engine: Engine;
}

/** Builds the engine and self-attaches `app` as pid 700 with its heartbeat. */
export async function selfAttachedEngine(): Promise<SelfAttached> {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const engine = new Engine({ store, processes: procs, clock, log: memoryLogger(0) });
  procs.addProcess(700, { argv: ["app"] });
  await engine.attach({
    entity: "app",
    argv: null,
    pid: 700,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: { periodMs: 10, low: 2, high: 4 },
    kind: "self",
  });
  return { clock, procs, store, engine };
}
