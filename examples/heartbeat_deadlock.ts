/**
 * Heartbeat deadlock, after QNX's example 5 ("the process is made to heartbeat"): a
 * process (examples/workers/deadlocker.ts) has two threads that take two mutexes in
 * opposite order, and after about 1 s they deadlock. The process does not die, so death
 * monitoring sees nothing; but it attached itself with a heartbeat (`attachSelf(
 * "mutex-deadlock", { heartbeat: { periodMs: 100, low: 3, high: 5 } })`, far below QNX's
 * 1 s minimum) and beats from inside its locked sections, so the HAM sees the beats stop.
 *
 * This program configures the HAM: `hb-missed-low` → a log action (early warning);
 * `hb-missed-high` → an execute action that saves the process's state for a post-mortem
 * (`/proc/$HAM_PID/status`, its threads' wait channels and open files, into
 * DIR/postmortem-PID.txt) and then a SIGKILL signal action; `death` → restart. It follows
 * the HAM's events and prints the timeline: beats, the deadlock, missed-low logged,
 * missed-high post-mortem saved and killed, restarted with a new pid, which attaches
 * itself again under the same name and beats. Exits 0 when all of that happened, 1 when
 * it did not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/heartbeat_deadlock.ts
 *
 * @module
 */

import { connect, type Ham, type HamEvent } from "../mod.ts";
import { BIN, describeEvent, ExampleHam, nextEvent, REPO } from "./support/example_ham.ts";
import { runScenario, ScenarioError, type Timeline, within } from "./support/scenario.ts";

/** The heartbeat of both heartbeat examples' workers (QNX uses 1 s, 5, 5). */
export const HEARTBEAT = { periodMs: 100, low: 3, high: 5 } as const;

/** The permissions of the workers' run lines: the HAM's socket and state directory. */
const WORKER_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env"];

/**
 * The post-mortem, as `sh -c SCRIPT post-mortem DIR`: the execute action runs it with the
 * entity's pid in `HAM_PID`. It writes a temporary file and renames it, so a reader never
 * sees half a dump.
 */
const POSTMORTEM = `out="$1/postmortem-$HAM_PID.txt"
{
  echo "post-mortem of $HAM_ENTITY (pid $HAM_PID) by $HAM_CONDITION/$HAM_ACTION at $(date +%T.%N)"
  cat "/proc/$HAM_PID/status"
  for t in /proc/$HAM_PID/task/*; do
    echo "thread \${t##*/} $(cat "$t/comm") wchan=$(cat "$t/wchan")"
  done
  ls -l "/proc/$HAM_PID/fd"
} >"$out.tmp" 2>&1
mv "$out.tmp" "$out"`;

/** What tells the story of one heartbeat example. */
export interface HeartbeatStory {
  /** The entity the worker attaches itself as. */
  entity: string;
  /** The worker, a file of examples/workers/. */
  worker: string;
  /** The worker's log line that says the trouble began (deadlock, starvation). */
  trouble: RegExp;
  /** What the trouble is called on the timeline. */
  troubleName: string;
}

/**
 * Configures the HAM for a heartbeating entity: missed-low logs; missed-high saves a
 * post-mortem into `dir` and kills; death restarts. Everything is re-armed, so it holds
 * for the restarted process too.
 */
export async function superviseHeartbeat(ham: Ham, name: string, dir: string): Promise<void> {
  const rearm = { flags: ["rearm"] };
  const e = await ham.entityHandle(name);
  const low = await e.condition("missed-low", "hb-missed-low", rearm);
  await low.log("note", `"${name}" missed ${HEARTBEAT.low} heartbeats in a row`, rearm);
  const high = await e.condition("missed-high", "hb-missed-high", rearm);
  await high.execute("post-mortem", ["/bin/sh", "-c", POSTMORTEM, "post-mortem", dir], rearm);
  await high.signal("kill", "SIGKILL", null, rearm);
  const death = await e.condition("death", "death", rearm);
  await death.restart("restart", rearm);
}

/** The worker's log file (`<ms> <pid> <text>` lines), put on the timeline as it grows. */
class WorkerLog {
  readonly file: string;
  readonly lines: Array<{ at: number; pid: number; text: string }> = [];
  #timeline: Timeline;

  constructor(file: string, timeline: Timeline) {
    this.file = file;
    this.#timeline = timeline;
  }

  /** Reads what the workers wrote since the last call and prints it. */
  flush(): void {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.file);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const all = text.split("\n").filter((l) => l !== "");
    for (const line of all.slice(this.lines.length)) {
      const [at, pid, ...rest] = line.split(" ");
      const entry = { at: Number(at), pid: Number(pid), text: rest.join(" ") };
      this.lines.push(entry);
      this.#timeline.mark(`worker ${entry.pid}: ${entry.text}`, entry.at);
    }
  }
}

/** One HAM event of a heartbeat story as a line of the timeline. */
function describe(ev: HamEvent): string {
  const d = ev.detail ?? {};
  if (ev.type === "heartbeat") {
    return `HAM: "${ev.entity}" missed ${d.missed} periods in a row: ${d.condition}`;
  }
  if (ev.type === "reattach") return `HAM: "${ev.entity}" (pid ${d.pid}) attached itself again`;
  return describeEvent(ev);
}

/** Waits until `pred` holds for the entity's status, polling it (with a deadline). */
async function statusUntil(
  h: ExampleHam,
  name: string,
  pred: (e: Awaited<ReturnType<ExampleHam["entity"]>>) => boolean,
  ms: number,
  what: string,
) {
  return await within(
    (async () => {
      for (;;) {
        const e = await h.entity(name);
        if (pred(e)) return e;
        await new Promise((r) => setTimeout(r, HEARTBEAT.periodMs / 2));
      }
    })(),
    ms,
    what,
  );
}

/** Runs a heartbeat story on a HAM of its own; see the module documentation. */
export async function runHeartbeatStory(tl: Timeline, story: HeartbeatStory): Promise<void> {
  const { entity } = story;
  const { periodMs, low, high } = HEARTBEAT;
  await using h = await ExampleHam.start(tl);
  const log = new WorkerLog(`${h.stateDir}/${entity}.log`, tl);
  await using watcher = await connect({ stateDir: h.stateDir, client: "watch" });
  const events = await watcher.subscribe({ entity });
  const seen: HamEvent[] = [];
  const show = (ev: HamEvent) => {
    seen.push(ev);
    log.flush();
    tl.mark(describe(ev), ev.at);
  };

  const child = new Deno.Command(`${BIN}/deno`, {
    args: ["run", ...WORKER_PERMISSIONS, `${REPO}examples/workers/${story.worker}`, h.stateDir],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const firstPid = child.pid;
  h.track(firstPid);
  tl.mark(`started examples/workers/${story.worker} as pid ${firstPid}`);
  await nextEvent(events, (ev) => ev.type === "attach", 10_000, "the attach-self", show);
  await superviseHeartbeat(h.ham, entity, h.stateDir);
  tl.mark(
    `configured ${entity}: missed-low (hb-missed-low) -> log; ` +
      `missed-high (hb-missed-high) -> execute post-mortem, signal SIGKILL; death -> restart`,
  );

  const attached = await h.entity(entity);
  tl.check(
    attached.type === "ATTACHEDSELF" && attached.heartbeat?.periodMs === periodMs &&
      attached.heartbeat.low === low && attached.heartbeat.high === high,
    `"${entity}" is ATTACHEDSELF with heartbeat ${periodMs} ms, low ${low}, high ${high}`,
  );

  await nextEvent(events, (ev) => ev.type === "heartbeat", 10_000, "missed-low", show);
  // Read at once, before missed-high: the latched health and when the last beat came.
  const atLow = await h.entity(entity);
  const readAt = Date.now();
  const lastBeat = atLow.heartbeat?.lastBeat ?? "";
  tl.mark(
    `status: missed ${atLow.heartbeat?.missed}, health ${atLow.heartbeat?.health}, ` +
      `last beat at +${tl.rel(Date.parse(lastBeat))} ms`,
  );
  const reattach = await nextEvent(
    events,
    (ev) => ev.type === "reattach",
    10_000,
    "the restarted worker's attach-self",
    show,
  );
  await within(child.status, 5_000, "the killed worker to be reaped");

  const find = (pred: (ev: HamEvent) => boolean, what: string): HamEvent => {
    const ev = seen.find(pred);
    if (!ev) throw new ScenarioError(`Expected an event: ${what}`);
    return ev;
  };
  const trouble = log.lines.find((l) => story.trouble.test(l.text));
  if (!trouble) throw new ScenarioError(`Expected the worker to log its ${story.troubleName}`);
  const lowEv = find((ev) => ev.detail?.condition === "hb-missed-low", "hb-missed-low");
  const highEv = find((ev) => ev.detail?.condition === "hb-missed-high", "hb-missed-high");
  const noted = find((ev) => ev.type === "action" && ev.action === "note", "the log action");
  const dumped = find((ev) => ev.type === "action" && ev.action === "post-mortem", "post-mortem");
  const killed = find((ev) => ev.type === "action" && ev.action === "kill", "the kill");
  const death = find((ev) => ev.type === "death", "the death");
  const restart = find((ev) => ev.type === "restart", "the restart");
  const newPid = restart.detail?.pid as number;
  h.track(newPid);

  tl.check(
    lowEv.detail?.missed === low && highEv.detail?.missed === high,
    `hb-missed-low fired at ${low} missed periods, hb-missed-high at ${high}`,
  );
  // On a starved machine the read can come after missed-high fired (the thresholds are
  // 200 ms apart): then the status shows that, latched as well.
  const readLate = highEv.at <= readAt;
  tl.check(
    (atLow.heartbeat?.health === "missed-low" && atLow.heartbeat.missed >= low) ||
      (readLate && atLow.heartbeat?.health === "missed-high" && atLow.heartbeat.missed >= high),
    `status showed health ${
      readLate ? "missed-high (read after it fired)" : "missed-low"
    } (latched) after the low threshold`,
  );
  const beatToHigh = Math.round(highEv.at - Date.parse(lastBeat));
  tl.mark(
    `${story.troubleName} at +${tl.rel(trouble.at)} ms; last beat +${
      tl.rel(Date.parse(lastBeat))
    } ms; missed-high ${beatToHigh} ms after the last beat ` +
      `(${high} empty periods of ${periodMs} ms, quantized: ${high * periodMs}-${
        (high + 1) * periodMs
      } ms)`,
  );
  tl.check(
    beatToHigh >= (high - 1) * periodMs && beatToHigh <= (high + 1) * periodMs + 500,
    `missed-high came about ${high} to ${high + 1} periods after the last beat`,
  );
  const order = [lowEv, noted, highEv, dumped, killed, death, restart, reattach];
  tl.check(
    order.every((ev, i) => i === 0 || ev.seq > order[i - 1].seq) &&
      [noted, dumped, killed].every((ev) => ev.detail?.ok === true),
    "in order: missed-low -> log, missed-high -> post-mortem -> SIGKILL, death -> restart -> re-attach",
  );
  tl.check(
    death.detail?.pid === firstPid && newPid !== firstPid && reattach.detail?.pid === newPid,
    `the restarted worker has a new pid (${firstPid} -> ${newPid}) and attached itself again`,
  );

  const dump = Deno.readTextFileSync(`${h.stateDir}/postmortem-${firstPid}.txt`).split("\n");
  tl.check(
    dump.some((l) => /^State:/.test(l)) && dump.some((l) => l.startsWith("thread ")),
    `post-mortem saved in DIR/postmortem-${firstPid}.txt (${dump.length} lines)`,
  );
  tl.block(
    dump.filter((l) => /^(post-mortem|Name|State|Threads|VmRSS|thread )/.test(l)).join("\n"),
  );

  const healthy = await statusUntil(
    h,
    entity,
    (e) =>
      e.pid === newPid && e.heartbeat?.health === "healthy" && e.heartbeat.missed === 0 &&
      e.heartbeat.lastBeat !== null &&
      Date.parse(e.heartbeat.lastBeat) > reattach.at + 2 * periodMs,
    5_000,
    `pid ${newPid} to beat`,
  );
  log.flush();
  tl.check(
    healthy.restarts === 1 && healthy.type === "ATTACHEDSELF",
    `pid ${newPid} beats: health ${healthy.heartbeat?.health}, missed ${healthy.heartbeat?.missed}, ` +
      `Num Restarts: ${healthy.restarts}`,
  );
  const status = await h.ctl("status", entity);
  tl.mark(`hamctl status ${entity} (the entity's lines; its conditions follow them):`);
  tl.block(status.stdout.split("\n\n")[0]);
  await h.stop();
  const noteLines = Deno.readTextFileSync(`${h.stateDir}/ham.log`).split("\n")
    .filter((l) => l.includes(`${entity}/missed-low/note`));
  tl.mark("the log action's line in DIR/ham.log:");
  tl.block(noteLines.join("\n"));
}

if (import.meta.main) {
  await runScenario(
    "heartbeat deadlock (QNX example 5): two threads deadlock; the HAM kills and restarts",
    (tl) =>
      runHeartbeatStory(tl, {
        entity: "mutex-deadlock",
        worker: "deadlocker.ts",
        trouble: /^deadlocked/,
        troubleName: "deadlock",
      }),
  );
}
