import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import {
  allowed,
  checkAllowed,
  defaultPolicy,
  formatPolicy,
  parsePolicyText,
  type Policy,
  roleFor,
  roleNeeded,
  VERB_ROLES,
} from "../../../lib/core/policy.ts";

const HAM_UID = 1000;

function withGrants(...grants: Policy["grants"]): Policy {
  return { ...defaultPolicy(HAM_UID), grants, file: "/x/policy" };
}

Deno.test("VERB_ROLES gives every operation of the protocol an explicit role", async () => {
  const source = await Deno.readTextFile(
    new URL("../../../lib/core/protocol.ts", import.meta.url),
  );
  const ops = new Set([...source.matchAll(/\bop: "([a-z-]+)"/g)].map((m) => m[1]));
  assert.ok(ops.size > 20, `found only ${ops.size} operations in protocol.ts`);
  for (const op of ops) assert.ok(Object.hasOwn(VERB_ROLES, op), `no role for "${op}"`);
  for (const op of Object.keys(VERB_ROLES)) assert.ok(ops.has(op), `"${op}" is not a verb`);
});

Deno.test("roleNeeded() is admin for a verb it does not know", () => {
  assert.equal(roleNeeded("format-the-disk"), "admin");
  assert.equal(roleNeeded("__proto__"), "admin");
  assert.equal(roleNeeded("status"), "read");
  assert.equal(roleNeeded("heartbeat"), "report");
  assert.equal(roleNeeded("attach"), "admin");
});

Deno.test("roleFor() makes root and the HAM's uid admin and nobody else anything by default", () => {
  const p = defaultPolicy(HAM_UID);
  assert.equal(roleFor(p, { uid: 0 }), "admin");
  assert.equal(roleFor(p, { uid: HAM_UID }), "admin");
  assert.equal(roleFor(p, { uid: 1001, gid: 0, groups: [0] }), null);
  assert.equal(roleFor(p, {}), null);
});

Deno.test("roleFor() grants by uid, by gid or any group, and by certificate name, highest wins", () => {
  const p = withGrants(
    { role: "read", who: { kind: "gid", id: 50 }, source: "group:mon" },
    { role: "report", who: { kind: "uid", id: 1001 }, source: "user:app" },
    { role: "admin", who: { kind: "cn", name: "node-a" }, source: "cn:node-a" },
  );
  assert.equal(roleFor(p, { uid: 1002, gid: 50 }), "read");
  assert.equal(roleFor(p, { uid: 1002, gid: 7, groups: [7, 50] }), "read");
  assert.equal(roleFor(p, { uid: 1001, gid: 50 }), "report");
  assert.equal(roleFor(p, { cn: "node-a" }), "admin");
  assert.equal(roleFor(p, { cn: "node-b" }), null);
});

Deno.test("allowed() follows read < report < admin, and hello is for anyone", () => {
  assert.equal(allowed("hello", null), true);
  assert.equal(allowed("ping", null), false);
  assert.equal(allowed("status", "read"), true);
  assert.equal(allowed("heartbeat", "read"), false);
  assert.equal(allowed("attach-self", "report"), true);
  assert.equal(allowed("status", "report"), true);
  assert.equal(allowed("attach", "report"), false);
  assert.equal(allowed("stop", "admin"), true);
  assert.equal(allowed("unknown-verb", "report"), false);
});

Deno.test("checkAllowed() throws EPERM naming the verb, the role needed and the caller", () => {
  assert.throws(() => checkAllowed("attach", "read", { uid: 1001, pid: 42 }), (e) => {
    assert.ok(e instanceof HamError);
    assert.equal(e.code, "EPERM");
    assert.equal(
      e.message,
      'Permission denied: "attach" needs the admin role; uid 1001 pid 42 has the read role',
    );
    return true;
  });
  assert.throws(
    () => checkAllowed("ping", null, { uid: 7 }),
    /needs the read role; uid 7 has no role/,
  );
});

Deno.test("parsePolicyText() reads grants, comments and blank lines", () => {
  const grants = parsePolicyText(
    "# who\nadmin group:ops\n\nreport  user:app   # the workers\nread gid:50\nread cn:mon.example\n",
  );
  assert.deepEqual(grants.map((g) => [g.role, g.kind, g.value, g.line]), [
    ["admin", "group", "ops", 2],
    ["report", "user", "app", 4],
    ["read", "gid", "50", 5],
    ["read", "cn", "mon.example", 6],
  ]);
});

Deno.test("parsePolicyText() names the line of a bad role, a bad WHO or a bad number", () => {
  assert.throws(
    () => parsePolicyText("read uid:1\nroot uid:2"),
    /line 2 "root uid:2": unknown role/,
  );
  assert.throws(() => parsePolicyText("read alice"), /line 1 .*expected WHO/);
  assert.throws(() => parsePolicyText("read uid:abc"), /"abc" is not a number/);
  assert.throws(() => parsePolicyText("read uid:1 extra"), /expected ROLE WHO/);
});

Deno.test("formatPolicy() shows the uids that are always admin and each grant as written", () => {
  const text = formatPolicy(withGrants(
    { role: "read", who: { kind: "gid", id: 50 }, source: "group:mon" },
  ));
  assert.equal(
    text,
    "# policy file /x/policy\nadmin uid:0  # always\nadmin uid:1000  # always\nread group:mon  # gid:50",
  );
});
