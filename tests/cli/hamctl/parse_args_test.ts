import assert from "node:assert/strict";
import { parseOptions, parseRoleOptions } from "../../../cli/hamctl/parse_args.ts";

Deno.test("parseOptions() gathers a multiple option's values and a group of short booleans", () => {
  const p = parseOptions(["-vv", "--role", "a", "--role=b", "x"], {
    v: { type: "boolean", short: "v", multiple: true },
    role: { type: "string", multiple: true },
  });
  assert.deepEqual(p.values, { v: [true, true], role: ["a", "b"] });
  assert.deepEqual(p.positionals, ["x"]);
});

Deno.test("parseRoleOptions() refuses a positional and an unknown option", () => {
  const spec = { "state-dir": { type: "string" }, foreground: { type: "boolean" } } as const;
  assert.deepEqual(parseRoleOptions(["--state-dir", "/s", "--foreground"], spec), {
    "state-dir": "/s",
    foreground: true,
  });
  assert.throws(() => parseRoleOptions(["extra"], spec), /Unexpected argument "extra"/);
  assert.throws(() => parseRoleOptions(["--bogus"], spec), /Unknown option "--bogus"/);
});
