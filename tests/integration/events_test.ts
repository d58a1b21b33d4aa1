/**
 * The event stream end to end, with real `ham` and `hamctl` processes: a subscriber that
 * goes away and comes back with `since` gets exactly what it missed, in order, then the
 * live events, with no gap and no duplicate; `hamctl events --since N --json` lists from
 * N; `hamctl events --follow --json` streams one JSON object per line; and the numbering
 * and the kept events survive a restart of the HAM.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { connect, type Ham } from "../../lib/client/ham.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import { BIN, deadline, HamProcess } from "../support/ham_process.ts";

/** The next `n` events of a subscription, within `ms`. */
async function take(
  events: AsyncIterableIterator<HamEvent>,
  n: number,
  ms = 10_000,
): Promise<HamEvent[]> {
  const out: HamEvent[] = [];
  await deadline(
    (async () => {
      while (out.length < n) {
        const r = await events.next();
        if (r.done) throw new Error(`The subscription ended after ${out.length} of ${n} events`);
        out.push(r.value);
      }
    })(),
    ms,
    `${n} events`,
  );
  return out;
}

/** Causes `count` events about placeholder entity `entity`: published states 1, 2, ... */
async function cause(ham: Ham, entity: string, count: number, from = 1): Promise<void> {
  for (let i = 0; i < count; i++) await ham.state(entity, from + i);
}

/** The numbers from `first` to `last`. */
function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

Deno.test(
  "a subscriber that comes back with since = last + 1 gets exactly the missed events, then the live ones",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using actor = await connect({ stateDir: ham.stateDir, client: "actor" });
    await actor.entity("p");

    let last: number;
    {
      await using sub = await connect({ stateDir: ham.stateDir, client: "sub-1" });
      const events = await sub.subscribe({ entity: "p" });
      await cause(actor, "p", 3);
      const got = await take(events, 3);
      assertEquals(got.map((e) => [e.type, e.detail?.to]), [["state", 1], ["state", 2], [
        "state",
        3,
      ]]);
      last = got.at(-1)!.seq;
    } // the subscriber goes away

    await cause(actor, "p", 4, 4);
    await actor.raise("p", { rtype: 7 });
    const missed = (await actor.events({ since: last + 1, entity: "p" })).events;
    assertEquals(missed.map((e) => e.type), ["state", "state", "state", "state", "raise"]);

    await using sub = await connect({ stateDir: ham.stateDir, client: "sub-2" });
    const events = await sub.subscribe({ entity: "p", since: last + 1 });
    const replayed = await take(events, missed.length);
    assertEquals(replayed, missed, "exactly the missed events, in order");
    assertEquals(replayed[0].seq, last + 1);
    // Then the live ones: the next event is the very next number, nothing twice.
    await cause(actor, "p", 1, 9);
    const [live] = await take(events, 1);
    assertEquals([live.type, live.detail?.to], ["state", 9]);
    assertEquals(live.seq, replayed.at(-1)!.seq + 1);
    const all = [...replayed, live].map((e) => e.seq);
    assertEquals(new Set(all).size, all.length, "no event twice");
  },
);

Deno.test(
  "a subscriber of every entity gets a gapless run of sequence numbers across its absence",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using actor = await connect({ stateDir: ham.stateDir, client: "actor" });
    await actor.entity("a");
    await actor.entity("b");
    const first = (await actor.events({ since: Number.MAX_SAFE_INTEGER })).next;
    let last: number;
    {
      await using sub = await connect({ stateDir: ham.stateDir, client: "sub-1" });
      const events = await sub.subscribe({ since: first });
      await cause(actor, "a", 2);
      const got = await take(events, 2);
      last = got.at(-1)!.seq;
      assertEquals(got.map((e) => e.seq), range(first, last));
    }
    await cause(actor, "b", 3);
    await cause(actor, "a", 2, 3);
    const end = (await actor.events({ since: Number.MAX_SAFE_INTEGER })).next - 1;
    await using sub = await connect({ stateDir: ham.stateDir, client: "sub-2" });
    const events = await sub.subscribe({ since: last + 1 });
    const got = await take(events, end - last);
    assertEquals(got.map((e) => e.seq), range(last + 1, end));
    assertEquals(got.map((e) => e.entity), ["b", "b", "b", "a", "a"]);
  },
);

Deno.test(
  "hamctl events --since N --json lists the events from N, oldest first",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using actor = await connect({ stateDir: ham.stateDir, client: "actor" });
    await actor.entity("p");
    await actor.entity("q");
    await cause(actor, "p", 2);
    const since = (await actor.events({ since: Number.MAX_SAFE_INTEGER })).next;
    await cause(actor, "q", 2);
    await actor.raise("p", { rtype: 1 });

    const listed = await ham.ok("events", "--since", String(since), "--json");
    const viaLib = await actor.events({ since });
    assertEquals(listed, viaLib, "hamctl and the library list the same");
    assertEquals(listed.events.map((e: HamEvent) => [e.seq, e.type, e.entity]), [
      [since, "state", "q"],
      [since + 1, "state", "q"],
      [since + 2, "raise", "p"],
    ]);
    assertEquals(listed.next, since + 3);
    // `next` continues where the list ended: nothing new yet.
    assertEquals((await ham.ok("events", "--since", String(listed.next), "--json")).events, []);
    const onlyP = await ham.ok("events", "--since", String(since), "--entity", "p", "--json");
    assertEquals(onlyP.events.map((e: HamEvent) => e.seq), [since + 2]);
    // The text form: one line per event, starting with its number.
    const text = await ham.ok("events", "--since", String(since));
    assertEquals(
      text.split("\n").map((l: string) => Number(l.split(" ")[0])),
      range(since, since + 2),
    );
  },
);

Deno.test(
  "hamctl events --follow --json streams one event per line as they happen",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using actor = await connect({ stateDir: ham.stateDir, client: "actor" });
    await actor.entity("p");
    const since = (await actor.events({ since: Number.MAX_SAFE_INTEGER })).next;
    const follow = new Deno.Command(`${BIN}/hamctl`, {
      args: ["--state-dir", ham.stateDir, "events", "--follow", "--json", "--since", String(since)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = follow.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      // From `since`: events that happen before hamctl has subscribed are not lost.
      await cause(actor, "p", 2);
      let text = "";
      await deadline(
        (async () => {
          while (text.split("\n").length < 3) {
            const r = await lines.read();
            if (r.done) throw new Error(`hamctl events --follow ended: ${text}`);
            text += r.value;
          }
        })(),
        10_000,
        "two lines from hamctl events --follow",
      );
      const [one, two] = text.split("\n").slice(0, 2).map((l) => JSON.parse(l) as HamEvent);
      assertEquals([one.seq, one.type, one.entity, one.detail?.to], [since, "state", "p", 1]);
      assertEquals([two.seq, two.type, two.entity, two.detail?.to], [since + 1, "state", "p", 2]);
    } finally {
      follow.kill("SIGTERM");
      await lines.cancel().catch(() => {});
      await follow.stderr.cancel().catch(() => {});
      await follow.status;
    }
  },
);

Deno.test(
  "events survive a restart of the HAM: since = last + 1 replays them, numbering goes on",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    let last: number;
    let missed: HamEvent[];
    {
      await using actor = await connect({ stateDir: ham.stateDir, client: "actor" });
      await actor.entity("p");
      await using sub = await connect({ stateDir: ham.stateDir, client: "sub-1" });
      const events = await sub.subscribe({ entity: "p" });
      await cause(actor, "p", 2);
      last = (await take(events, 2)).at(-1)!.seq;
      sub.close();
      await cause(actor, "p", 3, 3);
      missed = (await actor.events({ since: last + 1, entity: "p" })).events;
      assertEquals(missed.length, 3);
    }
    await ham.ok("stop", "--wait");
    await deadline(ham.child.status, 10_000, "the HAM to stop");
    await ham.restart();

    await using sub = await connect({ stateDir: ham.stateDir, client: "sub-2" });
    const events = await sub.subscribe({ entity: "p", since: last + 1 });
    const replayed = await take(events, missed.length);
    assertEquals(replayed, missed, "the events from before the restart, as they were");
    await sub.state("p", 9);
    const [live] = await take(events, 1);
    assertEquals([live.type, live.detail?.to], ["state", 9]);
    assert(live.seq > missed.at(-1)!.seq, `numbering goes on: ${live.seq}`);
  },
);
