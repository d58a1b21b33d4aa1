import assert from "node:assert/strict";
import { parseOptions } from "../../../cli/hamctl/parse_args.ts";

const SPEC = { pid: { type: "string" }, wait: { type: "boolean" } } as const;

Deno.test("parseOptions() takes --name VALUE, --name=VALUE, booleans and positionals in any order", () => {
  assert.deepEqual(parseOptions(["web", "--pid", "42", "--wait", "-", "x"], SPEC), {
    values: { pid: "42", wait: true },
    positionals: ["web", "-", "x"],
  });
  assert.deepEqual(parseOptions(["--pid=-7", "--pid=8"], SPEC).values, { pid: "8" });
  assert.deepEqual(parseOptions(["--pid="], SPEC).values, { pid: "" });
});

Deno.test("parseOptions() names the option when one is unknown, missing its value or given one it does not take", () => {
  assert.throws(() => parseOptions(["--bogus"], SPEC), /^Error: Unknown option "--bogus"$/);
  assert.throws(() => parseOptions(["-p"], SPEC), /Unknown option "-p"/);
  assert.throws(() => parseOptions(["--toString"], SPEC), /Unknown option "--toString"/);
  assert.throws(() => parseOptions(["--pid"], SPEC), /Option "--pid <value>" argument missing/);
  assert.throws(() => parseOptions(["--wait=yes"], SPEC), /"--wait" does not take an argument/);
  assert.throws(() => parseOptions(["--pid", "--wait"], SPEC), /ambiguous.*--pid=--wait/);
});
