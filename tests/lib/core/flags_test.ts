import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import {
  ACTION_KINDS,
  CONDITION_TYPES,
  CORE_SIGNALS,
  FAIL_KINDS,
  flagNames,
  HACTIONBREAKONFAIL,
  HACTIONDONOW,
  HACTIONKEEPONFAIL,
  HCONDINDEPENDENT,
  HCONDKEEPONEMPTY,
  HCONDNOWAIT,
  HCONDOTHER,
  HCONDSTATEFROMINV,
  HCONDSTATEFROMSET,
  HCONDSTATETOINV,
  HCONDSTATETOSET,
  HENTITYKEEPONDEATH,
  HREARMAFTERRESTART,
  HRECURSE,
  isActionKind,
  isConditionType,
  parseFlags,
  parseSignal,
  signalName,
  SIGNALS,
  validFlagMask,
} from "../../../lib/core/flags.ts";

function einval(fn: () => unknown, text?: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof HamError);
    assert.equal(e.code, "EINVAL");
    if (text) assert.match(e.message, text);
    return true;
  });
}

Deno.test("flag constants have QNX's <ha/ham.h> values when compared to the header", () => {
  assert.deepEqual(
    [
      HREARMAFTERRESTART,
      HCONDINDEPENDENT,
      HCONDNOWAIT,
      HCONDOTHER,
      HCONDKEEPONEMPTY,
      HCONDSTATEFROMSET,
      HCONDSTATETOSET,
      HCONDSTATEFROMINV,
      HCONDSTATETOINV,
      HACTIONDONOW,
      HACTIONBREAKONFAIL,
      HACTIONKEEPONFAIL,
      HENTITYKEEPONDEATH,
      HRECURSE,
    ],
    [0x1, 0x2, 0x4, 0x8, 0x10, 0x1000, 0x2000, 0x4000, 0x8000, 0x2, 0x4, 0x8, 0x2, 0x100000],
  );
  assert.deepEqual(
    [
      CONDITION_TYPES.any,
      CONDITION_TYPES.death,
      CONDITION_TYPES["abnormal-death"],
      CONDITION_TYPES.raise,
    ],
    [0, 1, 6, 9],
  );
  assert.deepEqual([ACTION_KINDS.restart, ACTION_KINDS.waitfor, ACTION_KINDS.log], [1, 5, 7]);
});

Deno.test("validFlagMask() covers exactly each item type's flags when asked per type", () => {
  assert.equal(validFlagMask("entity"), HENTITYKEEPONDEATH);
  assert.equal(validFlagMask("condition"), 0x1f | 0xf000);
  assert.equal(validFlagMask("action"), 0xf);
});

Deno.test("parseFlags() returns 0 when the value is absent", () => {
  assert.equal(parseFlags("condition", undefined), 0);
  assert.equal(parseFlags("condition", null), 0);
  assert.equal(parseFlags("condition", []), 0);
});

Deno.test("parseFlags() returns the word when given a number of valid bits", () => {
  assert.equal(parseFlags("condition", 0x15), 0x15);
  assert.equal(parseFlags("action", 0xf), 0xf);
  assert.equal(parseFlags("entity", 0x2), 0x2);
});

Deno.test("parseFlags() ORs the bits when given a list of names", () => {
  assert.equal(parseFlags("condition", ["rearm", "nowait", "keep-on-empty"]), 0x15);
  assert.equal(parseFlags("action", ["do-now", "keep-on-fail"]), HACTIONDONOW | HACTIONKEEPONFAIL);
  assert.equal(parseFlags("entity", ["keep-on-death", "keep-on-death"]), HENTITYKEEPONDEATH);
});

Deno.test("parseFlags() throws EINVAL naming the valid bits when a number has other bits", () => {
  einval(() => parseFlags("entity", 0x1), /valid bits are 0x2/);
  einval(() => parseFlags("action", 0x10));
  einval(() => parseFlags("condition", HRECURSE));
  einval(() => parseFlags("condition", 0x80000000));
});

Deno.test("parseFlags() throws EINVAL when the number is negative, fractional or too large", () => {
  for (const v of [-1, 1.5, 2 ** 32, NaN, Infinity]) einval(() => parseFlags("condition", v));
});

Deno.test("parseFlags() throws EINVAL naming the flag and the choices when a name is unknown or of another item", () => {
  einval(() => parseFlags("entity", ["rearm"]), /"rearm": expected one of keep-on-death/);
  einval(() => parseFlags("action", ["nowait"]), /"nowait"/);
  einval(() => parseFlags("condition", ["NOWAIT"]));
  einval(() => parseFlags("condition", [1]));
  einval(() => parseFlags("condition", [null]));
});

Deno.test("parseFlags() throws EINVAL when the value is neither a number nor a list", () => {
  for (const v of ["rearm", true, { rearm: true }]) einval(() => parseFlags("condition", v));
});

Deno.test("parseFlags() throws EINVAL when a flag name is an Object.prototype key", () => {
  for (const name of ["toString", "constructor", "hasOwnProperty", "valueOf", "__proto__"]) {
    einval(() => parseFlags("entity", [name]), new RegExp(name));
  }
});

Deno.test("flagNames() names the set bits in table order when given a word", () => {
  assert.deepEqual(flagNames("condition", 0x15), ["rearm", "nowait", "keep-on-empty"]);
  assert.deepEqual(flagNames("action", 0x3), ["rearm", "do-now"]);
  assert.deepEqual(flagNames("entity", 0x2), ["keep-on-death"]);
  assert.deepEqual(flagNames("entity", 0), []);
});

Deno.test("flagNames() round-trips through parseFlags() when the word is valid", () => {
  for (const item of ["entity", "condition", "action"] as const) {
    const mask = validFlagMask(item);
    for (let w = 0; w <= 0xffff; w += 1) {
      if ((w & ~mask) !== 0) continue;
      assert.equal(parseFlags(item, flagNames(item, w)), w);
    }
  }
});

Deno.test("isConditionType() accepts only the table's names when given anything", () => {
  for (const t of Object.keys(CONDITION_TYPES)) assert.ok(isConditionType(t));
  for (const t of ["toString", "constructor", "DEATH", "", 1, null]) {
    assert.equal(isConditionType(t), false);
  }
});

Deno.test("isActionKind() accepts only the table's names when given anything", () => {
  for (const k of Object.keys(ACTION_KINDS)) assert.ok(isActionKind(k));
  for (const k of ["toString", "__proto__", "exec", 2]) assert.equal(isActionKind(k), false);
});

Deno.test("FAIL_KINDS excludes restart and heartbeat-healthy when compared to QNX's list", () => {
  assert.deepEqual([...FAIL_KINDS].sort(), ["execute", "log", "notify", "signal", "waitfor"]);
});

Deno.test("CORE_SIGNALS holds the core-dumping signals and not the plain ones", () => {
  for (const s of ["SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGQUIT"]) {
    assert.ok(CORE_SIGNALS.has(s), s);
  }
  for (const s of ["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGUSR1"]) {
    assert.equal(CORE_SIGNALS.has(s), false, s);
  }
});

Deno.test("parseSignal() returns the number when given a name with or without SIG, in any case", () => {
  assert.equal(parseSignal("TERM"), 15);
  assert.equal(parseSignal("SIGTERM"), 15);
  assert.equal(parseSignal("sigkill"), 9);
  assert.equal(parseSignal("usr1"), 10);
});

Deno.test("parseSignal() returns the number when given a number or digits from 1 to 64", () => {
  assert.equal(parseSignal(1), 1);
  assert.equal(parseSignal(64), 64);
  assert.equal(parseSignal("34"), 34);
});

Deno.test("parseSignal() throws EINVAL when the signal is unknown or out of range", () => {
  for (
    const v of [0, 65, -9, 1.5, "", "SIG", "SIGFOO", "SIGCONSTRUCTOR", "constructor", "9x", null, [
      9,
    ]]
  ) {
    einval(() => parseSignal(v), /Invalid signal/);
  }
});

Deno.test("signalName() names the signal when the number is known, else SIG<n>", () => {
  assert.equal(signalName(9), "SIGKILL");
  assert.equal(signalName(11), "SIGSEGV");
  assert.equal(signalName(40), "SIG40");
  for (const [name, n] of Object.entries(SIGNALS)) assert.equal(signalName(n), name);
});
