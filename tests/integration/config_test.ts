/**
 * Declarative config with real processes: `hamctl apply` (idempotent, `--dry-run`,
 * `--prune`), errors naming file, line and key, `hamctl export` round trips, every action
 * kind, JSON files, and `ham --config`.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { alive, BIN, hamctl, HamProcess, processesOf, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const ISSUE_FORM = `entities:
  web:
    command: ["/bin/sleep", "1000"]
    keepOnDeath: false
    conditions:
      death:
        type: death
        flags: [rearm]
        actions:
          restart: { kind: restart, flags: [rearm] }
          note: { kind: log, message: "web died", flags: [rearm] }
`;

const EVERYTHING = `entities:
  api:
    command: [/bin/sh, -c, "sleep 1000"]
    cwd: /tmp
    env: { MODE: test }
    keepOnDeath: true
    killMode: process
    heartbeat: { period: 1h, low: 2, high: 4 }
    conditions:
      death:
        type: death
        actions:
          restart:
            kind: restart
            flags: [rearm]
            policy: { backoff: 100ms, maxBackoff: 5s, jitter: 0.1, intensity: 5, window: 1m, cooldown: 30s }
          hook:
            kind: execute
            command: [/bin/true]
            flags: [break-on-fail]
            fails:
              tell: { kind: notify, channel: ops, code: 1, value: 2 }
              say: { kind: log, message: "hook failed" }
      low:
        type: hb-missed-low
        flags: [independent, nowait]
        actions:
          ok: { kind: heartbeat-healthy }
      up:
        type: state
        flags: [to-set]
        from: 0
        to: [1, 3]
        actions:
          wait: { kind: waitfor, delay: 500us, path: /tmp }
          sig: { kind: signal, signal: USR1 }
      alarm:
        type: raise
        raise: { type: 1, class: 2, severity: 3 }
        actions:
          note: { kind: log, message: raised, verbosity: 2, prefix: false }
  later:
    conditions:
      attach:
        type: attach
        actions:
          note: { kind: log, message: attached }
  "@global":
    conditions:
      any-death:
        type: death
        flags: [keep-on-empty]
        actions:
          note: { kind: log, message: "someone died" }
`;

/** The requests the HAM refused, from its log (`Refused "VERB" from ...: CODE: ...`). */
function refusals(ham: HamProcess): string[] {
  return ham.log().split("\n").filter((l) => l.includes("notice: Refused "));
}

async function file(ham: HamProcess, name: string, text: string): Promise<string> {
  const path = `${ham.stateDir}.${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test(
  "hamctl apply makes the HAM match the file, once; a second apply changes nothing",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const f = await file(ham, "web.yaml", ISSUE_FORM);
    try {
      assertEquals(
        await ham.ok("apply", f, "--dry-run"),
        "create web\nDry run: 1 changes not applied",
      );
      assertEquals((await ham.status()).entities.length, 0);
      assertEquals(await ham.ok("apply", f), "create web");
      const web = await ham.ok("status", "web", "--json");
      assert(web.pid > 0);
      assertEquals(web.conditions[0].actions.map((a: { path: string }) => a.path), [
        "web/death/restart",
        "web/death/note",
      ]);
      assertEquals(await ham.ok("apply", f), `No changes: the HAM already matches "${f}"`);
      // A changed condition is updated; the process is left alone.
      await Deno.writeTextFile(f, ISSUE_FORM.replace('"web died"', '"web is gone"'));
      assertEquals(await ham.ok("apply", f), "update web/death");
      assertEquals((await ham.ok("status", "web", "--json")).pid, web.pid);
      // A changed command replaces the process.
      await Deno.writeTextFile(f, ISSUE_FORM.replace('"1000"', '"1001"'));
      assertEquals(await ham.ok("apply", f), "update web");
      const after = await ham.ok("status", "web", "--json");
      assert(after.pid !== web.pid);
      assertEquals(after.command, ["/bin/sleep", "1001"]);
      assertEquals(await ham.ok("apply", f), `No changes: the HAM already matches "${f}"`);
      // The replacement's stop asked nothing the HAM refused (and logged as refused).
      assertEquals(refusals(ham), []);
    } finally {
      await Deno.remove(f);
    }
  },
);

Deno.test(
  "hamctl apply replacing a process keeps the conditions the file lacks, and ends one that ignores SIGTERM",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const stubborn = (n: number) =>
      ISSUE_FORM.replace(
        '["/bin/sleep", "1000"]',
        // Ignored, SIGTERM stays ignored across the exec; nothing is left behind.
        `[/bin/sh, -c, 'trap "" TERM; exec sleep ${n}']`,
      );
    const f = await file(ham, "web.yaml", stubborn(1000));
    try {
      await ham.ok("apply", f);
      const old = (await ham.ok("status", "web", "--json")).pid;
      await ham.ok("condition", "web/more", "restart");
      await Deno.writeTextFile(f, stubborn(1001));
      assertEquals(await ham.ok("apply", f), "update web");
      const web = await ham.ok("status", "web", "--json");
      assert(web.pid !== old && alive(web.pid) && !alive(old));
      assertEquals(web.conditions.map((c: { path: string }) => c.path), ["web/death", "web/more"]);
      assertEquals(await ham.ok("apply", f), `No changes: the HAM already matches "${f}"`);
      assertEquals(refusals(ham), []);
    } finally {
      await Deno.remove(f);
    }
  },
);

Deno.test(
  "hamctl apply refuses a replacement whose command cannot start, and leaves the entity running as it was",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const f = await file(ham, "web.yaml", ISSUE_FORM);
    const plain = `${ham.stateDir}.plain`;
    await Deno.writeTextFile(plain, "#!/bin/sh\nexec sleep 1000\n", { mode: 0o644 });
    try {
      assertEquals(await ham.ok("apply", f), "create web");
      const before = await ham.ok("status", "web", "--json");
      const cases: [string, string, string][] = [
        // A missing binary, a missing cwd, a cwd that is a file, a file without an x bit.
        [
          ISSUE_FORM.replace('"/bin/sleep"', '"/no/such/sleep"'),
          "ENOENT",
          'Cannot spawn "/no/such/sleep": no such file',
        ],
        [
          ISSUE_FORM.replace("keepOnDeath: false", "keepOnDeath: false\n    cwd: /no/such/dir"),
          "ENOENT",
          'Cannot spawn "/bin/sleep": working directory "/no/such/dir" does not exist',
        ],
        [
          ISSUE_FORM.replace("keepOnDeath: false", `keepOnDeath: false\n    cwd: ${plain}`),
          "ENOTDIR",
          `Cannot spawn "/bin/sleep": working directory "${plain}" is not a directory`,
        ],
        [
          ISSUE_FORM.replace('["/bin/sleep", "1000"]', `["${plain}"]`),
          "EACCES",
          `Cannot spawn "${plain}": permission denied (mode 0644: no execute bit)`,
        ],
        // A name is looked for as the spawn looks for it: in the entity's own PATH.
        [
          ISSUE_FORM.replace('"/bin/sleep"', '"sleep"').replace(
            "keepOnDeath: false",
            "keepOnDeath: false\n    env: { PATH: /no/such/bin }",
          ),
          "ENOENT",
          'Cannot spawn "sleep": no such file',
        ],
      ];
      for (const [text, code, why] of cases) {
        await Deno.writeTextFile(f, text);
        for (const dry of [["--dry-run"], []]) {
          const r = await ham.ctl("apply", f, ...dry);
          assertEquals([r.code, r.stdout], [code === "ENOENT" ? 5 : 1, ""], r.stderr);
          assertEquals(
            r.stderr,
            `hamctl: ${code}: ${f}:2: key "entities.web": cannot update web: ${why}; ` +
              `nothing was changed ("web" is left as it is)\n`,
          );
        }
        // Running as it was: the same process, conditions and command.
        const web = await ham.ok("status", "web", "--json");
        assertEquals(
          [web.pid, web.command, web.cwd, web.conditions.length],
          [before.pid, before.command, before.cwd, before.conditions.length],
        );
        assert(alive(before.pid));
      }
      // The HAM logged each refused check, and refused nothing else (nothing was tried).
      assertEquals(refusals(ham).filter((l) => !l.includes('Refused "check-attach"')), []);
      assertEquals(refusals(ham).length, cases.length * 2);
      // A command that can start replaces it as before.
      await Deno.chmod(plain, 0o755);
      await Deno.writeTextFile(f, cases[3][0]);
      assertEquals(await ham.ok("apply", f), "update web");
      assert((await ham.ok("status", "web", "--json")).pid !== before.pid);
    } finally {
      await Deno.remove(f);
      await Deno.remove(plain);
    }
  },
);

Deno.test(
  "hamctl apply checks a command on the HAM's side: the HAM's PATH finds what the client's does not",
  opts,
  async () => {
    // A HAM whose PATH has a directory hamctl's has not (another host's, in effect).
    const bin = await Deno.makeTempDir({ prefix: "ham-test-bin-" });
    await Deno.writeTextFile(`${bin}/ham-only-tool`, "#!/bin/sh\nexec sleep 1000\n", {
      mode: 0o755,
    });
    try {
      await using ham = await HamProcess.start({
        env: { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
      });
      const f = await file(ham, "web.yaml", ISSUE_FORM);
      try {
        await ham.ok("apply", f);
        await Deno.writeTextFile(
          f,
          ISSUE_FORM.replace('["/bin/sleep", "1000"]', "[ham-only-tool]"),
        );
        assertEquals(await ham.ok("apply", f), "update web");
        assertEquals((await ham.ok("status", "web", "--json")).command, ["ham-only-tool"]);
      } finally {
        await Deno.remove(f);
      }
    } finally {
      await Deno.remove(bin, { recursive: true });
    }
  },
);

Deno.test(
  "hamctl apply puts an entity's previous definition back when its replacement fails at exec, past the check",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const f = await file(ham, "web.yaml", ISSUE_FORM);
    // Executable, so the check passes; its interpreter is missing, which only exec tells.
    const script = `${ham.stateDir}.script`;
    await Deno.writeTextFile(script, "#!/no/such/sh\n", { mode: 0o755 });
    try {
      assertEquals(await ham.ok("apply", f), "create web");
      const before = await ham.ok("status", "web", "--json");
      await Deno.writeTextFile(f, ISSUE_FORM.replace('["/bin/sleep", "1000"]', `["${script}"]`));
      const r = await ham.ctl("apply", f);
      assertEquals(r.code, 5, r.stderr);
      assertMatch(
        r.stderr,
        /cannot update web: .*; its previous definition was attached again \("web" runs its previous command\)\n$/,
      );
      const web = await ham.ok("status", "web", "--json");
      assertEquals(
        [web.command, web.conditions.length, web.conditions[0].actions.length],
        [before.command, before.conditions.length, before.conditions[0].actions.length],
      );
      assert(web.pid !== before.pid && alive(web.pid), "its previous command runs again");
      assert(!alive(before.pid), "the replaced process was stopped");
    } finally {
      await Deno.remove(f);
      await Deno.remove(script);
    }
  },
);

Deno.test("hamctl apply removes what the file lacks only with --prune", opts, async () => {
  await using ham = await HamProcess.start();
  const f = await file(ham, "web.yaml", ISSUE_FORM);
  try {
    const extra = Number(await ham.ok("attach", "extra", "--", "/bin/sleep", "1000"));
    await ham.ok("condition", "extra/death", "death");
    await ham.ok("apply", f);
    await ham.ok("condition", "web/more", "restart");
    assertEquals(await ham.ok("apply", f), `No changes: the HAM already matches "${f}"`);
    assertEquals(
      await ham.ok("apply", f, "--prune", "--dry-run"),
      "remove web/more\nremove extra\nDry run: 2 changes not applied",
    );
    assertEquals(await ham.ok("apply", f, "--prune"), "remove web/more\nremove extra");
    assertEquals((await ham.status()).entities.map((e) => e.name), ["web"]);
    // Pruning detached it: the process runs on (QNX detach), so the test ends it.
    assert(alive(extra));
    Deno.kill(extra, "SIGKILL");
  } finally {
    await Deno.remove(f);
  }
});

Deno.test("hamctl apply takes every kind and flag, and export round-trips it", opts, async () => {
  await using ham = await HamProcess.start();
  const f = await file(ham, "all.yaml", EVERYTHING);
  const g = `${f}.export.yaml`;
  try {
    assertEquals(await ham.ok("apply", f), "create api\ncreate later\ncreate @global");
    const api = await ham.ok("status", "api", "--json");
    assertEquals([api.cwd, api.env, api.flagNames, api.heartbeat.periodMs, api.killMode], [
      "/tmp",
      { MODE: "test" },
      ["keep-on-death"],
      3_600_000,
      "process",
    ]);
    const death = api.conditions[0];
    assertEquals(death.actions[0].params.policy, {
      backoffMs: 100,
      maxBackoffMs: 5000,
      jitter: 0.1,
      intensity: 5,
      windowMs: 60_000,
      cooldownMs: 30_000,
    });
    assertEquals(death.actions[1].fails.map((x: { name: string }) => x.name), ["tell", "say"]);
    assertEquals(api.conditions[2].match, { from: 0, to: 0b1010 });
    assertEquals(api.conditions[2].actions[0].params.delayMs, 1);
    assertEquals(api.conditions[3].match, { rtype: 1, rclass: 2, rseverity: 3 });
    assertEquals(await ham.ok("apply", f), `No changes: the HAM already matches "${f}"`);
    const exported = (await ham.ctl("export")).stdout;
    assertMatch(exported, /^entities:\n/);
    assertMatch(exported, /\n {2}api:\n {4}command:\n {6}- \/bin\/sh\n/);
    assertMatch(exported, /\n {4}killMode: process\n/);
    await Deno.writeTextFile(g, exported);
    assertEquals(await ham.ok("apply", g), `No changes: the HAM already matches "${g}"`);
    // JSON is YAML: the JSON export applies the same way.
    await Deno.writeTextFile(g, (await ham.ctl("export", "--json")).stdout);
    assertEquals(await ham.ok("apply", g, "--prune"), `No changes: the HAM already matches "${g}"`);
  } finally {
    await Deno.remove(f);
    await Deno.remove(g).catch(() => {});
  }
});

Deno.test(
  "hamctl apply and export keep what is disabled, and apply enables it again",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const off = ISSUE_FORM.replace("keepOnDeath: false", "keepOnDeath: false\n    enabled: false")
      .replace(
        "flags: [rearm]\n        actions:",
        "flags: [rearm]\n        enabled: false\n        actions:",
      )
      .replace(
        'note: { kind: log, message: "web died", flags: [rearm] }',
        'note: { kind: log, message: "web died", flags: [rearm], enabled: false }',
      );
    const f = await file(ham, "web.yaml", off);
    const g = `${f}.export.yaml`;
    try {
      assertEquals(await ham.ok("apply", f), "create web");
      const enabled = async () => {
        const web = await ham.ok("status", "web", "--json");
        const death = web.conditions[0];
        return [
          web.enabled,
          death.enabled,
          ...death.actions.map((a: { enabled: boolean }) => a.enabled),
        ];
      };
      assertEquals(await enabled(), [false, false, true, false]);
      assertEquals(await ham.ok("apply", f), `No changes: the HAM already matches "${f}"`);
      const exported = (await ham.ctl("export")).stdout;
      assertEquals(exported.match(/enabled: false/g)?.length, 3, exported);
      await Deno.writeTextFile(g, exported);
      assertEquals(await ham.ok("apply", g), `No changes: the HAM already matches "${g}"`);
      // The same file without them: enabled again (the condition is replaced whole).
      await Deno.writeTextFile(f, ISSUE_FORM);
      assertEquals(await ham.ok("apply", f), "update web\nupdate web/death");
      assertEquals(await enabled(), [true, true, true, true]);
    } finally {
      await Deno.remove(f);
      await Deno.remove(g).catch(() => {});
    }
  },
);

Deno.test("hamctl apply errors name the file, the line and the key", opts, async () => {
  await using ham = await HamProcess.start();
  const cases: [string, RegExp][] = [
    [
      ISSUE_FORM.replace("type: death", "type: deth"),
      /:7: key "entities\.web\.conditions\.death\.type": Invalid condition type "deth"/,
    ],
    [
      ISSUE_FORM.replace("flags: [rearm]\n", "flags: [bogus]\n"),
      /:8: key "entities\.web\.conditions\.death\.flags": Invalid condition flag "bogus"/,
    ],
    [
      ISSUE_FORM.replace("keepOnDeath: false", "keepOnDeth: false"),
      /:4: key "entities\.web\.keepOnDeth": Unknown key/,
    ],
    [
      ISSUE_FORM.replace("keepOnDeath: false", "keepOnDeath: false\n    killMode: group"),
      /:5: key "entities\.web\.killMode": Expected control-group or process/,
    ],
    [
      ISSUE_FORM.replace("kind: log", "kind: lg"),
      /:11: key "entities\.web\.conditions\.death\.actions\.note\.kind": Invalid action kind "lg"/,
    ],
    ["entities:\n  web: [1,\n", /:\d+: /],
    // Refused by the HAM: still located.
    [
      ISSUE_FORM.replace("keepOnDeath: false", "keepOnDeath: false\n    cluster: true"),
      /:2: key "entities\.web": cannot create web: Cannot declare cluster entity "web": this HAM is not in a cluster/,
    ],
    // What the HAM would refuse half-way is refused before any change, still located.
    [
      ISSUE_FORM.replace("type: death", "type: attach"),
      /:10: key "entities\.web\.conditions\.death\.actions\.restart": Cannot add action "web\/death\/restart": a restart belongs on a death/,
    ],
    [
      ISSUE_FORM.replace("keepOnDeath: false", 'keepOnDeath: false\n    env: { "A=B": x }'),
      /:2: key "entities\.web": Invalid field "env": bad entry "A=B"/,
    ],
    [
      `${ISSUE_FORM}      again:\n        type: abnormal-death\n        actions:\n          r: { kind: restart }\n`,
      /:15: key "entities\.web\.conditions\.again\.actions\.r": .*already has restart action "web\/death\/restart"/,
    ],
  ];
  for (const [text, re] of cases) {
    const f = await file(ham, "bad.yaml", text);
    // Only the HAM knows whether it is in a cluster: a dry run cannot tell.
    const clustered = text.includes("cluster: true");
    for (const dry of clustered ? [[]] : [["--dry-run"], []]) {
      const r = await ham.ctl("apply", f, ...dry);
      assertEquals(r.code, 1, r.stderr);
      assertMatch(r.stderr, new RegExp(`^hamctl: EINVAL: ${f.replaceAll(".", "\\.")}${re.source}`));
    }
    await Deno.remove(f);
  }
  // Nothing of them was made.
  assertEquals((await ham.status()).entities.length, 0);
});

Deno.test("ham --config FILE applies the file at start-up", opts, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
  const f = `${dir}.yaml`;
  await Deno.writeTextFile(f, ISSUE_FORM);
  try {
    const out = await new Deno.Command(`${BIN}/ham`, {
      args: ["--state-dir", dir, "--config", f],
      env: { HAM_STATE_DIR: dir },
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = await hamctl(dir, "list");
    assertMatch(r.stdout, /\nweb\s+\d+\s+running/);
    // A bad file: ham fails at once and starts nothing.
    await Deno.writeTextFile(f, ISSUE_FORM.replace("type: death", "type: deth"));
    const bad = await new Deno.Command(`${BIN}/ham`, {
      args: ["--state-dir", `${dir}/other`, "--config", f],
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(bad.code, 1);
    assertMatch(
      new TextDecoder().decode(bad.stderr),
      /^ham: EINVAL: .*:7: key "entities\.web\.conditions\.death\.type"/,
    );
    // One the HAM would refuse half-way (a restart on a state condition), after an entity
    // it would have started: refused before anything starts, nothing left running.
    await Deno.writeTextFile(
      f,
      `${ISSUE_FORM}  other:\n    command: [/bin/sleep, "1001"]\n    conditions:\n` +
        `      s: { type: state, actions: { r: { kind: restart } } }\n`,
    );
    const half = await new Deno.Command(`${BIN}/ham`, {
      args: ["--state-dir", `${dir}/half`, "--config", f],
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(half.code, 1);
    assertMatch(
      new TextDecoder().decode(half.stderr),
      /^ham: EINVAL: .*:15: key "entities\.other\.conditions\.s\.actions\.r": .*a restart belongs on a death/,
    );
    assertEquals(await processesOf(`${dir}/half`), []);
  } finally {
    await hamctl(dir, "stop");
    for (const d of [dir, `${dir}/half`]) {
      for (const pid of await processesOf(d)) Deno.kill(pid, "SIGKILL");
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(f);
  }
});

Deno.test(
  "ham --config refuses a command that cannot start before it starts anything",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
    const f = `${dir}.yaml`;
    // The first entity could start; the second's command is missing.
    await Deno.writeTextFile(
      f,
      `${ISSUE_FORM}  other:\n    command: [/no/such/other, "1001"]\n`,
    );
    try {
      const out = await new Deno.Command(`${BIN}/ham`, {
        args: ["--state-dir", dir, "--config", f],
        env: { HAM_STATE_DIR: dir },
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 1);
      assertEquals(
        new TextDecoder().decode(out.stderr),
        `ham: ENOENT: ${f}:12: key "entities.other": cannot create other: ` +
          'Cannot spawn "/no/such/other": no such file; nothing was changed\n',
      );
      // The HAM stops, and "web" was never started: nothing of it in the HAM's log.
      await until(async () => (await processesOf(dir)).length === 0, "the HAM to stop");
      const log = await Deno.readTextFile(`${dir}/ham.log`);
      assertMatch(log, /HAM \d+ stopping/);
      assert(!log.includes('"web"'), log);
    } finally {
      for (const pid of await processesOf(dir)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(f);
    }
  },
);

Deno.test(
  "ham detached on a state directory another HAM serves fails with EBUSY and applies no --config",
  opts,
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    const f = `${ham.stateDir}.yaml`;
    await Deno.writeTextFile(f, ISSUE_FORM);
    try {
      const out = await new Deno.Command(`${BIN}/ham`, {
        args: ["--state-dir", ham.stateDir, "--config", f],
        env: { HAM_STATE_DIR: ham.stateDir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      const hamPid = await ham.hamPid();
      assertEquals(
        [out.code, dec.decode(out.stdout), dec.decode(out.stderr)],
        [
          1,
          "",
          `ham: EBUSY: Cannot start the HAM on "${ham.stateDir}": another HAM holds its lock ` +
          `(pid ${hamPid})\n`,
        ],
      );
      // The HAM that served goes on, and the file was not applied to it.
      assertEquals(await ham.hamPid(), hamPid);
      assertEquals((await ham.status()).entities.length, 0);
      assertMatch(
        await Deno.readTextFile(`${ham.stateDir}/ham.log`),
        /ham: EBUSY: .*another HAM holds its lock/,
      );
    } finally {
      await Deno.remove(f);
    }
  },
);
