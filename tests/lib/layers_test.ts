/**
 * The layer rule of `lib/` (README, "Layout"): each folder imports only the folders before it
 * in {@linkcode LAYERS}, `core` does no I/O (no `Deno.*` but `Deno.errors`, no `node:`, no
 * `npm:`), nothing in `lib/` imports what sits on top of it, and no module imports itself
 * through others, type-only imports included.
 */
import assert from "node:assert/strict";

/** The layers of `lib/`, lowest first. */
const LAYERS = ["core", "os", "store", "client", "ha", "engine", "cluster", "daemon"] as const;

const ROOT = new URL("../../", import.meta.url);

/** One import of a module: the specifier as written and the line it is on. */
interface Import {
  specifier: string;
  line: number;
}

/** Every static, re-export and dynamic import of a module's source, type-only ones included. */
export function importsOf(source: string): Import[] {
  const out: Import[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?[^;'"]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      out.push({ specifier: m[1], line: text.slice(0, m.index).split("\n").length });
    }
  }
  return out;
}

/** The repository-relative paths of every `.ts` file under `dir`. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...files(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Resolves a relative specifier against the importing file (repository-relative paths). */
function resolve(from: string, specifier: string): string {
  const url = new URL(specifier, new URL(from, "file:///repo/"));
  return url.pathname.replace(/^\/repo\//, "");
}

function layerOf(path: string): number {
  const folder = /^lib\/([^/]+)\//.exec(path)?.[1];
  return folder === undefined ? Infinity : LAYERS.indexOf(folder as typeof LAYERS[number]);
}

/** The import graph of `lib/`: file → the `lib/` files it imports. */
function graph(): Map<string, { target: string; line: number }[]> {
  const g = new Map<string, { target: string; line: number }[]>();
  for (const file of files("lib")) {
    const source = Deno.readTextFileSync(new URL(file, ROOT));
    g.set(
      file,
      importsOf(source).filter((i) => i.specifier.startsWith("."))
        .map((i) => ({ target: resolve(file, i.specifier), line: i.line })),
    );
  }
  return g;
}

/** The strongly connected components with more than one module (Tarjan), or a self-import. */
export function cycles(g: Map<string, { target: string }[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const { target: w } of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).some((e) => e.target === v)) found.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("lib/ folders are each a known layer", () => {
  const folders = [...Deno.readDirSync(new URL("lib", ROOT))].filter((e) => e.isDirectory)
    .map((e) => e.name);
  const loose = [...Deno.readDirSync(new URL("lib", ROOT))].filter((e) => e.isFile)
    .map((e) => e.name);
  assert.deepEqual(folders.filter((f) => layerOf(`lib/${f}/x.ts`) < 0), []);
  assert.deepEqual(loose, [], "every module of lib/ is in a layer folder");
});

Deno.test("lib/ modules import only their own layer and the layers below it", () => {
  const bad: string[] = [];
  for (const [file, edges] of graph()) {
    for (const { target, line } of edges) {
      if (!target.startsWith("lib/")) {
        bad.push(`${file}:${line} imports ${target}, which sits on top of lib/`);
      } else if (layerOf(target) > layerOf(file)) {
        bad.push(`${file}:${line} imports the higher layer ${target}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("lib/core/ does no I/O: no Deno.* but Deno.errors, no node: or npm: imports", () => {
  const bad: string[] = [];
  for (const file of files("lib/core")) {
    const source = Deno.readTextFileSync(new URL(file, ROOT));
    for (const i of importsOf(source)) {
      if (!i.specifier.startsWith(".")) bad.push(`${file}:${i.line} imports ${i.specifier}`);
    }
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    for (const m of code.matchAll(/\bDeno\.(\w+)/g)) {
      if (m[1] !== "errors") bad.push(`${file} uses Deno.${m[1]}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("lib/ has no import cycles, type-only imports included", () => {
  assert.deepEqual(cycles(graph()), []);
});

Deno.test("importsOf() finds static, type-only, re-export and dynamic imports", () => {
  const source = [
    'import { a } from "./a.ts";',
    'import type { B } from "../core/b.ts";',
    "import {",
    "  type C,",
    "  d,",
    '} from "./c.ts";',
    'export { e } from "./e.ts";',
    'export type { F } from "./f.ts";',
    'import "./side_effect.ts";',
    'const g = await import("./g.ts");',
    '/* import { h } from "./h.ts"; */',
  ].join("\n");
  assert.deepEqual(importsOf(source).map((i) => i.specifier).sort(), [
    "../core/b.ts",
    "./a.ts",
    "./c.ts",
    "./e.ts",
    "./f.ts",
    "./g.ts",
    "./side_effect.ts",
  ]);
});

Deno.test("cycles() finds a two-module cycle and a self-import, and nothing in a chain", () => {
  const g = new Map([
    ["a", [{ target: "b" }]],
    ["b", [{ target: "a" }]],
    ["c", [{ target: "c" }]],
    ["d", [{ target: "a" }]],
  ]);
  assert.deepEqual(cycles(g), [["a", "b"], ["c"]]);
  assert.deepEqual(cycles(new Map([["x", [{ target: "y" }]], ["y", []]])), []);
});
