import assert from "node:assert/strict";
import { FAMILIES, isSubcommand, loadSubcommand } from "../../../cli/hamctl/registry.ts";

Deno.test("FAMILIES lists exactly the subcommands each family file defines, in its order", async () => {
  for (const family of FAMILIES) {
    const defined = (await family.load()).map((s) => s.name);
    assert.deepEqual([...family.names].sort(), defined.sort(), family.file);
  }
  const all = FAMILIES.flatMap((f) => f.names);
  assert.equal(new Set(all).size, all.length, "a name is listed twice");
});

Deno.test("loadSubcommand() returns the definition of a name, and undefined for an unknown one", async () => {
  assert.equal((await loadSubcommand("ping"))?.name, "ping");
  assert.equal(await loadSubcommand("frobnicate"), undefined);
  assert.ok(isSubcommand("status"));
  assert.ok(!isSubcommand("frobnicate"));
});
