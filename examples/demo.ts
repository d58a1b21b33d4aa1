/**
 * The README demo: a HAM keeps two workers running. It starts a HAM on a temporary state
 * directory, has it start a ticker (examples/workers/ticker.ts, a tick line every 200 ms)
 * and a `/bin/sleep`, hangs a re-armed death condition with a restart and a log action on
 * each, kills the ticker with SIGKILL and follows the HAM's events until the ticker is
 * back with a new pid and ticking again, prints `hamctl status ticker` and what the log
 * action wrote, then stops the HAM, kills the workers and removes the directory. Prints a
 * timeline in ms; exits 0 when all of that happened, 1 when it did not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/demo.ts
 * (the same as `bin/deno task demo` and `npm run demo`)
 *
 * @module
 */

import { connect, type EntityHandle, type HamEvent, type HamView } from "../mod.ts";
import {
  BIN,
  describeEvent,
  ExampleHam,
  nextEvent,
  REPO,
  runCommand,
} from "./support/example_ham.ts";
import { runScenario, ScenarioError, type Timeline, within } from "./support/scenario.ts";

/** What the scenes share. */
export interface Demo {
  timeline: Timeline;
  h: ExampleHam;
  /** The file the ticker appends its ticks to. */
  ticks: string;
}

/** One tick line of the ticker: when, and which process wrote it. */
interface Tick {
  at: number;
  pid: number;
}

function readTicks(file: string): Tick[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  return text.split("\n").filter((l) => l !== "").map((l) => {
    const [at, pid] = l.split(" ");
    return { at: Number(at), pid: Number(pid) };
  });
}

/**
 * Waits (inotify, through `Deno.watchFs`) until `pid` has written `count` ticks; answers
 * its ticks.
 */
async function ticksOf(file: string, pid: number, count: number, ms: number): Promise<Tick[]> {
  const watcher = Deno.watchFs(file.slice(0, file.lastIndexOf("/")));
  try {
    return await within(
      (async () => {
        const mine = () => readTicks(file).filter((t) => t.pid === pid);
        if (mine().length >= count) return mine();
        for await (const _ of watcher) {
          if (mine().length >= count) return mine();
        }
        throw new ScenarioError(`The watch on "${file}" ended`);
      })(),
      ms,
      `${count} ticks from pid ${pid}`,
    );
  } finally {
    watcher.close();
  }
}

/** Has the HAM start `argv` as entity `name`, and restart it (and log) whenever it dies. */
async function supervise(
  demo: Demo,
  name: string,
  label: string,
  argv: string[],
): Promise<EntityHandle> {
  const { timeline, h } = demo;
  const e = await h.ham.attach(name, { argv });
  h.track(e.pid);
  timeline.mark(`attached "${name}": the HAM started ${label} as pid ${e.pid}`);
  const death = await e.condition("death", "death", { flags: ["rearm"] });
  await death.restart("restart", { flags: ["rearm"] });
  await death.log("note", `${name} died; restarting it`, { flags: ["rearm"] });
  timeline.mark(`added ${name}/death (rearm) with actions restart + log (rearm)`);
  return e;
}

/** Scene 1: the HAM starts two workers and is told to restart them when they die. */
async function startWorkers(demo: Demo): Promise<EntityHandle> {
  const { timeline, ticks } = demo;
  const ticker = await supervise(demo, "ticker", "examples/workers/ticker.ts", [
    `${BIN}/deno`,
    "run",
    "--allow-write",
    `${REPO}examples/workers/ticker.ts`,
    ticks,
  ]);
  await supervise(demo, "sleeper", "/bin/sleep 1000", ["/bin/sleep", "1000"]);
  const mine = await ticksOf(ticks, ticker.pid!, 3, 5_000);
  timeline.mark(
    `ticker (pid ${ticker.pid}) is ticking: first tick at +${timeline.rel(mine[0].at)} ms, ` +
      `${mine.length} ticks so far`,
  );
  return ticker;
}

/** Scene 2: kill the ticker; the HAM restarts it; it ticks again with a new pid. */
async function killAndRestart(demo: Demo, ticker: EntityHandle): Promise<void> {
  const { timeline, h, ticks } = demo;
  await using watcher = await connect({ stateDir: h.stateDir, client: "demo-watch" });
  const events = await watcher.subscribe({ entity: ticker.name });
  const oldPid = (await h.entity(ticker.name)).pid!;
  const killedAt = Date.now();
  Deno.kill(oldPid, "SIGKILL");
  timeline.mark(`kill -KILL ${oldPid} (ticker)`, killedAt);
  const seen = (ev: HamEvent) => timeline.mark(describeEvent(ev), ev.at);
  const restarted = await nextEvent(
    events,
    (ev) => ev.type === "restart",
    5_000,
    "the restart",
    seen,
  );
  const heardAt = Date.now();
  await nextEvent(events, (ev) => ev.action === "note", 5_000, "the log action", seen);
  const newPid = restarted.detail?.pid as number;
  h.track(newPid);
  timeline.mark(
    `kill -> restarted: ${Math.round(restarted.at - killedAt)} ms by the HAM's clock, ` +
      `${heardAt - killedAt} ms until this client was told`,
  );
  const lastOld = readTicks(ticks).filter((t) => t.pid === oldPid).at(-1)!;
  const mine = await ticksOf(ticks, newPid, 3, 5_000);
  timeline.mark(
    `ticker (pid ${newPid}) ticks again: kill -> first new tick ${mine[0].at - killedAt} ms ` +
      `(last tick of ${oldPid} at +${timeline.rel(lastOld.at)} ms, ` +
      `first of ${newPid} at +${timeline.rel(mine[0].at)} ms)`,
  );
  const after = await h.entity(ticker.name);
  timeline.check(newPid !== oldPid && after.pid === newPid, `a new pid (${oldPid} -> ${newPid})`);
  timeline.check(
    after.restarts === 1,
    `the ticker restarted once (Num Restarts: ${after.restarts})`,
  );
}

/** The beater's heartbeat: period 100 ms, missed-low after 3 empty periods, missed-high after 6. */
const BEATER_HB = { periodMs: 100, low: 3, high: 6 };

/**
 * Scene "missed heartbeat": a worker (examples/workers/beater.ts) attaches itself with a
 * heartbeat and beats every 25 ms. It hiccups (SIGUSR2: no beat for 450 ms): missed-low
 * fires and logs; it beats again, but the health stays latched at missed-low until an
 * acknowledgement (a raised condition) runs a heartbeat-healthy action. Then it hangs
 * (SIGHUP: alive, no beat): missed-low logs again (the latch was reset), missed-high
 * kills it, and the death restarts it; the new process attaches itself again and beats.
 */
async function missedHeartbeatScene(demo: Demo): Promise<void> {
  const { timeline, h } = demo;
  const name = "beater";
  const { periodMs, low, high } = BEATER_HB;
  await using watcher = await connect({ stateDir: h.stateDir, client: "demo-beats" });
  const events = await watcher.subscribe({ entity: name });
  const seen = (ev: HamEvent) =>
    timeline.mark(
      ev.type === "heartbeat"
        ? `HAM: "${name}" missed ${ev.detail?.missed} periods in a row: ${ev.detail?.condition}`
        : ev.type === "reattach"
        ? `HAM: "${name}" (pid ${ev.detail?.pid}) attached itself again`
        : describeEvent(ev),
      ev.at,
    );
  const worker = new Deno.Command(`${BIN}/deno`, {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      `${REPO}examples/workers/beater.ts`,
      h.stateDir,
      name,
    ],
    stdin: "null",
    stdout: "null",
  }).spawn();
  h.track(worker.pid);
  await nextEvent(events, (ev) => ev.type === "attach", 10_000, "the beater's attach-self", seen);
  const e = await h.ham.entityHandle(name);
  const rearm = { flags: ["rearm"] };
  const lowCond = await e.condition("missed-low", "hb-missed-low", rearm);
  await lowCond.log("note", `${name} missed ${low} heartbeats`, rearm);
  const ack = await e.conditionRaise("ack", { rtype: 1, flags: ["rearm"] });
  await ack.heartbeatHealthy("healthy", rearm);
  const highCond = await e.condition("missed-high", "hb-missed-high", rearm);
  await highCond.signal("kill", "SIGKILL", null, rearm);
  const death = await e.condition("death", "death", rearm);
  await death.restart("restart", rearm);
  timeline.mark(
    `"${name}" (pid ${worker.pid}) beats every 25 ms; heartbeat ${periodMs} ms, low ${low}, ` +
      `high ${high}: missed-low -> log, missed-high -> SIGKILL, death -> restart, ` +
      `raise type 1 -> heartbeat-healthy`,
  );
  const health = async () => (await h.entity(name)).heartbeat!;
  const until = (pred: (hb: Awaited<ReturnType<typeof health>>) => boolean, what: string) =>
    within(
      (async () => {
        for (let hb = await health();; hb = await health()) {
          if (pred(hb)) return hb;
          await new Promise((r) => setTimeout(r, periodMs / 2));
        }
      })(),
      5_000,
      what,
    );

  Deno.kill(worker.pid, "SIGUSR2");
  timeline.mark(`kill -USR2 ${worker.pid}: the beater hiccups (no beat for 450 ms)`);
  const isNote = (ev: HamEvent) => ev.type === "action" && ev.action === "note";
  await nextEvent(events, isNote, 5_000, "the missed-low log", seen);
  const latched = await until((hb) => hb.missed === 0, "the beats to resume");
  timeline.check(
    latched.health === "missed-low",
    `it beats again (missed ${latched.missed}) but the health stays latched: ${latched.health}`,
  );
  await h.ham.raise(name, { rtype: 1 });
  timeline.mark(`raised type 1 on "${name}" (the acknowledgement)`);
  await nextEvent(events, (ev) => ev.action === "healthy", 5_000, "heartbeat-healthy", seen);
  const reset = await health();
  timeline.check(reset.health === "healthy", `heartbeat-healthy reset the health: ${reset.health}`);

  const hungAt = Date.now();
  Deno.kill(worker.pid, "SIGHUP");
  timeline.mark(`kill -HUP ${worker.pid}: the beater hangs (alive, no more beats)`, hungAt);
  await nextEvent(events, isNote, 5_000, "the missed-low log, again", seen);
  await nextEvent(events, (ev) => ev.action === "kill", 5_000, "the kill", seen);
  const restarted = await nextEvent(events, (ev) => ev.type === "restart", 5_000, "restart", seen);
  const newPid = restarted.detail?.pid as number;
  h.track(newPid);
  await nextEvent(events, (ev) => ev.type === "reattach", 5_000, "the re-attach", seen);
  await worker.status;
  const beating = await until(
    (hb) => hb.lastBeat !== null && Date.parse(hb.lastBeat) > restarted.at + 2 * periodMs,
    `pid ${newPid} to beat`,
  );
  timeline.mark(
    `hang -> restarted: ${
      Math.round(restarted.at - hungAt)
    } ms (${high} periods of ${periodMs} ms)`,
  );
  // Beats again: healthy, and fewer empty periods in a row than missed-low needs (a loaded
  // machine can hold the new process past a period end before its first beats).
  timeline.check(
    newPid !== worker.pid && beating.health === "healthy" && beating.missed < low,
    `"${name}" is back as pid ${newPid} and beats (health ${beating.health}, missed ${beating.missed})`,
  );
}

/**
 * Scene "takeover": the HAM itself is killed (SIGKILL). Its Guardian takes over with the
 * exact state: the ticker keeps running with the same pid (it is not restarted), and a
 * later death of the ticker is still recovered by the new HAM.
 */
async function takeoverScene(demo: Demo): Promise<void> {
  const { timeline, h } = demo;
  const before = await h.ham.status() as HamView;
  const ticker = await h.entity("ticker");
  const oldHam = h.hamPid;
  const killedAt = Date.now();
  Deno.kill(oldHam, "SIGKILL");
  timeline.mark(
    `kill -KILL ${oldHam} (the HAM itself; its Guardian is ${before.guardianPid})`,
    killedAt,
  );
  const newHam = await h.reconnect(oldHam);
  timeline.mark(
    `the Guardian took over: HAM ${newHam} answers on the same socket, ${
      Date.now() - killedAt
    } ms after the kill`,
  );
  const after = await h.ham.status() as HamView;
  const same = await h.entity("ticker");
  timeline.check(
    same.pid === ticker.pid && same.restarts === ticker.restarts,
    `the ticker kept running through the takeover (pid ${same.pid}, not restarted)`,
  );
  timeline.check(
    after.hamFailures === before.hamFailures + 1,
    `status counts the HAM failure (Ham Failures: ${after.hamFailures})`,
  );
  const since = await h.nextSeq();
  Deno.kill(same.pid!, "SIGKILL");
  timeline.mark(`kill -KILL ${same.pid} (ticker), with the new HAM in charge`);
  await h.ham.wait("ticker", "restarted", { since, timeoutMs: 5_000 });
  const again = await h.entity("ticker");
  h.track(again.pid);
  timeline.check(
    again.pid !== same.pid && again.pid !== null,
    `the new HAM restarted the ticker (pid ${same.pid} -> ${again.pid})`,
  );
}

/**
 * ==== LATER SCENES GO HERE ====
 *
 * Scenes still to be written, run after the restart and before the status, in order:
 * - "takeover": kill the HAM itself; its Guardian takes over, and the ticker is still
 *   watched (kill it again: it comes back);
 * - "missed heartbeat" ({@linkcode missedHeartbeatScene}, written): a worker attached with a
 *   heartbeat stops beating; the HAM sees it miss, and restarts it.
 *
 * A scene takes the {@linkcode Demo}, prints its lines with `demo.timeline.mark()`, checks
 * with `demo.timeline.check()` (which throws when the scene did not behave), and is
 * added to this list. Keep the whole demo under 10 s.
 */
const LATER_SCENES: Array<(demo: Demo) => Promise<void>> = [
  takeoverScene,
  missedHeartbeatScene,
];

/** Runs the later scenes; see {@linkcode LATER_SCENES}. */
async function laterScenes(demo: Demo): Promise<void> {
  for (const scene of LATER_SCENES) await scene(demo);
}

/** Scene 4: what the HAM shows about the ticker (`hamctl status ticker`). */
async function showStatus(demo: Demo): Promise<void> {
  const { timeline, h } = demo;
  const status = await runCommand(`${BIN}/hamctl`, [
    "--state-dir",
    h.stateDir,
    "status",
    "ticker",
  ]);
  timeline.check(status.code === 0, "hamctl status answers");
  timeline.mark("hamctl --state-dir DIR status ticker:");
  timeline.block(status.stdout);
}

/** What the log actions wrote into the HAM's log (it detached, so that is DIR/ham.log). */
function showLog(demo: Demo): void {
  const lines = Deno.readTextFileSync(`${demo.h.stateDir}/ham.log`).split("\n")
    .filter((l) => l.includes("died"));
  demo.timeline.mark("the log action's lines in DIR/ham.log:");
  demo.timeline.block(lines.join("\n"));
}

if (import.meta.main) {
  await runScenario("ham demo: a killed worker comes back", async (timeline) => {
    await using h = await ExampleHam.start(timeline);
    const demo: Demo = { timeline, h, ticks: `${h.stateDir}/ticks.log` };
    const ticker = await startWorkers(demo);
    await killAndRestart(demo, ticker);
    await laterScenes(demo);
    await showStatus(demo);
    await h.stop();
    showLog(demo);
  });
}
