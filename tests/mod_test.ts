import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

async function deno(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

Deno.test("mod.ts exports at most 60 names, each documented", async () => {
  const r = await deno("doc", "--json", "mod.ts");
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { nodes: Record<string, { symbols?: { name: string }[] }> };
  const names = new Set(
    Object.values(doc.nodes).flatMap((m) => (m.symbols ?? []).map((s) => s.name)),
  );
  assert.ok(names.size <= 60, `mod.ts exports ${names.size} names: ${[...names].sort().join(" ")}`);
});

Deno.test("deno doc --lint is clean on the entry points mod.ts and ha.ts", async () => {
  const r = await deno("doc", "--lint", "mod.ts", "ha.ts");
  assert.equal(r.code, 0, r.err);
});

/** The exported names of an entry point whose declarations carry no `@example`. */
async function withoutExample(entry: string): Promise<string[]> {
  const r = await deno("doc", "--json", entry);
  assert.equal(r.code, 0, r.err);
  type Decl = { jsDoc?: { tags?: { kind: string }[] } };
  const doc = JSON.parse(r.out) as {
    nodes: Record<string, { symbols?: { name: string; declarations?: Decl[] }[] }>;
  };
  return Object.values(doc.nodes).flatMap((m) => m.symbols ?? [])
    .filter((s) =>
      !(s.declarations ?? []).some((d) => d.jsDoc?.tags?.some((t) => t.kind === "example"))
    )
    .map((s) => s.name);
}

Deno.test("every export of mod.ts has an @example (run by the test task's deno test --doc)", async () => {
  assert.deepEqual(await withoutExample("mod.ts"), []);
});

Deno.test("every export of ha.ts has an @example (run by the test task's deno test --doc)", async () => {
  assert.deepEqual(await withoutExample("ha.ts"), []);
});
