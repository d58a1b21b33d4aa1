import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { prepareStateDir, resolveStateDir, stateDirProblem } from "../../../lib/os/state_dir.ts";

const VARS = ["HAM_STATE_DIR", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "HOME"];

/** Runs `fn` with the environment variables of the default set to `env` (others unset). */
function withEnv(env: Record<string, string>, fn: () => void): void {
  const saved = VARS.map((k) => [k, Deno.env.get(k)] as const);
  try {
    for (const k of VARS) Deno.env.delete(k);
    for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
    fn();
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
}

Deno.test("resolveStateDir() prefers --state-dir, then HAM_STATE_DIR", () => {
  withEnv({ HAM_STATE_DIR: "/srv/ham" }, () => {
    assert.equal(resolveStateDir("/x"), "/x");
    assert.equal(resolveStateDir(), "/srv/ham");
  });
});

Deno.test("resolveStateDir() is /run/ham for root even with XDG_RUNTIME_DIR set", {
  ignore: Deno.uid() !== 0,
}, () => {
  withEnv({}, () => assert.equal(resolveStateDir(), "/run/ham"));
  withEnv({ XDG_RUNTIME_DIR: "/run/user/0", HOME: "/root" }, () => {
    assert.equal(resolveStateDir(), "/run/ham");
  });
});

Deno.test("stateDirProblem() names a foreign owner, a group- or world-writable mode", () => {
  const dir = { isDirectory: true };
  assert.equal(stateDirProblem({ ...dir, uid: 5, mode: 0o700 }, 5), null);
  assert.equal(stateDirProblem({ ...dir, uid: 5, mode: 0o755 }, 5), null);
  assert.match(
    stateDirProblem({ ...dir, uid: 6, mode: 0o700 }, 5)!,
    /owned by uid 6, not by this HAM's uid 5/,
  );
  assert.match(
    stateDirProblem({ ...dir, uid: 5, mode: 0o702 }, 5)!,
    /writable by others \(mode 0702\)/,
  );
  assert.match(
    stateDirProblem({ ...dir, uid: 5, mode: 0o770 }, 5)!,
    /writable by its group \(mode 0770\)/,
  );
  assert.match(
    stateDirProblem({ ...dir, uid: 5, mode: 0o1777 }, 5)!,
    /writable by its group and others \(mode 1777\)/,
  );
  assert.match(stateDirProblem({ isDirectory: false, uid: 5, mode: 0o600 }, 5)!, /not a directory/);
});

Deno.test("prepareStateDir() creates a missing directory (and parents) with mode 0700", async () => {
  const base = await Deno.makeTempDir();
  try {
    const dir = `${base}/a/b/ham`;
    prepareStateDir(dir);
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("prepareStateDir() says in words why it cannot create the directory", async () => {
  const base = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${base}/file`, "");
    const dir = `${base}/file/ham`;
    assert.throws(() => prepareStateDir(dir), (e) => {
      assert.ok(e instanceof HamError);
      assert.equal(e.message, `Cannot use state directory "${dir}": not a directory`);
      return true;
    });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("prepareStateDir() refuses a group-writable directory with EPERM saying why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.chmodSync(dir, 0o770);
    assert.throws(() => prepareStateDir(dir), (e) => {
      assert.ok(e instanceof HamError);
      assert.equal(e.code, "EPERM");
      assert.match(e.message, /Cannot use state directory ".*": it is writable by its group/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareStateDir() refuses a directory owned by another uid", {
  ignore: Deno.uid() !== 0,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.chownSync(dir, 4242, 4242);
    assert.throws(() => prepareStateDir(dir), /owned by uid 4242, not by this HAM's uid 0/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareStateDir() refuses a symbolic link another user planted", {
  ignore: Deno.uid() !== 0,
}, async () => {
  const base = await Deno.makeTempDir();
  try {
    Deno.mkdirSync(`${base}/target`, { mode: 0o700 });
    Deno.symlinkSync(`${base}/target`, `${base}/ham`);
    prepareStateDir(`${base}/ham`); // this user's own link to its own directory: fine
    Deno.removeSync(`${base}/ham`);
    Deno.symlinkSync(`${base}/target`, `${base}/ham`);
    // lchown through chown(1) -h: Deno has no lchown.
    await new Deno.Command("chown", { args: ["-h", "4242", `${base}/ham`] }).output();
    assert.throws(() => prepareStateDir(`${base}/ham`), /symbolic link owned by uid 4242/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test(
  "resolveStateDir() of a non-root user is under XDG_RUNTIME_DIR, else XDG_STATE_HOME or HOME",
  {
    ignore: Deno.uid() === 0,
  },
  () => {
    withEnv({ XDG_RUNTIME_DIR: "/run/user/1000/", HOME: "/home/u" }, () => {
      assert.equal(resolveStateDir(), "/run/user/1000/ham");
    });
    withEnv({ XDG_STATE_HOME: "/home/u/state", HOME: "/home/u" }, () => {
      assert.equal(resolveStateDir(), "/home/u/state/ham");
    });
    withEnv({ HOME: "/home/u" }, () => assert.equal(resolveStateDir(), "/home/u/.local/state/ham"));
  },
);
