/**
 * A test worker that beats with the library's default `heartbeat()` (through a heartbeat
 * slot when it may map one) and counts the beats that went over the socket. It
 * self-attaches as NAME with a heartbeat (period 100 ms, missed-low 3, missed-high 6) and
 * beats for it every 25 ms; with TARGET it attaches nothing and beats for entity TARGET.
 * It prints `ready` after its first beat, then reads commands on stdin, one per line:
 * `count` prints `{ beats, socketBeats, errors }` (errors: the codes of refused beats, in
 * order); `hang` stops the beats (the process stays). It exits when stdin ends.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env [--allow-ffi] tests/support/slot_beater.ts STATE_DIR NAME [TARGET]
 *
 * @module
 */

import { connect } from "../../mod.ts";
import { HamError } from "../../lib/core/errors.ts";

const [stateDir, name, target] = Deno.args;
const ham = await connect({ stateDir, client: name });
let socketBeats = 0;
const request = ham.client.request.bind(ham.client);
ham.client.request = ((op, ...rest) => {
  if (op === "heartbeat") socketBeats++;
  return request(op, ...rest);
}) as typeof ham.client.request;
if (target === undefined) {
  await ham.attachSelf(name, { heartbeat: { periodMs: 100, low: 3, high: 6 } });
}

let beats = 0;
const errors: string[] = [];
let hung = false;
const beat = async () => {
  beats++;
  try {
    await ham.heartbeat(target);
  } catch (err) {
    errors.push(err instanceof HamError ? err.code : String(err));
  }
};
await beat();
const timer = setInterval(() => void (hung || beat()), 25);
console.log("ready");

let partial = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  const lines = (partial + chunk).split("\n");
  partial = lines.pop()!;
  for (const line of lines) {
    if (line === "count") console.log(JSON.stringify({ beats, socketBeats, errors }));
    if (line === "hang") hung = true;
    if (line === "exit") Deno.exit(0);
  }
}
clearInterval(timer);
Deno.exit(0);
