/**
 * Running `hamctl` (or a small library client) as a real unprivileged user, for the
 * access-control tests: as root, a system user `ham-sec-test` is created (once,
 * idempotently) and commands run under it with `setpriv`, with the uid, gid and
 * supplementary groups each test asks for. The code it runs is a copy of `cli/`, `lib/`
 * and `deno.json` in a world-readable temporary directory (a clone under `/root` would
 * not be readable by that user), with the Deno binary copied there too when the user
 * cannot execute it where it is.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** The test user's name. */
export const TEST_USER = "ham-sec-test";

/** What a command run as the test user produced. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The test user and a runner of commands as it (the copy is removed when the test file ends). */
export interface Unprivileged {
  uid: number;
  gid: number;
  /**
   * Runs `hamctl --state-dir DIR ARGS` (without `--state-dir` when DIR is empty) as the user
   * with gid `gid` and groups `groups`; its HOME is `<tmp>/home`, no XDG variable is set.
   */
  hamctl(
    stateDir: string,
    args: string[],
    ids?: { gid?: number; groups?: number[] },
  ): Promise<RunResult>;
  /** Runs `tests/support/attach_self_client.ts ARGS` as the user (FFI permitted, to map slots). */
  client(args: string[], ids?: { gid?: number; groups?: number[] }): Promise<RunResult>;
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<RunResult> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", env })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function ids(): Promise<{ uid: number; gid: number } | null> {
  const r = await run("getent", ["passwd", TEST_USER]);
  if (r.code !== 0) return null;
  const f = r.stdout.trim().split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * The test user, or the reason these tests cannot run here (printed by the caller when it
 * skips).
 */
export async function unprivileged(): Promise<Unprivileged | string> {
  if (Deno.uid() !== 0) return "not running as root: cannot create or become another user";
  for (const tool of ["setpriv", "useradd", "getent"]) {
    const r = await run("sh", ["-c", `command -v ${tool}`]);
    if (r.code !== 0) return `${tool} is not installed`;
  }
  let user = await ids();
  if (user === null) {
    const r = await run("useradd", [
      "--system",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      TEST_USER,
    ]);
    user = await ids();
    if (user === null) return `cannot create user ${TEST_USER}: ${r.stderr.trim()}`;
  }
  const { uid, gid } = user;
  const base = await Deno.makeTempDir({ prefix: "ham-sec-" });
  Deno.chmodSync(base, 0o755);
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(base, { recursive: true });
    } catch { /* already gone */ }
  });
  const copy = `${base}/repo`;
  Deno.mkdirSync(copy, { mode: 0o755 });
  await run("cp", ["-r", `${ROOT}cli`, `${ROOT}lib`, `${ROOT}deno.json`, copy]);
  Deno.mkdirSync(`${copy}/tests/support`, { recursive: true, mode: 0o755 });
  Deno.copyFileSync(
    `${ROOT}tests/support/attach_self_client.ts`,
    `${copy}/tests/support/attach_self_client.ts`,
  );
  await run("chmod", ["-R", "a+rX", copy]);
  const home = `${base}/home`;
  Deno.mkdirSync(home, { mode: 0o700 });
  Deno.chownSync(home, uid, gid);
  let deno = Deno.execPath();
  const canRun = await run("setpriv", [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "--",
    "test",
    "-x",
    deno,
  ]);
  if (canRun.code !== 0) {
    Deno.copyFileSync(deno, `${base}/deno`);
    Deno.chmodSync(`${base}/deno`, 0o755);
    deno = `${base}/deno`;
  }
  const env = { HOME: home, DENO_DIR: `${home}/deno`, PATH: "/usr/bin:/bin", NO_COLOR: "1" };
  const as = (argv: string[], who: { gid?: number; groups?: number[] } = {}) => {
    const groups = who.groups ?? [];
    return run("setpriv", [
      `--reuid=${uid}`,
      `--regid=${who.gid ?? gid}`,
      ...(groups.length > 0 ? [`--groups=${groups.join(",")}`] : ["--clear-groups"]),
      "--",
      deno,
      "run",
      "--quiet",
      "--no-prompt",
      "--no-lock",
      "--config",
      `${copy}/deno.json`,
      ...argv,
    ], env);
  };
  const perms = ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-sys=uid"];
  return {
    uid,
    gid,
    hamctl: (stateDir, args, who) =>
      as([
        ...perms,
        `${copy}/cli/main.ts`,
        "hamctl",
        ...(stateDir === "" ? [] : ["--state-dir", stateDir]),
        ...args,
      ], who),
    client: (args, who) =>
      as([
        ...perms,
        "--allow-run",
        "--allow-ffi",
        `${copy}/tests/support/attach_self_client.ts`,
        ...args,
      ], who),
  };
}
