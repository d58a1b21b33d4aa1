import assert from "node:assert/strict";
import { DEFAULTS, formatDefault } from "../../../lib/core/defaults.ts";

const ROOT = new URL("../../../", import.meta.url);

/** The rows of the README's "Defaults" table: name (third column) → default cell. */
function readmeRows(): Map<string, string[]> {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const section = readme.split(/^## /m).find((s) => s.startsWith("Defaults\n"));
  assert.ok(section, "README has a Defaults section");
  const rows = new Map<string, string[]>();
  for (const line of section.split("\n")) {
    if (!line.startsWith("|") || /^\|\s*-/.test(line)) continue;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells[0] === "Setting") continue;
    assert.equal(cells.length, 3, `a Defaults row has three cells: ${line}`);
    const name = /^`(\w+)`$/.exec(cells[2])?.[1];
    assert.ok(name, `the Defaults row names its DEFAULTS property: ${line}`);
    rows.set(name, [...(rows.get(name) ?? []), cells[1]]);
  }
  return rows;
}

/** Every .ts file under a directory of the repository. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...sources(path));
    else if (e.name.endsWith(".ts")) out.push(Deno.readTextFileSync(new URL(path, ROOT)));
  }
  return out;
}

Deno.test("README Defaults table lists every DEFAULTS row once, with its value", () => {
  const rows = readmeRows();
  for (const [name, value] of Object.entries(DEFAULTS)) {
    const cells = rows.get(name);
    assert.ok(cells, `README's Defaults table has a row for ${name}`);
    assert.equal(cells.length, 1, `README's Defaults table lists ${name} once`);
    const shown = formatDefault(name, value);
    assert.ok(
      cells[0] === shown ||
        (cells[0].startsWith(shown) && /^[\s;,(]/.test(cells[0].slice(shown.length))),
      `README shows ${name} as "${cells[0]}", expected it to start with "${shown}"`,
    );
  }
});

Deno.test("README Defaults table lists nothing that DEFAULTS lacks", () => {
  const extra = [...readmeRows().keys()].filter((name) => !Object.hasOwn(DEFAULTS, name));
  assert.deepEqual(extra, []);
});

Deno.test("DEFAULTS rows are each read by the code", () => {
  const code = [...sources("lib"), ...sources("cli"), ...sources("guardian")].join("\n");
  const unused = Object.keys(DEFAULTS).filter((name) => !code.includes(`DEFAULTS.${name}`));
  assert.deepEqual(unused, []);
});

Deno.test("formatDefault() prints the unit its name's suffix gives", () => {
  assert.equal(formatDefault("waitTimeoutMs", 30_000), "30 s");
  assert.equal(formatDefault("eventSyncMs", 200), "200 ms");
  assert.equal(formatDefault("restartBackoffMs", 0), "0 ms");
  assert.equal(formatDefault("compactBytes", 4 * 1024 * 1024), "4 MiB");
  assert.equal(formatDefault("maxLineBytes", 256 * 1024), "256 KiB");
  assert.equal(formatDefault("maxPathBytes", 255), "255 bytes");
  assert.equal(formatDefault("stateDirMode", 0o700), "`0700`");
  assert.equal(formatDefault("compactRecords", 50_000), "50,000");
  assert.equal(formatDefault("restartJitter", 0.5), "0.5");
  assert.equal(formatDefault("logActionPrefix", true), "on");
  assert.equal(formatDefault("rootStateDir", "/run/ham"), "`/run/ham`");
});

Deno.test("DEFAULTS cannot be changed at run time", () => {
  assert.ok(Object.isFrozen(DEFAULTS));
});
