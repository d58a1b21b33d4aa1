import assert from "node:assert/strict";
import { HamError, isErrorCode } from "../../../lib/core/errors.ts";
import {
  HCONDNOWAIT,
  HCONDSTATEFROMSET,
  HENTITYKEEPONDEATH,
  HREARMAFTERRESTART,
} from "../../../lib/core/flags.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import { decodeHeartbeat, decodePolicy, decodeRequest } from "../../../lib/core/request_decoder.ts";
import { encodeResponse, type Request } from "../../../lib/core/protocol.ts";
import { DEFAULTS } from "../../../lib/core/defaults.ts";

type Obj = Record<string, unknown>;

function line(o: unknown): string {
  return JSON.stringify(o);
}

function rejects(input: string, want: HamError["code"], text?: RegExp): void {
  let err: unknown;
  try {
    decodeRequest(input);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof HamError, `expected a HamError for ${input.slice(0, 200)}, got ${err}`);
  assert.equal(err.code, want, `${input.slice(0, 200)}: ${err.message}`);
  if (text) assert.match(err.message, text);
}

// ---------------------------------------------------------------------------
// Framing

Deno.test("decodeRequest() throws EPROTO when the line is not valid JSON", () => {
  for (const bad of ["", "{", '{"id":1,', "nope", "{'id':1}", "\u0000", '{"id":1}}']) {
    rejects(bad, "EPROTO");
  }
});

Deno.test("decodeRequest() throws EPROTO when the line is not a JSON object", () => {
  for (const bad of ["[]", '[{"id":1,"op":"ping"}]', "1", '"ping"', "null", "true"]) {
    rejects(bad, "EPROTO");
  }
});

Deno.test("decodeRequest() throws EPROTO when the id is missing or not a non-negative integer", () => {
  for (const id of [undefined, null, -1, 1.5, "1", 2 ** 53, [], {}]) {
    rejects(line({ id, op: "ping" }), "EPROTO", /id/);
  }
});

Deno.test("decodeRequest() throws EPROTO when the op is missing or not a string", () => {
  rejects(line({ id: 1 }), "EPROTO");
  rejects(line({ id: 1, op: 5 }), "EPROTO");
  rejects(line({ id: 1, op: ["ping"] }), "EPROTO");
});

Deno.test("decodeRequest() throws EPROTO naming at most 64 characters of the op when the op is unknown", () => {
  rejects(line({ id: 1, op: "reboot" }), "EPROTO", /"reboot"/);
  rejects(line({ id: 1, op: "PING" }), "EPROTO");
  rejects(line({ id: 1, op: "__proto__" }), "EPROTO");
  rejects(line({ id: 1, op: "constructor" }), "EPROTO");
  let err: HamError | undefined;
  try {
    decodeRequest(line({ id: 1, op: "x".repeat(10_000) }));
  } catch (e) {
    err = e as HamError;
  }
  assert.ok(err && err.message.length < 120);
});

// ---------------------------------------------------------------------------
// Valid requests, with their defaults

const VALID: ReadonlyArray<[string, Obj, Request]> = [
  ["ping", { id: 0, op: "ping" }, { id: 0, op: "ping" }],
  ["stop", { id: 1, op: "stop" }, { id: 1, op: "stop" }],
  [
    "hello",
    { id: 0, op: "hello", version: 1, client: "c".repeat(100) },
    { id: 0, op: "hello", version: 1, client: "c".repeat(64), pid: null },
  ],
  [
    "attach with a command",
    {
      id: 2,
      op: "attach",
      entity: "web",
      argv: ["/bin/web", "-p", "80"],
      flags: ["keep-on-death"],
    },
    {
      id: 2,
      op: "attach",
      entity: "web",
      argv: ["/bin/web", "-p", "80"],
      pid: null,
      cwd: null,
      env: null,
      flags: HENTITYKEEPONDEATH,
      heartbeat: null,
      killMode: "control-group",
    },
  ],
  [
    "attach with a pid",
    {
      id: 3,
      op: "attach",
      entity: "inetd",
      pid: 42,
      cwd: "/",
      env: { A: "1" },
      heartbeat: { periodMs: 1000, low: 2 },
    },
    {
      id: 3,
      op: "attach",
      entity: "inetd",
      argv: null,
      pid: 42,
      cwd: "/",
      env: { A: "1" },
      flags: 0,
      heartbeat: { periodMs: 1000, low: 2, high: 0 },
      killMode: "control-group",
    },
  ],
  [
    "check-attach",
    { id: 3, op: "check-attach", entity: "web", argv: ["/bin/web"], env: { A: "1" } },
    { id: 3, op: "check-attach", entity: "web", argv: ["/bin/web"], cwd: null, env: { A: "1" } },
  ],
  [
    "attach-self",
    { id: 4, op: "attach-self", entity: "app", pid: 7 },
    { id: 4, op: "attach-self", entity: "app", pid: 7, heartbeat: null, flags: 0, renew: false },
  ],
  [
    "attach-self (renew)",
    { id: 4, op: "attach-self", entity: "app", pid: 7, renew: true },
    { id: 4, op: "attach-self", entity: "app", pid: 7, heartbeat: null, flags: 0, renew: true },
  ],
  ["entity", { id: 5, op: "entity", entity: "db" }, {
    id: 5,
    op: "entity",
    entity: "db",
    flags: 0,
  }],
  ["detach", { id: 6, op: "detach", entity: "db" }, { id: 6, op: "detach", entity: "db" }],
  [
    "condition",
    { id: 7, op: "condition", path: "web/up", type: "state", to: 3, flags: ["from-set", "rearm"] },
    {
      id: 7,
      op: "condition",
      path: { entity: "web", condition: "up" },
      type: "state",
      flags: HCONDSTATEFROMSET | HREARMAFTERRESTART,
      from: 0,
      to: 3,
      rtype: 0,
      rclass: 0,
      rseverity: 0,
    },
  ],
  [
    "condition on the global entity",
    { id: 8, op: "condition", path: `${GLOBAL_ENTITY}/any`, type: "death", flags: HCONDNOWAIT },
    {
      id: 8,
      op: "condition",
      path: { entity: GLOBAL_ENTITY, condition: "any" },
      type: "death",
      flags: HCONDNOWAIT,
      from: 0,
      to: 0,
      rtype: 0,
      rclass: 0,
      rseverity: 0,
    },
  ],
  [
    "action restart",
    { id: 9, op: "action", path: "web/died/restart", kind: "restart", flags: ["rearm"] },
    {
      id: 9,
      op: "action",
      path: { entity: "web", condition: "died", action: "restart" },
      flags: HREARMAFTERRESTART,
      params: { kind: "restart", argv: null, policy: null },
    },
  ],
  [
    "action signal",
    { id: 10, op: "action", path: "web/hung/kill", kind: "signal", signal: "KILL" },
    {
      id: 10,
      op: "action",
      path: { entity: "web", condition: "hung", action: "kill" },
      flags: 0,
      params: { kind: "signal", pid: null, signal: 9 },
    },
  ],
  [
    "action log",
    { id: 11, op: "action", path: "web/c/log", kind: "log", message: "hi" },
    {
      id: 11,
      op: "action",
      path: { entity: "web", condition: "c", action: "log" },
      flags: 0,
      params: { kind: "log", message: "hi", prefix: true, verbosity: 1 },
    },
  ],
  [
    "action-fail waitfor",
    {
      id: 12,
      op: "action-fail",
      path: "web/c/a",
      name: "w",
      kind: "waitfor",
      delayMs: 5,
      pathname: "/run/x",
    },
    {
      id: 12,
      op: "action-fail",
      path: { entity: "web", condition: "c", action: "a" },
      name: "w",
      params: { kind: "waitfor", delayMs: 5, pathname: "/run/x" },
    },
  ],
  [
    "control",
    { id: 13, op: "control", path: "web/c", command: "add-flags", flags: ["nowait"] },
    {
      id: 13,
      op: "control",
      path: { entity: "web", condition: "c" },
      command: "add-flags",
      flags: HCONDNOWAIT,
      recurse: false,
    },
  ],
  [
    "control enable with recurse",
    { id: 14, op: "control", path: "web", command: "enable", flags: 0, recurse: true },
    {
      id: 14,
      op: "control",
      path: { entity: "web" },
      command: "enable",
      flags: 0,
      recurse: true,
    },
  ],
  [
    "verbose",
    { id: 15, op: "verbose", command: "incr" },
    { id: 15, op: "verbose", command: "incr", value: 0 },
  ],
  ["status", { id: 16, op: "status" }, { id: 16, op: "status", path: null }],
  ["heartbeat", { id: 17, op: "heartbeat" }, {
    id: 17,
    op: "heartbeat",
    entity: null,
    reply: true,
    slot: false,
  }],
  ["heartbeat asking for a slot", { id: 17, op: "heartbeat", slot: true }, {
    id: 17,
    op: "heartbeat",
    entity: null,
    reply: true,
    slot: true,
  }],
  ["heartbeat without a reply", { id: 18, op: "heartbeat", entity: "w", reply: false }, {
    id: 18,
    op: "heartbeat",
    entity: "w",
    reply: false,
    slot: false,
  }],
  ["state", { id: 18, op: "state", entity: "web", to: 2 }, {
    id: 18,
    op: "state",
    entity: "web",
    to: 2,
  }],
  ["raise", { id: 19, op: "raise", entity: "web", rclass: 4 }, {
    id: 19,
    op: "raise",
    entity: "web",
    rtype: 0,
    rclass: 4,
    rseverity: 0,
  }],
  ["wait", { id: 20, op: "wait", entity: "web", for: "restart" }, {
    id: 20,
    op: "wait",
    entity: "web",
    for: "restart",
    timeoutMs: 30_000,
    since: null,
    pid: null,
  }],
  ["events", { id: 21, op: "events", entity: GLOBAL_ENTITY }, {
    id: 21,
    op: "events",
    since: 0,
    entity: GLOBAL_ENTITY,
    limit: 1000,
    channel: null,
  }],
  ["subscribe", { id: 22, op: "subscribe", channel: "ops", subscriber: "pager" }, {
    id: 22,
    op: "subscribe",
    since: null,
    entity: null,
    channel: "ops",
    subscriber: "pager",
  }],
  ["unsubscribe", { id: 23, op: "unsubscribe", sub: 22 }, {
    id: 23,
    op: "unsubscribe",
    sub: 22,
    next: null,
  }],
  ["unsubscribe saying where it stopped", { id: 24, op: "unsubscribe", sub: 22, next: 40 }, {
    id: 24,
    op: "unsubscribe",
    sub: 22,
    next: 40,
  }],
];

for (const [name, input, want] of VALID) {
  Deno.test(`decodeRequest() decodes with defaults when given a valid ${name} request`, () => {
    assert.deepEqual(decodeRequest(line(input)), want);
  });
}

// ---------------------------------------------------------------------------
// Names

Deno.test("decodeRequest() throws EINVAL when a name contains a slash", () => {
  rejects(line({ id: 1, op: "entity", entity: "a/b" }), "EINVAL", /"\/"/);
  rejects(line({ id: 1, op: "condition", path: "a/b/c", type: "death" }), "EINVAL");
  rejects(
    line({ id: 1, op: "action-fail", path: "a/b/c", name: "x/y", kind: "log", message: "m" }),
    "EINVAL",
  );
});

Deno.test("decodeRequest() throws EINVAL when a name is empty, dot, dot-dot or has a control character", () => {
  for (const entity of ["", ".", "..", "a\nb", "a\u0000b", "\u007f", 5, null, ["a"]]) {
    rejects(line({ id: 1, op: "entity", entity }), "EINVAL");
  }
  rejects(line({ id: 1, op: "condition", path: "web//x", type: "death" }), "EINVAL");
});

Deno.test("decodeRequest() throws ENAMETOOLONG when a name is over 255 bytes", () => {
  rejects(line({ id: 1, op: "entity", entity: "a".repeat(256) }), "ENAMETOOLONG");
  rejects(line({ id: 1, op: "entity", entity: "é".repeat(128) }), "ENAMETOOLONG");
  assert.equal(
    (decodeRequest(line({ id: 1, op: "entity", entity: "a".repeat(255) })) as { entity: string })
      .entity.length,
    255,
  );
});

Deno.test("decodeRequest() throws ENAMETOOLONG when a whole path is over 255 bytes", () => {
  rejects(
    line({ id: 1, op: "condition", path: `${"a".repeat(200)}/${"b".repeat(60)}`, type: "death" }),
    "ENAMETOOLONG",
  );
});

Deno.test("decodeRequest() throws EINVAL when an entity name starts with @", () => {
  for (const op of ["attach", "attach-self", "entity", "detach", "state", "raise", "wait"]) {
    for (const entity of [GLOBAL_ENTITY, "@other"]) {
      rejects(
        line({ id: 1, op, entity, argv: ["x"], pid: 5, to: 1, for: "dead" }),
        "EINVAL",
        /reserved/,
      );
    }
  }
  rejects(line({ id: 1, op: "condition", path: "@other/c", type: "death" }), "EINVAL", /reserved/);
});

// ---------------------------------------------------------------------------
// Numbers

/** A request and where its numeric field sits. */
const NUMERIC_FIELDS: ReadonlyArray<[string, Obj, (o: Obj, v: unknown) => void]> = [
  ["pid", { id: 1, op: "attach", entity: "w" }, (o, v) => (o.pid = v)],
  ["pid", { id: 1, op: "attach-self", entity: "w" }, (o, v) => (o.pid = v)],
  ["version", { id: 1, op: "hello" }, (o, v) => (o.version = v)],
  ["to", { id: 1, op: "state", entity: "w" }, (o, v) => (o.to = v)],
  ["rtype", { id: 1, op: "raise", entity: "w" }, (o, v) => (o.rtype = v)],
  ["from", { id: 1, op: "condition", path: "w/c", type: "state" }, (o, v) => (o.from = v)],
  ["timeoutMs", { id: 1, op: "wait", entity: "w", for: "dead" }, (o, v) => (o.timeoutMs = v)],
  ["limit", { id: 1, op: "events" }, (o, v) => (o.limit = v)],
  [
    "delayMs",
    { id: 1, op: "action", path: "w/c/a", kind: "waitfor" },
    (o, v) => (o.delayMs = v),
  ],
  [
    "pid",
    { id: 1, op: "action", path: "w/c/a", kind: "signal", signal: 15 },
    (o, v) => (o.pid = v),
  ],
  [
    "verbosity",
    { id: 1, op: "action", path: "w/c/a", kind: "log", message: "m" },
    (o, v) => (o.verbosity = v),
  ],
  [
    "periodMs",
    { id: 1, op: "attach", entity: "w", argv: ["x"] },
    (o, v) => (o.heartbeat = { periodMs: v, low: 1, high: 2 }),
  ],
  [
    "backoffMs",
    { id: 1, op: "action", path: "w/c/a", kind: "restart" },
    (o, v) => (o.policy = { backoffMs: v }),
  ],
  ["value", { id: 1, op: "verbose", command: "set" }, (o, v) => (o.value = v)],
  [
    "timeoutMs",
    { id: 1, op: "action", path: "w/c/a", kind: "execute", argv: ["/bin/x"] },
    (o, v) => (o.timeoutMs = v),
  ],
  [
    "timeoutMs",
    { id: 1, op: "action-fail", path: "w/c/a", name: "f", kind: "execute", argv: ["/bin/x"] },
    (o, v) => (o.timeoutMs = v),
  ],
  [
    "low",
    { id: 1, op: "attach-self", entity: "w", pid: 5 },
    (o, v) => (o.heartbeat = { periodMs: 1000, low: v, high: 0 }),
  ],
  [
    "high",
    { id: 1, op: "attach", entity: "w", argv: ["x"] },
    (o, v) => (o.heartbeat = { periodMs: 1000, low: 0, high: v }),
  ],
  ["sub", { id: 1, op: "unsubscribe" }, (o, v) => (o.sub = v)],
  ["next", { id: 1, op: "unsubscribe", sub: 1 }, (o, v) => (o.next = v)],
];

const ABSURD: ReadonlyArray<[string, unknown]> = [
  ["negative", -1],
  ["1e20", 1e20],
  ["a float", 1.5],
  ['"NaN"', "NaN"],
  ['"12"', "12"],
  ['"Infinity"', "Infinity"],
  ["true", true],
  ["a list", [1]],
  ["an object", { n: 1 }],
];

for (const [field, base, set] of NUMERIC_FIELDS) {
  for (const [label, value] of ABSURD) {
    const op = base.op as string;
    const kind = base.kind ? ` ${base.kind}` : "";
    Deno.test(`decodeRequest() throws EINVAL naming "${field}" when ${op}${kind} gets ${label}`, () => {
      const o = structuredClone(base);
      set(o, value);
      rejects(line(o), "EINVAL", new RegExp(`"${field}"`));
    });
  }
}

Deno.test("decodeRequest() throws EINVAL when subscribe names a subscriber without a channel", () => {
  rejects(line({ id: 1, op: "subscribe", subscriber: "x" }), "EINVAL", /"x": .*needs a channel/);
  rejects(line({ id: 1, op: "subscribe", subscriber: "x", channel: null }), "EINVAL");
});

Deno.test('decodeRequest() throws EINVAL naming "sub" when unsubscribe does not say which', () => {
  rejects(line({ id: 1, op: "unsubscribe" }), "EINVAL", /"sub"/);
  rejects(line({ id: 1, op: "unsubscribe", sub: null }), "EINVAL", /"sub"/);
});

Deno.test("decodeRequest() throws EINVAL when a number overflows to Infinity", () => {
  rejects('{"id":1,"op":"state","entity":"w","to":1e400}', "EINVAL", /"to"/);
  rejects('{"id":1,"op":"attach","entity":"w","pid":-1e400}', "EINVAL", /"pid"/);
});

Deno.test("decodeRequest() throws EINVAL when a pid is above the kernel's pid_max", () => {
  rejects(line({ id: 1, op: "attach", entity: "w", pid: 4194305 }), "EINVAL", /"pid"/);
  assert.equal(
    (decodeRequest(line({ id: 1, op: "attach", entity: "w", pid: 4194304 })) as { pid: number })
      .pid,
    4194304,
  );
});

Deno.test("decodeRequest() throws EINVAL when a state or raise value is above 32 bits", () => {
  rejects(line({ id: 1, op: "state", entity: "w", to: 2 ** 32 }), "EINVAL", /"to"/);
  rejects(line({ id: 1, op: "raise", entity: "w", rseverity: 2 ** 32 }), "EINVAL", /"rseverity"/);
});

Deno.test("decodeRequest() keeps an execute's time limit (0: none), and leaves it out when absent", () => {
  const params = (extra: Obj) =>
    (decodeRequest(
      line({ id: 1, op: "action", path: "w/c/a", kind: "execute", argv: ["/x"], ...extra }),
    ) as {
      params: unknown;
    }).params;
  assert.deepEqual(params({ timeoutMs: 0 }), { kind: "execute", argv: ["/x"], timeoutMs: 0 });
  assert.deepEqual(params({ timeoutMs: 2 ** 31 - 1 }), {
    kind: "execute",
    argv: ["/x"],
    timeoutMs: 2 ** 31 - 1,
  });
  assert.deepEqual(params({}), { kind: "execute", argv: ["/x"] });
  rejects(
    line({ id: 1, op: "action", path: "w/c/a", kind: "execute", argv: ["/x"], timeoutMs: 2 ** 31 }),
    "EINVAL",
    /"timeoutMs"/,
  );
});

Deno.test("decodeRequest() throws EINVAL when a waitfor delay is 0", () => {
  rejects(line({ id: 1, op: "action", path: "w/c/a", kind: "waitfor", delayMs: 0 }), "EINVAL");
});

Deno.test("decodeRequest() throws EINVAL when enable, disable or get-flags is given flags", () => {
  for (const command of ["enable", "disable", "get-flags"]) {
    rejects(
      line({ id: 1, op: "control", path: "w", command, flags: ["keep-on-death"] }),
      "EINVAL",
      new RegExp(`"${command}" takes no flags`),
    );
  }
  rejects(line({ id: 1, op: "control", path: "w", command: "enable", flags: "junk" }), "EINVAL");
});

Deno.test("decodeRequest() throws EINVAL when recurse is given to a flag command", () => {
  for (const command of ["add-flags", "remove-flags", "set-flags", "get-flags"]) {
    rejects(
      line({ id: 1, op: "control", path: "w/c", command, flags: 0, recurse: true }),
      "EINVAL",
      /"recurse" applies to enable and disable/,
    );
  }
});

Deno.test("decodeRequest() throws EINVAL when a condition of another type is given a state or raise match", () => {
  for (const [type, field] of [["death", "from"], ["raise", "to"], ["state", "rtype"]] as const) {
    rejects(
      line({ id: 1, op: "condition", path: "w/c", type, [field]: 3 }),
      "EINVAL",
      new RegExp(`"${field}": only a (state|raise) condition matches it, not a ${type} one`),
    );
  }
  // 0 is "any", which every condition matches.
  decodeRequest(line({ id: 1, op: "condition", path: "w/c", type: "death", from: 0, rtype: 0 }));
});

// ---------------------------------------------------------------------------
// attach, heartbeat, params

Deno.test("decodeRequest() throws EINVAL when attach has both a command and a pid", () => {
  rejects(line({ id: 1, op: "attach", entity: "w", argv: ["x"], pid: 5 }), "EINVAL", /either/);
});

Deno.test("decodeRequest() throws EINVAL when attach has neither a command nor a pid", () => {
  rejects(line({ id: 1, op: "attach", entity: "w" }), "EINVAL", /either/);
  rejects(line({ id: 1, op: "attach", entity: "w", argv: null, pid: null }), "EINVAL", /either/);
});

Deno.test("decodeRequest() throws EINVAL when the command is empty or not a list of strings", () => {
  for (
    const argv of [[], [""], ["a", 1], "ls", ["a\u0000b"], Array(DEFAULTS.maxArgv + 1).fill("x")]
  ) {
    rejects(line({ id: 1, op: "attach", entity: "w", argv }), "EINVAL", /"argv"/);
  }
});

Deno.test("decodeRequest() throws EINVAL when the cwd is relative or env is not an object of strings", () => {
  for (const op of ["attach", "check-attach"]) {
    rejects(line({ id: 1, op, entity: "w", argv: ["x"], cwd: "tmp" }), "EINVAL", /"cwd"/);
    for (const env of [[], "A=1", { A: 1 }, { "A=B": "1" }, { "": "1" }]) {
      rejects(line({ id: 1, op, entity: "w", argv: ["x"], env }), "EINVAL", /"env"/);
    }
  }
});

Deno.test("decodeRequest() throws EINVAL when check-attach has no command (it checks one)", () => {
  for (const argv of [undefined, null, [], [""]]) {
    rejects(line({ id: 1, op: "check-attach", entity: "w", argv }), "EINVAL", /"argv"/);
  }
  rejects(line({ id: 1, op: "check-attach", entity: "@w", argv: ["x"] }), "EINVAL", /reserved/);
});

Deno.test("decodeRequest() throws EINVAL naming the entry when an env key or value or the cwd holds a NUL", () => {
  rejects(
    line({ id: 1, op: "attach", entity: "w", argv: ["x"], env: { B: "1", A: "c\u0000d" } }),
    "EINVAL",
    /^Invalid field "env": entry "A" contains a NUL character$/,
  );
  rejects(
    line({ id: 1, op: "attach", entity: "w", argv: ["x"], env: { "A\u0000B": "1" } }),
    "EINVAL",
    /^Invalid field "env": entry "A\\u0000B" contains a NUL character$/,
  );
  rejects(
    line({ id: 1, op: "attach", entity: "w", argv: ["x"], cwd: "/tmp\u0000x" }),
    "EINVAL",
    /"cwd" .*NUL/,
  );
});

Deno.test("decodeRequest() says an empty notify channel must not be empty", () => {
  rejects(
    line({ id: 1, op: "notify", channel: "" }),
    "EINVAL",
    /^Invalid channel name "": must not be empty$/,
  );
});

Deno.test("decodeRequest() throws EINVAL when heartbeat low is above high", () => {
  rejects(
    line({
      id: 1,
      op: "attach-self",
      entity: "w",
      pid: 5,
      heartbeat: { periodMs: 10, low: 5, high: 4 },
    }),
    "EINVAL",
    /low 5 is above high 4/,
  );
});

Deno.test("decodeHeartbeat() answers no heartbeat when the period is 0, as QNX's hp 0", () => {
  assert.equal(decodeHeartbeat({ periodMs: 0, low: 5, high: 4 }), null);
  assert.equal(decodeHeartbeat({ periodMs: 0 }), null);
  assert.throws(() => decodeHeartbeat({ periodMs: -1 }), /"periodMs" -1/);
  assert.throws(() => decodeHeartbeat({ periodMs: 0, low: -1 }), /"low" -1/);
  const self = decodeRequest(
    line({ id: 1, op: "attach-self", entity: "w", pid: 5, heartbeat: { periodMs: 0 } }),
  );
  assert.equal((self as { heartbeat: unknown }).heartbeat, null);
});

Deno.test("decodeHeartbeat() accepts low above high when one of them is 0 (disabled)", () => {
  assert.deepEqual(decodeHeartbeat({ periodMs: 10, low: 5, high: 0 }), {
    periodMs: 10,
    low: 5,
    high: 0,
  });
  assert.deepEqual(decodeHeartbeat({ periodMs: 10, low: 4, high: 4 }), {
    periodMs: 10,
    low: 4,
    high: 4,
  });
  assert.equal(decodeHeartbeat(null), null);
});

Deno.test("decodeHeartbeat() throws EINVAL when it is not an object or the period is missing", () => {
  for (const v of [5, "x", [], {}, { low: 1 }]) {
    assert.throws(() => decodeHeartbeat(v), (e) => e instanceof HamError && e.code === "EINVAL");
  }
});

Deno.test("decodePolicy() fills the defaults and raises the cap to the first delay when given a partial policy", () => {
  assert.deepEqual(decodePolicy({ backoffMs: 60_000 }), {
    backoffMs: 60_000,
    maxBackoffMs: 60_000,
    jitter: 0,
    intensity: 5,
    windowMs: 10_000,
    cooldownMs: 0,
  });
  for (const jitter of [-0.1, 1.1, "0.5"]) {
    assert.throws(
      () => decodePolicy({ jitter }),
      (e) => e instanceof HamError && e.code === "EINVAL",
    );
  }
});

Deno.test("decodeRequest() throws EINVAL when an action kind is unknown or not allowed in a fail list", () => {
  rejects(line({ id: 1, op: "action", path: "w/c/a", kind: "reboot" }), "EINVAL", /kind/);
  rejects(line({ id: 1, op: "action", path: "w/c/a", kind: "toString" }), "EINVAL", /kind/);
  rejects(line({ id: 1, op: "action-fail", path: "w/c/a", name: "f", kind: "restart" }), "EINVAL");
  rejects(
    line({ id: 1, op: "action-fail", path: "w/c/a", name: "f", kind: "heartbeat-healthy" }),
    "EINVAL",
  );
});

Deno.test("decodeRequest() throws EINVAL when a condition type is unknown", () => {
  for (const type of ["reboot", "constructor", 1, null]) {
    rejects(line({ id: 1, op: "condition", path: "w/c", type }), "EINVAL", /condition type/);
  }
});

Deno.test("decodeRequest() throws EINVAL when flags name a flag of another item type", () => {
  rejects(line({ id: 1, op: "entity", entity: "w", flags: ["rearm"] }), "EINVAL", /"rearm"/);
  rejects(line({ id: 1, op: "entity", entity: "w", flags: 0x4 }), "EINVAL");
  rejects(
    line({ id: 1, op: "action", path: "w/c/a", kind: "log", message: "m", flags: ["nowait"] }),
    "EINVAL",
  );
});

Deno.test("decodeRequest() throws EINVAL when a flag name is an Object.prototype key", () => {
  rejects(line({ id: 1, op: "entity", entity: "w", flags: ["toString"] }), "EINVAL", /toString/);
  rejects(
    line({ id: 1, op: "control", path: "w/c", command: "set-flags", flags: ["constructor"] }),
    "EINVAL",
  );
});

Deno.test("decodeRequest() throws EINVAL when a waitfor path is relative", () => {
  rejects(
    line({ id: 1, op: "action", path: "w/c/a", kind: "waitfor", delayMs: 5, pathname: "run/x" }),
    "EINVAL",
    /"pathname"/,
  );
});

Deno.test("decodeRequest() throws EINVAL when a signal is unknown", () => {
  for (const signal of ["SIGFOO", 0, 65, "", 1.5]) {
    rejects(
      line({ id: 1, op: "action", path: "w/c/a", kind: "signal", signal }),
      "EINVAL",
      /signal/,
    );
  }
});

Deno.test("decodeRequest() throws EINVAL when a control or verbose command or wait target is unknown", () => {
  rejects(line({ id: 1, op: "control", path: "w", command: "reboot" }), "EINVAL");
  rejects(line({ id: 1, op: "verbose", command: "louder" }), "EINVAL");
  rejects(line({ id: 1, op: "verbose", command: "set" }), "EINVAL", /"value"/);
  rejects(line({ id: 1, op: "wait", entity: "w", for: "godot" }), "EINVAL");
});

Deno.test("encodeResponse() writes one line when given a result or an error", () => {
  assert.equal(
    encodeResponse({ id: 3, ok: true, result: { path: "a\nb" } }),
    '{"id":3,"ok":true,"result":{"path":"a\\nb"}}',
  );
  const err = new HamError("ENOENT", 'Cannot find entity "x"');
  assert.equal(
    encodeResponse({ id: 4, ok: false, error: err.toJSON() }),
    '{"id":4,"ok":false,"error":{"code":"ENOENT","message":"Cannot find entity \\"x\\""}}',
  );
});

// ---------------------------------------------------------------------------
// Fuzz: never anything but a HamError, never a non-finite number in a result

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIRD_STRINGS = [
  "",
  "/",
  "a/b",
  "@global",
  "@x",
  ".",
  "..",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "\u0000",
  "\n",
  "é".repeat(200),
  "x".repeat(300),
  "NaN",
  "-1",
  "1e400",
  "SIGKILL",
  "rearm",
  "death",
  "restart",
  "/tmp/x",
];

const WEIRD_NUMBERS = [0, -0, 1, -1, 2 ** 31, 2 ** 32, 2 ** 53, 1e20, 1.5, -1e-9, 4194304];

function randomValue(rand: () => number, depth = 0): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const r = rand();
  if (r < 0.2) return pick(WEIRD_NUMBERS);
  if (r < 0.4) return pick(WEIRD_STRINGS);
  if (r < 0.5) return pick([null, true, false]);
  if (r < 0.7 && depth < 4) {
    return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  }
  if (depth < 4) {
    const o: Obj = {};
    for (let i = Math.floor(rand() * 4); i > 0; i--) {
      o[pick([...FIELD_NAMES, ...WEIRD_STRINGS])] = randomValue(rand, depth + 1);
    }
    return o;
  }
  return Math.floor(rand() * 100);
}

const FIELD_NAMES = [
  "id",
  "op",
  "entity",
  "argv",
  "pid",
  "cwd",
  "env",
  "flags",
  "heartbeat",
  "periodMs",
  "low",
  "high",
  "path",
  "type",
  "from",
  "to",
  "rtype",
  "rclass",
  "rseverity",
  "kind",
  "signal",
  "delayMs",
  "pathname",
  "message",
  "prefix",
  "verbosity",
  "channel",
  "code",
  "value",
  "policy",
  "jitter",
  "name",
  "command",
  "recurse",
  "for",
  "timeoutMs",
  "since",
  "limit",
  "version",
  "client",
];

const SEEDS: string[] = VALID.map(([, input]) => line(input));

function mutateText(rand: () => number, s: string): string {
  const alphabet = '{}[]":,0123456789-.eE+ntrufalsx\\/@é\u0000';
  const at = Math.floor(rand() * (s.length + 1));
  switch (Math.floor(rand() * 5)) {
    case 0:
      return s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 5));
    case 1:
      return s.slice(0, at) + alphabet[Math.floor(rand() * alphabet.length)] + s.slice(at);
    case 2:
      return s.slice(0, at);
    case 3: {
      const len = Math.floor(rand() * 10);
      return s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
    }
    default:
      return s.replace(/\d+/, JSON.stringify(randomValue(rand)));
  }
}

function mutateValue(rand: () => number, o: Obj): Obj {
  const keys = Object.keys(o);
  const r = rand();
  if (r < 0.4 && keys.length > 0) {
    o[keys[Math.floor(rand() * keys.length)]] = randomValue(rand);
  } else if (r < 0.6 && keys.length > 0) {
    delete o[keys[Math.floor(rand() * keys.length)]];
  } else {
    o[FIELD_NAMES[Math.floor(rand() * FIELD_NAMES.length)]] = randomValue(rand);
  }
  return o;
}

function assertFinite(v: unknown, where: string): void {
  if (typeof v === "number") assert.ok(Number.isFinite(v), `non-finite number at ${where}`);
  else if (Array.isArray(v)) v.forEach((x, i) => assertFinite(x, `${where}[${i}]`));
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) assertFinite(x, `${where}.${k}`);
  }
}

function check(input: string): "ok" | "error" {
  try {
    const req = decodeRequest(input);
    assert.equal(typeof req.id, "number");
    assert.equal(typeof req.op, "string");
    assertFinite(req, "request");
    return "ok";
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    if (!(err instanceof HamError) || !isErrorCode(err.code)) {
      throw new assert.AssertionError({
        message: `decodeRequest() threw ${err} for ${JSON.stringify(input.slice(0, 300))}`,
      });
    }
    return "error";
  }
}

Deno.test("decodeRequest() throws only HamError when fuzzed with 6000 mutated and random lines", () => {
  const rand = prng(0x4a4d);
  const tally = { ok: 0, error: 0 };
  for (let i = 0; i < 2000; i++) {
    let s = SEEDS[Math.floor(rand() * SEEDS.length)];
    for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) s = mutateText(rand, s);
    tally[check(s)]++;
  }
  for (let i = 0; i < 3000; i++) {
    const o = JSON.parse(SEEDS[Math.floor(rand() * SEEDS.length)]) as Obj;
    for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) mutateValue(rand, o);
    tally[check(line(o))]++;
  }
  for (let i = 0; i < 1000; i++) {
    const ops = [...new Set(VALID.map(([, input]) => input.op as string))];
    const o = randomValue(rand) as Obj;
    const r = rand();
    const input = r < 0.3 ? o : {
      ...(o && typeof o === "object" && !Array.isArray(o) ? o : {}),
      id: i,
      op: ops[i % ops.length],
    };
    tally[check(line(input))]++;
  }
  // The corpus exercises both outcomes.
  assert.ok(tally.ok > 100, `only ${tally.ok} lines decoded`);
  assert.ok(tally.error > 1000, `only ${tally.error} lines refused`);
});

Deno.test("decodeRequest() throws only HamError when a field is nested 100000 levels deep", () => {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  for (
    const input of [
      `{"id":${deep},"op":"ping"}`,
      `{"id":1,"op":"attach","entity":"a","pid":${deep}}`,
      `{"id":1,"op":"condition","path":"a/b","type":${deep}}`,
      `{"id":1,"op":"entity","entity":${deep}}`,
      `{"id":1,"op":"attach","entity":"a","argv":["x"],"flags":${deep}}`,
    ]
  ) {
    assert.equal(check(input), "error");
  }
});

Deno.test("decodeRequest() refuses a lone surrogate anywhere with EINVAL, and keeps pairs", () => {
  const lone = [
    String.raw`{"id":1,"op":"entity","entity":"a\ud800b","flags":0}`,
    String.raw`{"id":1,"op":"entity","entity":"\udfff","flags":0}`,
    String
      .raw`{"id":1,"op":"attach","entity":"w","argv":["/bin/sh","\ud83d"],"pid":null,"cwd":null,"env":null,"flags":0,"heartbeat":null}`,
    String
      .raw`{"id":1,"op":"attach","entity":"w","argv":["/bin/true"],"pid":null,"cwd":null,"env":{"\uDC00":"x"},"flags":0,"heartbeat":null}`,
  ];
  for (const line of lone) {
    assert.throws(() => decodeRequest(line), (err: HamError) => {
      assert.equal(err.code, "EINVAL", line);
      assert.match(err.message, /not well-formed UTF-16 \(a lone surrogate\)/);
      return true;
    });
  }
  const pair = decodeRequest(String.raw`{"id":1,"op":"entity","entity":"a\ud83d\ude00","flags":0}`);
  assert.equal((pair as { entity: string }).entity, "a😀");
});

Deno.test("decodeRequest() throws only HamError for a lone surrogate nested 100000 levels deep", () => {
  const line = `{"id":1,"op":"entity","entity":"w","flags":0,"x":${"[".repeat(100_000)}"\\ud800"${
    "]".repeat(100_000)
  }}`;
  assert.throws(() => decodeRequest(line), (err: HamError) => err instanceof HamError);
});

Deno.test("decodeRequest() keeps the node of a notify or signal action that names one", () => {
  const far = decodeRequest(
    line({ id: 1, op: "action", path: "w/d/far", kind: "notify", channel: "ops", node: "n2" }),
  );
  assert.ok(far.op === "action");
  assert.deepEqual(far.params, { kind: "notify", channel: "ops", code: 0, value: 0, node: "n2" });
  const hup = decodeRequest(line({
    id: 2,
    op: "action-fail",
    path: "w/d/far",
    name: "hup",
    kind: "signal",
    signal: "HUP",
    node: "n2",
    entity: "db",
  }));
  assert.ok(hup.op === "action-fail");
  assert.deepEqual(hup.params, { kind: "signal", pid: null, signal: 1, node: "n2", entity: "db" });
  const local = decodeRequest(
    line({ id: 3, op: "action", path: "w/d/n", kind: "notify", channel: "ops", node: null }),
  );
  assert.ok(local.op === "action" && !("node" in local.params));
});

Deno.test("decodeRequest() throws EINVAL for a bad node, or a node signal without its entity", () => {
  const action = (o: Obj) => line({ id: 1, op: "action", path: "w/d/a", ...o });
  rejects(action({ kind: "notify", channel: "ops", node: "no/de" }), "EINVAL", /node name/);
  rejects(action({ kind: "notify", channel: "ops", node: "" }), "EINVAL", /node name/);
  rejects(action({ kind: "signal", node: "n2" }), "EINVAL", /give "entity", not "pid"/);
  rejects(action({ kind: "signal", node: "n2", entity: "db", pid: 7 }), "EINVAL", /not "pid"/);
  rejects(action({ kind: "signal", entity: "db" }), "EINVAL", /only with "node"/);
  rejects(action({ kind: "signal", node: "n2", entity: "a/b" }), "EINVAL");
});

Deno.test("decodeRequest() decodes a notify request with its defaults", () => {
  assert.deepEqual(decodeRequest(line({ id: 4, op: "notify", channel: "ops" })), {
    id: 4,
    op: "notify",
    channel: "ops",
    code: 0,
    value: 0,
    entity: null,
    condition: null,
    action: null,
  });
  rejects(line({ id: 5, op: "notify", channel: "a/b" }), "EINVAL");
  rejects(line({ id: 6, op: "notify", channel: "ops", code: 2 ** 31 }), "EINVAL");
});

Deno.test("decodeRequest() throws EINVAL when an attach's killMode is not a kill mode", () => {
  rejects(
    line({ id: 1, op: "attach", entity: "w", argv: ["/bin/true"], killMode: "group" }),
    "EINVAL",
    /"killMode" "group": expected control-group or process/,
  );
  const ok = decodeRequest(
    line({ id: 1, op: "attach", entity: "w", argv: ["/bin/true"], killMode: "process" }),
  );
  assert.equal(ok.op === "attach" && ok.killMode, "process");
});

Deno.test("decodeRequest() decodes the library's heartbeat line as the generic path does", () => {
  // The library's field order takes the fast path; the same fields in another order do not.
  const fields = [
    { entity: "w", reply: false },
    { entity: "w" },
    { entity: null },
    { entity: "w-ü.1", reply: true },
  ];
  for (const [i, f] of fields.entries()) {
    const fast = decodeRequest(JSON.stringify({ ...f, id: 40 + i, op: "heartbeat" }));
    const generic = decodeRequest(JSON.stringify({ op: "heartbeat", id: 40 + i, ...f }));
    assert.deepEqual(fast, generic);
  }
  // Refused the same way: a reserved name, a control character, a leading zero.
  for (
    const line of [
      '{"entity":"@x","id":1,"op":"heartbeat"}',
      '{"entity":"a\u0001","id":1,"op":"heartbeat"}',
      '{"entity":"a","id":01,"op":"heartbeat"}',
    ]
  ) {
    let fastCode = "";
    try {
      decodeRequest(line);
    } catch (err) {
      fastCode = (err as HamError).code;
    }
    assert.ok(fastCode !== "", `refused: ${line}`);
  }
});

Deno.test("decodeRequest() replaces control characters in a hello's client name (the HAM logs it)", () => {
  const forged = 'x\n2026-12-04T22:14:11.133Z ham[1] notice: Entity "db" died\u0085';
  const r = decodeRequest(JSON.stringify({ id: 0, op: "hello", version: 1, client: forged }));
  assert.ok(r.op === "hello");
  assert.equal(r.client, 'x?2026-12-04T22:14:11.133Z ham[1] notice: Entity "db" died?');
});

Deno.test("decodeRequest() refuses a signal action's code and value rather than drop them", () => {
  for (const field of ["code", "value"]) {
    const line = JSON.stringify({
      id: 1,
      op: "action",
      path: "sg/r/s",
      kind: "signal",
      signal: 34,
      [field]: 5,
    });
    assert.throws(
      () => decodeRequest(line),
      (e) => e instanceof HamError && e.code === "EINVAL" && e.message.includes(`"${field}"`),
    );
  }
});
