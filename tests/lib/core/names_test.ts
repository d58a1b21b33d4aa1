import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import {
  formatPath,
  GLOBAL_ENTITY,
  parsePath,
  validateEntityName,
  validateName,
} from "../../../lib/core/names.ts";
import { DEFAULTS } from "../../../lib/core/defaults.ts";

function fails(code: HamError["code"], fn: () => unknown, text?: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof HamError);
    assert.equal(e.code, code);
    if (text) assert.match(e.message, text);
    return true;
  });
}

Deno.test("validateName() returns the name when it is a valid path component", () => {
  for (
    const name of [
      "web",
      "a.b",
      "...",
      "-",
      "with space",
      "ünïcode",
      "a".repeat(DEFAULTS.maxPathBytes),
    ]
  ) {
    assert.equal(validateName("entity", name), name);
  }
});

Deno.test("validateName() throws EINVAL when the name is empty or not a string", () => {
  for (const name of [undefined, null, 5, ["a"], { a: 1 }]) {
    fails("EINVAL", () => validateName("condition", name), /condition name .*: must be a string$/);
  }
  fails(
    "EINVAL",
    () => validateName("channel", ""),
    /^Invalid channel name "": must not be empty$/,
  );
  fails("EINVAL", () => validateEntityName(""), /^Invalid entity name "": must not be empty$/);
});

Deno.test("validateName() throws EINVAL when the name contains a slash", () => {
  fails("EINVAL", () => validateName("action", "a/b"), /contains "\/"/);
  fails("EINVAL", () => validateName("action", "/"));
});

Deno.test("validateName() throws EINVAL when the name is . or ..", () => {
  fails("EINVAL", () => validateName("entity", "."));
  fails("EINVAL", () => validateName("entity", ".."));
});

Deno.test("validateName() throws EINVAL when the name has a control character", () => {
  for (const name of ["a\u0000", "\t", "a\nb", "\u001f", "\u007f"]) {
    fails("EINVAL", () => validateName("entity", name), /control character/);
  }
});

Deno.test("validateName() throws ENAMETOOLONG when the name is over 255 UTF-8 bytes", () => {
  fails("ENAMETOOLONG", () => validateName("entity", "a".repeat(DEFAULTS.maxPathBytes + 1)));
  // 128 two-byte characters: 128 characters but 256 bytes.
  fails("ENAMETOOLONG", () => validateName("entity", "é".repeat(128)));
  assert.equal(validateName("entity", "é".repeat(127) + "a"), "é".repeat(127) + "a");
});

Deno.test("validateEntityName() accepts @global when the global entity is allowed", () => {
  assert.equal(validateEntityName(GLOBAL_ENTITY), GLOBAL_ENTITY);
});

Deno.test("validateEntityName() throws EINVAL when @global is not allowed", () => {
  fails("EINVAL", () => validateEntityName(GLOBAL_ENTITY, false), /reserved/);
});

Deno.test("validateEntityName() throws EINVAL when another name starts with @", () => {
  for (const name of ["@", "@x", "@Global", "@global2"]) {
    fails("EINVAL", () => validateEntityName(name), /reserved/);
  }
  assert.equal(validateEntityName("a@b"), "a@b");
});

Deno.test("parsePath() splits the components when the depth matches", () => {
  assert.deepEqual(parsePath("web", 1), { entity: "web" });
  assert.deepEqual(parsePath("web/died", 2), { entity: "web", condition: "died" });
  assert.deepEqual(parsePath("web/died/restart", 3), {
    entity: "web",
    condition: "died",
    action: "restart",
  });
  assert.deepEqual(parsePath(`${GLOBAL_ENTITY}/c`, "any"), {
    entity: GLOBAL_ENTITY,
    condition: "c",
  });
});

Deno.test("parsePath() throws EINVAL naming the expected form when the depth is wrong", () => {
  fails("EINVAL", () => parsePath("web", 2), /ENTITY\/CONDITION/);
  fails("EINVAL", () => parsePath("web/c", 3), /ENTITY\/CONDITION\/ACTION/);
  fails("EINVAL", () => parsePath("web/c", 1), /expected ENTITY"?$/);
  fails("EINVAL", () => parsePath("a/b/c/d", "any"), /ENTITY\[\/CONDITION\[\/ACTION\]\]/);
});

Deno.test("parsePath() throws EINVAL when a component is empty", () => {
  for (const p of ["/c", "web/", "web//a", "web/c/", ""]) {
    fails("EINVAL", () => parsePath(p, "any"));
  }
});

Deno.test("parsePath() throws EINVAL when the path is not a string", () => {
  for (const p of [null, undefined, 5, ["web"], { entity: "web" }]) {
    fails("EINVAL", () => parsePath(p, "any"));
  }
});

Deno.test("parsePath() throws EINVAL when a component is reserved or has a control character", () => {
  fails("EINVAL", () => parsePath("@x/c", 2), /reserved/);
  fails("EINVAL", () => parsePath("web/../a", 3));
  fails("EINVAL", () => parsePath("web/a\u0001", 2));
});

Deno.test("parsePath() throws ENAMETOOLONG when the whole path is over 255 bytes", () => {
  const ok = `${"a".repeat(100)}/${"b".repeat(100)}/${"c".repeat(53)}`;
  assert.equal(new TextEncoder().encode(ok).length, 255);
  assert.equal(parsePath(ok, 3).action, "c".repeat(53));
  fails("ENAMETOOLONG", () => parsePath(`${ok}c`, 3));
  fails("ENAMETOOLONG", () => parsePath(`web/${"é".repeat(126)}`, 2));
});

Deno.test("formatPath() joins the components when given a parsed path", () => {
  for (const p of ["web", "web/died", "web/died/restart", `${GLOBAL_ENTITY}/c/a`]) {
    assert.equal(formatPath(parsePath(p, "any")), p);
  }
});

Deno.test("validateName() refuses bidirectional-control characters that make status lie", () => {
  for (const c of ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u061c"]) {
    fails("EINVAL", () => validateName("entity", `web${c}bew`), /bidirectional control/);
  }
});

Deno.test("validateName() refuses zero-width characters and C1 controls", () => {
  for (const c of ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]) {
    fails("EINVAL", () => validateName("entity", `we${c}b`), /zero-width/);
  }
  fails("EINVAL", () => validateName("entity", "web\u0085"), /control character/);
});

Deno.test("validateName() still accepts other non-ASCII names", () => {
  assert.equal(validateName("entity", "сервис-日本-é"), "сервис-日本-é");
});
