import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** The modules `hamctl ping` and `hamctl status` load: static imports, plus their families. */
async function startupModules(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${ROOT}cli/hamctl_main.ts`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "deno info failed");
  const modules = new Map<string, InfoModule>();
  for (const m of JSON.parse(new TextDecoder().decode(out.stdout)).modules as InfoModule[]) {
    modules.set(m.specifier, m);
  }
  const families = ["control.ts", "status.ts"].map((f) => `file://${ROOT}cli/hamctl/${f}`);
  const seen = new Set<string>();
  const visit = (spec: string) => {
    if (seen.has(spec)) return;
    seen.add(spec);
    for (const d of modules.get(spec)?.dependencies ?? []) {
      const target = d.code?.specifier;
      if (target && (!d.isDynamic || families.includes(target))) visit(target);
    }
  };
  visit(`file://${ROOT}cli/hamctl_main.ts`);
  return [...seen];
}

Deno.test("hamctl_main.ts loads no node: or npm: module on the path of ping and status", async () => {
  const modules = await startupModules();
  assert.ok(modules.some((m) => m.endsWith("/cli/hamctl/status.ts")), "status family not found");
  assert.deepEqual(modules.filter((m) => !m.startsWith("file://")), []);
});
