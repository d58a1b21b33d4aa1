/**
 * `hamctl batch` with real `ham` and `hamctl` processes: the lines of standard input run
 * over one connection, in order; the first failing line ends the batch with its exit code
 * unless `--keep-going`.
 */

import assert from "node:assert/strict";
import { BIN, deadline, HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function batch(stateDir: string, input: string, ...args: string[]) {
  return await batchWith({}, stateDir, input, ...args);
}

async function batchWith(
  env: Record<string, string>,
  stateDir: string,
  input: string,
  ...args: string[]
) {
  const child = new Deno.Command(`${BIN}/hamctl`, {
    args: ["--state-dir", stateDir, "batch", ...args],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = child.output();
  const out = await deadline(output, 60_000, "hamctl batch to exit").catch(async (err) => {
    child.kill("SIGKILL");
    await output.catch(() => {});
    throw err;
  });
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("hamctl batch runs each line of stdin over one connection, in order", opts, async () => {
  await using h = await HamProcess.start({ guardian: false });
  const r = await batch(
    h.stateDir,
    [
      "# a web server and its recovery",
      "entity web --keep-on-death",
      "condition web/death death --rearm",
      `action web/death/note log --message "web 'died'"`,
      "",
      "status web/death/note --json",
      "ping",
    ].join("\n"),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /"message": "web 'died'"|web 'died'/);
  assert.match(r.stdout, /pong\n$/);
  const view = await h.status();
  assert.ok(JSON.stringify(view).includes("note"));
});

Deno.test(
  "hamctl batch stops at the first failing line with its exit code, unless --keep-going",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    const input = ["entity a", "detach nosuch", "entity b", "frobnicate", "entity c"].join("\n");
    const stopped = await batch(h.stateDir, input);
    assert.equal(stopped.code, 5);
    assert.match(stopped.stderr, /^hamctl: batch: line 2: ENOENT: /);
    assert.equal((await h.ctl("status", "b")).code, 5, "line 3 ran after a failure");

    const kept = await batch(h.stateDir, input.replaceAll("entity ", "entity k"), "--keep-going");
    assert.equal(kept.code, 5);
    const lines = kept.stderr.trimEnd().split("\n");
    assert.match(lines[0], /^hamctl: batch: line 2: ENOENT: /);
    assert.match(lines[1], /^hamctl: batch: line 4: Unknown subcommand "frobnicate"$/);
    assert.equal((await h.ctl("status", "kc")).code, 0, "line 5 did not run");
  },
);

Deno.test(
  "hamctl batch runs apply and export from the bundle and from the sources",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    const file = `${h.stateDir}.config.yaml`;
    await Deno.writeTextFile(file, "entities:\n  cfg:\n    keepOnDeath: true\n");
    try {
      for (const bundle of [true, false]) {
        const env = { HAM_NO_BUNDLE: bundle ? "" : "1" };
        const r = await batchWith(env, h.stateDir, `apply ${file}\nexport --json\nexport\n`);
        assert.equal(r.code, 0, `bundle ${bundle}: ${r.stderr}`);
        assert.equal(r.stderr, "");
        assert.match(r.stdout, bundle ? /^create cfg\n/ : /^No changes/);
        assert.match(r.stdout, /"cfg": \{\n\s+"keepOnDeath": true/);
        assert.ok(r.stdout.endsWith("\nentities:\n  cfg:\n    keepOnDeath: true\n"), r.stdout);
      }
    } finally {
      await Deno.remove(file);
    }
  },
);

Deno.test(
  "hamctl batch runs logs and completion, and refuses logs --follow naming its line",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    await h.ok("attach", "lg", "--", "/bin/sh", "-c", "echo one; echo two; exec sleep 300");
    const log = `${h.stateDir}/logs/lg.log`;
    await until(
      async () => (await Deno.readTextFile(log).catch(() => "")).includes(" two\n") || null,
      "the log of lg to have both lines",
    );
    const r = await batch(h.stateDir, "logs lg -n 1\ncompletion bash\nping\n");
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^\S+Z stdout two$/);
    assert.ok(lines.includes("complete -o default -F _hamctl hamctl"), r.stdout);
    assert.equal(lines.at(-1), "pong");

    const follow = await batch(h.stateDir, "ping\nlogs lg --follow\nping\n");
    assert.equal(follow.code, 2);
    assert.equal(follow.stdout, "pong\n");
    assert.match(follow.stderr, /^hamctl: batch: line 2: logs: .*--follow/);
  },
);

Deno.test("hamctl batch --json prints JSON for every line, waits included", opts, async () => {
  await using h = await HamProcess.start({ guardian: false });
  const r = await batch(
    h.stateDir,
    ["attach w --wait -- /bin/sleep 1000", "restart w --wait", "restart w"].join("\n"),
    "--json",
  );
  assert.equal(r.code, 0, r.stderr);
  // One JSON document per line: split where one ends and the next begins.
  const docs = r.stdout.trim().split(/\n(?=\{)/).map((d) => JSON.parse(d));
  assert.equal(docs.length, 3, r.stdout);
  assert.equal(docs[0].entity, "w");
  assert.ok(docs[1].pid > 0 && docs[1].was === docs[0].pid, r.stdout);
  assert.deepEqual(docs[2], { entity: "w", pid: docs[1].pid, was: docs[1].pid });
  await h.ok("wait", "w", "--for", "restarted", "--pid", String(docs[1].pid));
});
