import { deepEqual as assertEquals } from "node:assert/strict";
import { eventLine } from "../../../cli/hamctl/events.ts";
import type { HamEvent } from "../../../lib/core/protocol.ts";

const AT = Date.parse("2026-12-05T00:47:23.166Z");

Deno.test("eventLine() shows an event's condition and action as one path", () => {
  const ev = {
    seq: 7,
    at: AT,
    type: "action",
    entity: "web",
    condition: "death",
    action: "restart",
    detail: { kind: "restart", ok: true },
  } as HamEvent;
  assertEquals(
    eventLine(ev),
    '7 2026-12-05T00:47:23.166Z action web web/death/restart {"kind":"restart","ok":true}',
  );
});

Deno.test("eventLine() shows - for an event of no entity, and no empty path", () => {
  // `hamctl notify` sends no entity, condition or action: they come as empty strings.
  const notify = {
    seq: 11,
    at: AT,
    type: "notify",
    entity: "",
    condition: "",
    action: "",
    detail: { channel: "ops", code: 1, value: 42 },
  } as HamEvent;
  assertEquals(
    eventLine(notify),
    '11 2026-12-05T00:47:23.166Z notify - {"channel":"ops","code":1,"value":42}',
  );
  const stop = { seq: 12, at: AT, type: "stop", entity: "", detail: { hamPid: 42 } } as HamEvent;
  assertEquals(eventLine(stop), '12 2026-12-05T00:47:23.166Z stop - {"hamPid":42}');
});
