/**
 * Heartbeats end to end (QNX §3): real `ham`, `hamctl` and worker processes. Missed-low and
 * missed-high fire once each at their period counts and latch; a blocked event loop is
 * caught within high periods plus one of quantization; a death while self-attached fires
 * `death`; heartbeat-healthy resets the latch; and a shell script can heartbeat through
 * `hamctl`.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { HamClient } from "../../lib/client/client.ts";
import { connect } from "../../lib/client/ham.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import type { EntityView } from "../../lib/core/status_view.ts";
import { alive, BIN, deadline, HamProcess } from "../support/ham_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WORKER_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env"];
/** The heartbeat of examples/workers/beater.ts. */
const BEATER = { periodMs: 100, low: 3, high: 6 };

/** A worker process whose stdout is read a line at a time. */
class Worker implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  #lines: AsyncIterator<string>;

  constructor(ham: HamProcess, args: string[]) {
    this.child = new Deno.Command(args[0], {
      args: args.slice(1),
      env: { HAM_STATE_DIR: ham.stateDir },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      lineSplitter(),
    )[Symbol.asyncIterator]();
  }

  /** `examples/workers/beater.ts DIR NAME`: self-attached, beats every 25 ms (see there). */
  static beater(ham: HamProcess, name: string): Worker {
    return new Worker(ham, [
      `${BIN}/deno`,
      "run",
      ...WORKER_PERMISSIONS,
      `${ROOT}examples/workers/beater.ts`,
      ham.stateDir,
      name,
    ]);
  }

  /** A TypeScript program run with `deno eval`; `HAM` is the URL of lib/client/ham.ts. */
  static script(ham: HamProcess, code: string): Worker {
    const prelude =
      `const HAM = ${JSON.stringify(new URL("../../lib/client/ham.ts", import.meta.url))};` +
      `const DIR = ${JSON.stringify(ham.stateDir)};`;
    return new Worker(ham, [`${BIN}/deno`, "eval", "--ext=ts", prelude + code]);
  }

  /** A shell script (`sh -c`), with `$HAMCTL` the path of bin/hamctl. */
  static shell(ham: HamProcess, script: string): Worker {
    return new Worker(ham, ["/bin/sh", "-c", `HAMCTL=${BIN}/hamctl; ${script}`]);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The next line the worker prints, within `ms`. */
  async line(ms = 10_000): Promise<string> {
    const r = await deadline(this.#lines.next(), ms, "a line from the worker");
    if (r.done) throw new Error("The worker ended its output");
    return r.value;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#lines.return?.();
    await this.child.status;
  }
}

function lineSplitter(): TransformStream<string, string> {
  let partial = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      for (const p of parts) controller.enqueue(p);
    },
  });
}

/** Events with `seq >= since`, of one entity. */
async function eventsOf(ham: HamProcess, entity: string, since: number): Promise<HamEvent[]> {
  const r = await ham.ok("events", "--since", String(since), "--entity", entity, "--json");
  return r.events;
}

/** The `heartbeat` events (a missed-low or missed-high crossing) among `events`. */
function crossings(events: HamEvent[]): Array<{ condition: string; missed: number; ev: HamEvent }> {
  return events.filter((e) => e.type === "heartbeat").map((ev) => ({
    condition: String(ev.detail?.condition),
    missed: Number(ev.detail?.missed),
    ev,
  }));
}

/** Polls the entity's status (over one connection) until `pred` holds. */
async function statusUntil(
  client: HamClient,
  name: string,
  pred: (e: EntityView) => boolean,
  what: string,
  ms = 10_000,
): Promise<EntityView> {
  return await deadline(
    (async () => {
      for (;;) {
        const e = await client.request("status", { path: name }) as EntityView;
        if (pred(e)) return e;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    ms,
    what,
  );
}

Deno.test(
  "a self-attached process that stops beating fires hb-missed-low then hb-missed-high at their counts",
  async () => {
    await using ham = await HamProcess.start();
    await using client = await ham.client();
    let since = await ham.seq();
    await using worker = Worker.beater(ham, "hb");
    await ham.waitEvent("hb", "running", since);
    await ham.ok("condition", "hb/low", "hb-missed-low");
    await ham.ok("action", "hb/low/note", "log", "--message", "hb missed low");
    await ham.ok("condition", "hb/high", "hb-missed-high");
    await ham.ok("action", "hb/high/note", "log", "--message", "hb missed high");
    const beating = await statusUntil(
      client,
      "hb",
      (e) => e.heartbeat?.lastBeat !== null,
      "a first beat",
    );
    assertEquals(beating.type, "ATTACHEDSELF");
    assertEquals(beating.heartbeat?.health, "healthy");
    assertEquals(beating.heartbeat?.missed, 0);

    since = await ham.seq();
    const hungAt = Date.now();
    Deno.kill(worker.pid, "SIGHUP"); // alive, but no more beats
    await ham.waitEvent("hb", "hb-missed-high", since);
    const events = await eventsOf(ham, "hb", since);
    const hb = crossings(events);
    assertEquals(hb.map((c) => [c.condition, c.missed]), [
      ["hb-missed-low", BEATER.low],
      ["hb-missed-high", BEATER.high],
    ]);
    const [low, high] = hb.map((c) => c.ev);
    assert(low.seq < high.seq);
    // Both crossings are period ends of the same clock: exactly high - low periods apart
    // (the events' own times add the timer's lateness, which a busy machine stretches).
    const [lowEnd, highEnd] = [low, high].map((e) => Number(e.detail?.periodEnd));
    assertEquals(highEnd - lowEnd, (BEATER.high - BEATER.low) * BEATER.periodMs);
    // The last beat fell in the period before the `low` empty ones: missed-low is the end
    // of the low-th period after it, and the beat came before the hang.
    const lastBeat = Number(low.detail?.lastBeat);
    assertEquals(high.detail?.lastBeat, lastBeat);
    const sinceBeat = lowEnd - lastBeat;
    assert(
      sinceBeat > BEATER.low * BEATER.periodMs && sinceBeat <= (BEATER.low + 1) * BEATER.periodMs,
      `last beat -> missed-low period end ${sinceBeat} ms`,
    );
    assert(lowEnd > hungAt, `missed-low's period ends after the hang (${lowEnd - hungAt} ms)`);
    // Each condition fired once and ran its action, in seq order after its crossing.
    const fired = events.filter((e) => e.type === "condition").map((e) => [e.condition, e.seq]);
    assertEquals(fired.map(([c]) => c), ["hb/low", "hb/high"]);
    assert((fired[0][1] as number) > low.seq && (fired[1][1] as number) > high.seq);

    // Latched: more empty periods fire nothing more; the count goes on.
    const later = await statusUntil(
      client,
      "hb",
      (e) => (e.heartbeat?.missed ?? 0) >= BEATER.high + 2,
      "two more missed periods",
    );
    assertEquals(later.heartbeat?.health, "missed-high");
    const st = await ham.ok("status", "hb", "--json");
    assertEquals(st.heartbeat.health, "missed-high");
    assert(st.heartbeat.missed >= BEATER.high + 2);
    assertEquals(crossings(await eventsOf(ham, "hb", since)).length, 2);
    assertEquals(st.conditions.map((c: { fired: number }) => c.fired), [1, 1]);
    assert(alive(worker.pid), "missing beats alone do not kill");
  },
);

Deno.test(
  "a process whose event loop is blocked is caught within high periods plus one",
  async () => {
    await using ham = await HamProcess.start();
    await using lib = await connect({ stateDir: ham.stateDir });
    const since = await ham.seq();
    const [periodMs, high] = [100, 4];
    await using worker = Worker.script(
      ham,
      `const { connect } = await import(HAM);
      const ham = await connect({ stateDir: DIR });
      await ham.attachSelf("busy", { heartbeat: { periodMs: ${periodMs}, low: 2, high: ${high} } });
      for (let i = 0; i < 20; i++) {
        await ham.heartbeat();
        await new Promise((r) => setTimeout(r, 20));
      }
      await ham.heartbeat();
      console.log("blocking " + Date.now());
      for (;;) { /* busy: no beat, no timer, no read of the socket */ }`,
    );
    await lib.wait("busy", "running", { since });
    await (await lib.entityHandle("busy")).condition("high", "hb-missed-high");
    const [, at] = (await worker.line()).split(" ");
    const blockedAt = Number(at);
    await ham.waitEvent("busy", "hb-missed-high", since);
    const hb = crossings(await eventsOf(ham, "busy", since));
    assertEquals(hb.map((c) => [c.condition, c.missed]), [
      ["hb-missed-low", 2],
      ["hb-missed-high", high],
    ]);
    // The last beat falls in some period; the `high` empty periods after it end more than
    // high and at most (high + 1) periods after it (the period end itself: the event's own
    // time adds the timer's lateness on a busy machine). The beat came before the block.
    const caughtAt = Number(hb[1].ev.detail?.periodEnd);
    const lastBeat = Number(hb[1].ev.detail?.lastBeat);
    const caught = caughtAt - lastBeat;
    assert(
      caught > high * periodMs && caught <= (high + 1) * periodMs,
      `last beat -> missed-high period end ${caught} ms (period ${periodMs} ms, high ${high})`,
    );
    assert(caughtAt > blockedAt, `missed-high's period ends after the block`);
    assert(alive(worker.pid));
  },
);

Deno.test("a self-attached process killed with SIGKILL fires its death", async () => {
  await using ham = await HamProcess.start();
  let since = await ham.seq();
  await using worker = Worker.beater(ham, "victim");
  await ham.waitEvent("victim", "running", since);
  await ham.ok("condition", "victim/death", "death");
  await ham.ok("action", "victim/death/note", "log", "--message", "victim died");
  since = await ham.seq();
  worker.child.kill("SIGKILL");
  await ham.waitEvent("victim", "death", since); // the death condition fired
  await ham.waitEvent("victim", "detached", since);
  const events = await eventsOf(ham, "victim", since);
  const death = events.find((e) => e.type === "death");
  assertEquals(death?.detail?.pid, worker.pid);
  assert(events.some((e) => e.type === "action" && e.action === "note" && e.detail?.ok));
  assertEquals((await ham.ctl("status", "victim", "--json")).code, 5, "removed: not restarted");
});

Deno.test(
  "a self-attached process killed and restarted attaches itself again and is not killed twice",
  async () => {
    await using ham = await HamProcess.start();
    await using client = await ham.client();
    let since = await ham.seq();
    await using worker = Worker.beater(ham, "phoenix");
    await ham.waitEvent("phoenix", "running", since);
    await ham.ok("condition", "phoenix/death", "death", "--rearm");
    await ham.ok("action", "phoenix/death/restart", "restart", "--rearm");
    await ham.ok("condition", "phoenix/high", "hb-missed-high", "--rearm");
    await ham.ok("action", "phoenix/high/dump", "execute", "--rearm", "--", "/bin/true");
    await ham.ok("action", "phoenix/high/kill", "signal", "--signal", "SIGKILL", "--rearm");
    since = await ham.seq();
    // The HAM learns of the death twice, through the pidfd and through the connection's
    // end, in either order: only the first counts, the second must not hit the new pid.
    Deno.kill(worker.pid, "SIGHUP"); // hangs: missed-high kills it
    await ham.waitEvent("phoenix", "restarted", since);
    // A restart resets lastBeat to the restart time, so wait for the re-attach first and
    // then for a beat after it.
    const again = await ham.nextEvent(
      (ev) => ev.entity === "phoenix" && ev.type === "reattach",
      since,
      "the restarted process to attach itself again",
    );
    const back = await statusUntil(
      client,
      "phoenix",
      (e) => e.pid === again.detail?.pid && Date.parse(e.heartbeat?.lastBeat ?? "0") > again.at,
      "the restarted process to beat",
    );
    const events = await eventsOf(ham, "phoenix", since);
    assertEquals(events.filter((e) => e.type === "death").map((e) => e.detail?.pid), [worker.pid]);
    assertEquals(events.filter((e) => e.type === "reattach").map((e) => e.detail?.pid), [back.pid]);
    assertEquals([back.deaths, back.restarts, back.type], [1, 1, "ATTACHEDSELF"]);
    assert(alive(back.pid!));
  },
);

Deno.test(
  "a self-attached process that drops its connection without detaching is dead to the HAM",
  async () => {
    await using ham = await HamProcess.start();
    const since = await ham.seq();
    await using worker = Worker.script(
      ham,
      `const { connect } = await import(HAM);
      const ham = await connect({ stateDir: DIR });
      await ham.attachSelf("quitter", { heartbeat: { periodMs: 100, low: 2, high: 4 } });
      await ham.heartbeat();
      ham.close();
      console.log("closed");
      setInterval(() => {}, 1000);`,
    );
    assertEquals(await worker.line(), "closed");
    await ham.waitEvent("quitter", "dead", since);
    const events = await eventsOf(ham, "quitter", since);
    assertEquals(events.find((e) => e.type === "death")?.detail?.pid, worker.pid);
    assert(crossings(events).length === 0, "a dead entity's heartbeat is not watched");
    assert(alive(worker.pid), "the HAM only noted the death; the process lives on");
  },
);

Deno.test(
  "heartbeat() with reply false keeps an entity healthy, and reports a refused beat at the next call",
  async () => {
    await using ham = await HamProcess.start();
    await using client = await ham.client();
    const since = await ham.seq();
    await using worker = Worker.script(
      ham,
      `const { connect } = await import(HAM);
      const ham = await connect({ stateDir: DIR });
      await ham.attachSelf("quiet", { heartbeat: { periodMs: 100, low: 2, high: 4 } });
      // A beat of an entity that does not exist: refused, reported at the next call.
      await ham.heartbeat("no-such-entity", { reply: false });
      await ham.client.request("ping"); // answered after the refusal
      try {
        await ham.heartbeat(undefined, { reply: false });
        console.log("not refused");
      } catch (err) {
        console.log("refused " + err.code);
      }
      await ham.heartbeat(undefined, { reply: false });
      console.log("next beat taken");
      let go = true;
      Deno.addSignalListener("SIGHUP", () => void (go = false));
      const timer = setInterval(() => {
        if (go) ham.heartbeat(undefined, { reply: false }).catch((e) => console.log(e.code));
      }, 20);
      console.log("beating");
      await new Promise((r) => Deno.addSignalListener("SIGTERM", r));
      clearInterval(timer);`,
    );
    assertEquals(await worker.line(), "refused ENOENT");
    assertEquals(await worker.line(), "next beat taken");
    assertEquals(await worker.line(), "beating");
    const beating = await statusUntil(
      client,
      "quiet",
      (e) => e.heartbeat?.lastBeat !== null,
      "a first beat",
    );
    assertEquals(beating.heartbeat?.health, "healthy");
    // Beats without replies count: a few periods in, nothing was missed.
    const t0 = Date.now();
    await statusUntil(client, "quiet", () => Date.now() - t0 >= 500, "5 periods");
    assertEquals(crossings(await eventsOf(ham, "quiet", since)), []);
    const next = await ham.seq();
    Deno.kill(worker.pid, "SIGHUP"); // no more beats
    await statusUntil(client, "quiet", (e) => e.heartbeat?.health === "missed-high", "missed");
    assertEquals(crossings(await eventsOf(ham, "quiet", next)).map((c) => c.condition), [
      "hb-missed-low",
      "hb-missed-high",
    ]);
  },
);

Deno.test("a heartbeat-healthy action resets the latched health", async () => {
  await using ham = await HamProcess.start();
  await using client = await ham.client();
  let since = await ham.seq();
  await using worker = Worker.beater(ham, "hic");
  await ham.waitEvent("hic", "running", since);
  await ham.ok("condition", "hic/low", "hb-missed-low", "--rearm");
  await ham.ok("action", "hic/low/note", "log", "--message", "hic missed low", "--rearm");
  await ham.ok("condition", "hic/ack", "raise", "--type", "1", "--rearm");
  await ham.ok("action", "hic/ack/healthy", "heartbeat-healthy", "--rearm");
  await statusUntil(client, "hic", (e) => e.heartbeat?.lastBeat !== null, "a first beat");

  /** A 450 ms hiccup (SIGUSR2): at least 3 empty periods, fewer than 6. */
  const hiccup = async () => {
    Deno.kill(worker.pid, "SIGUSR2");
    await statusUntil(client, "hic", (e) => e.heartbeat!.missed >= BEATER.low, "3 misses");
    return await statusUntil(client, "hic", (e) => e.heartbeat!.missed === 0, "beats again");
  };

  since = await ham.seq();
  const first = await hiccup();
  assertEquals(first.heartbeat?.health, "missed-low", "latched after the beats resumed");
  assertEquals(crossings(await eventsOf(ham, "hic", since)).map((c) => c.condition), [
    "hb-missed-low",
  ]);

  since = await ham.seq();
  const second = await hiccup();
  assertEquals(second.heartbeat?.health, "missed-low");
  assertEquals(crossings(await eventsOf(ham, "hic", since)), [], "latched: no second firing");

  since = await ham.seq();
  await ham.ok("raise", "hic", "--type", "1");
  await ham.waitEvent("hic", "raise", since);
  const reset = await statusUntil(
    client,
    "hic",
    (e) => e.heartbeat?.health === "healthy",
    "the heartbeat-healthy action",
  );
  assertEquals(reset.heartbeat?.missed, 0);

  since = await ham.seq();
  await hiccup();
  await ham.waitEvent("hic", "hb-missed-low", since);
  assertEquals(crossings(await eventsOf(ham, "hic", since)).map((c) => c.condition), [
    "hb-missed-low",
  ]);
  const st = await ham.ok("status", "hic", "--json");
  assertEquals(st.conditions.find((c: { path: string }) => c.path === "hic/low").fired, 2);
});

Deno.test(
  "hamctl attach --pid --heartbeat and a hamctl heartbeat loop keep a shell script healthy",
  async () => {
    await using ham = await HamProcess.start();
    await using client = await ham.client();
    const stop = `${ham.stateDir}/stop-beating`;
    // Two loops, so that one slow hamctl start leaves no empty period.
    await using script = Worker.shell(
      ham,
      `"$HAMCTL" attach sh-hb --pid $$ --heartbeat 1s --low 2 --high 3 >/dev/null || exit 1
      echo attached
      beat() { while [ ! -e "${stop}" ]; do "$HAMCTL" heartbeat sh-hb || exit 1; done; }
      beat & beat &
      wait
      echo stopped
      exec sleep 1000`,
    );
    assertEquals(await script.line(), "attached");
    await ham.ok("condition", "sh-hb/high", "hb-missed-high");
    const since = await ham.seq();
    // Three periods of beats from the shell: no miss. (Periods of 1 s: a busy machine may
    // take most of a second to start one hamctl.)
    const start = Date.now();
    const healthy = await statusUntil(
      client,
      "sh-hb",
      (e) => Date.parse(e.heartbeat?.lastBeat ?? "0") > start + 3000,
      "three seconds of beats",
    );
    assertEquals(healthy.pid, script.pid);
    assertEquals(healthy.heartbeat?.health, "healthy");
    assertEquals(crossings(await eventsOf(ham, "sh-hb", since)), []);

    await Deno.writeTextFile(stop, "");
    assertEquals(await script.line(), "stopped");
    await ham.waitEvent("sh-hb", "hb-missed-high", since);
    const hb = crossings(await eventsOf(ham, "sh-hb", since));
    assertEquals(hb.map((c) => [c.condition, c.missed]), [
      ["hb-missed-low", 2],
      ["hb-missed-high", 3],
    ]);
    const st = await ham.ok("status", "sh-hb", "--json");
    assertEquals(st.type, "ATTACHED");
    assertEquals(st.heartbeat.health, "missed-high");
    assertEquals([st.heartbeat.periodMs, st.heartbeat.low, st.heartbeat.high], [1000, 2, 3]);
  },
);
