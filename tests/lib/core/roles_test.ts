import { deepEqual as assertEquals } from "node:assert/strict";
import { roleAllows, roleNeeded } from "../../../lib/core/roles.ts";

Deno.test("roleNeeded() gives read to reads, report to reports, admin to the rest", () => {
  assertEquals(
    (["status", "events", "wait", "ping", "subscribe"] as const).map(roleNeeded),
    ["read", "read", "read", "read", "read"],
  );
  assertEquals(
    (["heartbeat", "state", "raise", "attach-self"] as const).map(roleNeeded),
    ["report", "report", "report", "report"],
  );
  assertEquals((["attach", "stop", "action", "detach"] as const).map(roleNeeded), [
    "admin",
    "admin",
    "admin",
    "admin",
  ]);
});

Deno.test("roleAllows() lets each role do what the weaker ones may, and no more", () => {
  assertEquals(roleAllows("read", "status"), true);
  assertEquals(roleAllows("read", "heartbeat"), false);
  assertEquals(roleAllows("report", "heartbeat"), true);
  assertEquals(roleAllows("report", "attach"), false);
  assertEquals(roleAllows("admin", "attach"), true);
  assertEquals(roleAllows("admin", "status"), true);
});
