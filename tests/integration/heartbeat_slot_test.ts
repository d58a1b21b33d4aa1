/**
 * Heartbeat slots end to end: a real HAM and worker processes (`tests/support/
 * slot_beater.ts`) beating with the library's default `heartbeat()`. A process that may
 * map its slot sends one heartbeat request and no more, and is never reported missed;
 * when it stops beating, missed-low and missed-high fire at their counts; its slot file
 * goes with its connection; a beat after its entity is detached goes over the socket and
 * is refused, at once, as is one after a detach-self; after a takeover the process gets a slot from the new HAM; and a process
 * without `--allow-ffi` beats over the socket as before.
 */

import {
  deepEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
} from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import { HamError } from "../../lib/core/errors.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import { alive, BIN, HamProcess, until } from "../support/ham_process.ts";
import { LineReader } from "../support/line_reader.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PERIOD_MS = 100;
const LOW = 3;
const HIGH = 6;

interface Counts {
  beats: number;
  socketBeats: number;
  errors: string[];
}

/** A `slot_beater.ts` process, driven on stdin. */
class Beater implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  #lines: LineReader;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(ham: HamProcess, args: string[], ffi = true) {
    this.child = new Deno.Command(`${BIN}/deno`, {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        ...(ffi ? ["--allow-ffi"] : []),
        `${ROOT}tests/support/slot_beater.ts`,
        ham.stateDir,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = new LineReader(this.child.stdout);
    this.#stdin = this.child.stdin.getWriter();
  }

  async line(ms = 10_000): Promise<string> {
    const line = await this.#lines.next(ms, "a line from the beater");
    if (line === null) throw new Error("The beater ended its output");
    return line;
  }

  async send(command: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${command}\n`));
  }

  async counts(): Promise<Counts> {
    await this.send("count");
    return JSON.parse(await this.line());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#stdin.close().catch(() => {});
    await this.#lines.cancel();
    await this.child.status;
  }
}

/** The `heartbeat` events (threshold crossings) of `entity` with seq ≥ `since`. */
async function crossings(ham: HamProcess, entity: string, since: number): Promise<HamEvent[]> {
  const r = await ham.ok("events", "--since", String(since), "--entity", entity, "--json");
  return (r.events as HamEvent[]).filter((e) => e.type === "heartbeat");
}

/** The names in the state directory's slot directory. */
function slotFiles(ham: HamProcess): string[] {
  try {
    return [...Deno.readDirSync(`${ham.stateDir}/beats`)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** Waits until the beater has made `n` more beats than it had in `from`. */
async function beatsPast(b: Beater, n: number): Promise<Counts> {
  const from = (await b.counts()).beats;
  return await until(
    async () => {
      const c = await b.counts();
      return c.beats >= from + n ? c : null;
    },
    `${n} more beats`,
    15_000,
  );
}

Deno.test("a process beating through its slot sends one heartbeat request and is never missed; when it stops, missed-low and missed-high fire at their counts", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const since = await ham.seq();
  await using b = new Beater(ham, ["slotted"]);
  assertEquals(await b.line(), "ready");
  const files = slotFiles(ham);
  assertEquals(files.length, 1, `one slot file: ${files}`);
  const c = await beatsPast(b, 40); // 1 s: 10 periods
  assertEquals(c.socketBeats, 1, "only the first beat, which asked for the slot");
  assertEquals(c.errors, []);
  assertEquals(await crossings(ham, "slotted", since), []);
  const st = await ham.ok("status", "slotted", "--json");
  assertEquals([st.heartbeat.health, st.heartbeat.missed], ["healthy", 0]);
  // lastBeat comes from the slot, read at period ends: recent, not the first beat.
  const age = Date.now() - Date.parse(st.heartbeat.lastBeat);
  assert(age < 20 * PERIOD_MS, `last beat ${age} ms ago`);

  const hungSince = await ham.seq();
  const hungAt = Date.now();
  await b.send("hang");
  const hb = await until(async () => {
    const found = await crossings(ham, "slotted", hungSince);
    return found.length >= 2 ? found : null;
  }, "missed-low and missed-high");
  assertEquals(hb.map((e) => [e.detail?.condition, e.detail?.missed]), [
    ["hb-missed-low", LOW],
    ["hb-missed-high", HIGH],
  ]);
  const [lowEnd, highEnd] = hb.map((e) => Number(e.detail?.periodEnd));
  assertEquals(highEnd - lowEnd, (HIGH - LOW) * PERIOD_MS);
  assert(lowEnd > hungAt, "missed-low's period ends after the hang");
  // The last beat the slot held falls in the period before the empty ones.
  const sinceBeat = lowEnd - Number(hb[0].detail?.lastBeat);
  assert(
    sinceBeat > LOW * PERIOD_MS && sinceBeat <= (LOW + 1) * PERIOD_MS,
    `last beat -> missed-low period end ${sinceBeat} ms`,
  );
  assert(alive(b.child.pid));

  // The slot file goes with the connection.
  await b.send("exit");
  await until(() => Promise.resolve(slotFiles(ham).length === 0 || null), "the slot file removed");
});

Deno.test("a beat through a slot after its entity is detached goes over the socket and gets ENOENT", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const sleeper = new Deno.Command("/bin/sleep", { args: ["1000"] }).spawn();
  try {
    await ham.ok(
      "attach",
      "target",
      "--pid",
      String(sleeper.pid),
      "--heartbeat",
      `${PERIOD_MS}ms`,
      "--low",
      "3",
    );
    await using b = new Beater(ham, ["beater", "target"]);
    assertEquals(await b.line(), "ready");
    const c = await beatsPast(b, 8);
    assertEquals([c.socketBeats, c.errors], [1, []]);
    await ham.ok("detach", "target");
    const after = await until(async () => {
      const n = await b.counts();
      return n.errors.length > 0 ? n : null;
    }, "a refused beat");
    assertEquals(after.errors[0], "ENOENT");
    assert(after.socketBeats >= 2, "the refused beat went over the socket");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

Deno.test("after a takeover the beating process gets a slot from the new HAM and is not reported missed", async () => {
  await using ham = await HamProcess.start();
  await using b = new Beater(ham, ["survivor"]);
  assertEquals(await b.line(), "ready");
  await beatsPast(b, 8);
  const oldHam = await ham.hamPid();
  await ham.killHam("SIGKILL");
  await until(
    async () => (await ham.hamPid().catch(() => oldHam)) !== oldHam || null,
    "the Guardian's takeover",
    15_000,
  );
  // The process re-attaches on a new connection and asks the new HAM for a slot (a beat
  // made while a reconnection was being retried may ask once more: what an earlier attempt
  // got is not kept). Then it beats through the slot: 10 beats without a socket beat.
  const renewed = await until(
    async () => {
      const c = await b.counts();
      if (c.socketBeats < 2) return null;
      const later = await beatsPast(b, 10);
      return later.socketBeats === c.socketBeats ? later : null;
    },
    "a slot from the new HAM",
    15_000,
  );
  const since = await ham.seq();
  const c = await beatsPast(b, 40);
  assertEquals(c.socketBeats, renewed.socketBeats, "no beat over the socket once slotted");
  assertEquals(await crossings(ham, "survivor", since), []);
  const st = await ham.ok("status", "survivor", "--json");
  assertEquals(st.heartbeat.health, "healthy");
});

Deno.test("a process without --allow-ffi beats over the socket, every beat answered", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const since = await ham.seq();
  await using b = new Beater(ham, ["plain"], false);
  assertEquals(await b.line(), "ready");
  const c = await beatsPast(b, 20);
  assert(c.socketBeats >= c.beats - 1, `${c.socketBeats} of ${c.beats} over the socket`);
  assertEquals(c.errors, []);
  assertEquals(slotFiles(ham), []);
  assertEquals(await crossings(ham, "plain", since), []);
});

Deno.test("a beat after the HAM died is refused, not stored in a slot nobody reads", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const sleeper = new Deno.Command("/bin/sleep", { args: ["1000"] }).spawn();
  try {
    await ham.ok("attach", "target", "--pid", String(sleeper.pid), "--heartbeat", `${PERIOD_MS}ms`);
    // It beats for an entity it did not attach: no reconnection, its client ends.
    await using b = new Beater(ham, ["orphan", "target"]);
    assertEquals(await b.line(), "ready");
    const slotted = await beatsPast(b, 8);
    assertEquals([slotted.socketBeats, slotted.errors], [1, []]);
    // Killed, not stopped: nothing revokes the slot; the end of the connection must.
    await ham.killHam("SIGKILL");
    const refused = await until(async () => {
      const c = await b.counts();
      return c.errors.length > 0 ? c : null;
    }, "a refused beat");
    assert(refused.socketBeats >= 2, "the beat went to the socket, and failed there");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

Deno.test("a slot beat right after a detach-self or a detach is refused, without waiting for the period's end", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const sleeper = new Deno.Command("/bin/sleep", { args: ["1000"] }).spawn();
  try {
    // This process beats, with periods long enough that no period ends during the test.
    await using me = await connect({ stateDir: ham.stateDir, client: "test" });
    let socketBeats = 0;
    const request = me.client.request.bind(me.client);
    me.client.request = ((op, ...rest) => {
      if (op === "heartbeat") socketBeats++;
      return request(op, ...rest);
    }) as typeof me.client.request;
    const refused = (code: string) => (err: unknown) =>
      err instanceof HamError && err.code === code;

    await me.attachSelf("selfhb", { heartbeat: { periodMs: 60_000, low: 1, high: 0 } });
    await me.heartbeat();
    await me.heartbeat();
    assertEquals(socketBeats, 1, "the second beat went through the slot");
    await me.detachSelf("selfhb");
    await assertRejects(me.heartbeat(), refused("EINVAL"));
    assertEquals(socketBeats, 2, "the refused beat went over the socket");

    await ham.ok("attach", "w3", "--pid", String(sleeper.pid), "--heartbeat", "60s", "--low", "1");
    await me.heartbeat("w3");
    await me.heartbeat("w3");
    assertEquals(socketBeats, 3, "the second beat for w3 went through the slot");
    await ham.ok("detach", "w3");
    await assertRejects(me.heartbeat("w3"), refused("ENOENT"));
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});
