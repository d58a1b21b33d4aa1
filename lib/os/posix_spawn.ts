/**
 * Starting a process with glibc's `posix_spawn()` through FFI: in a new session
 * (`POSIX_SPAWN_SETSID`, so it leads its own process group), with its standard streams
 * opened by the spawn itself, its working directory changed, every other descriptor closed,
 * an empty signal mask and every signal at its default action.
 *
 * Why not `Deno.Command`: its `detached` option (the only way it offers to call `setsid()`)
 * runs a closure in the child before `exec`, so the Rust runtime has to `fork()` the whole
 * daemon, page tables included: 7–12 ms per spawn in the HAM, against well under a
 * millisecond for `posix_spawn()`, which uses `clone(CLONE_VM | CLONE_VFORK)`. And the
 * output FIFOs needed a `/bin/sh` between the two to open them, one more `exec`.
 *
 * The child is not Deno's: the caller collects its status (a pidfd and `waitid()`, see
 * `process_watcher.ts`).
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import { ERRNO, OPEN } from "./libc.ts";

/** `posix_spawnattr_setflags()` flags (glibc, every architecture). */
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
/** `O_CREAT`, the same on x86-64 and arm64. */
const O_CREAT = 0o100;
/**
 * Room for the opaque glibc types (`posix_spawnattr_t` is 336 bytes, the file actions 80,
 * `sigset_t` 128 on x86-64 and arm64): they are only ever set through their functions.
 */
const OPAQUE_BYTES = 1024;

const SYMBOLS = {
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  posix_spawn_file_actions_addchdir_np: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawn_file_actions_addclosefrom_np: { parameters: ["buffer", "i32"], result: "i32" },
  sigemptyset: { parameters: ["buffer"], result: "i32" },
  sigfillset: { parameters: ["buffer"], result: "i32" },
} as const;

type Spawn = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let loaded: Spawn | null | undefined;

function load(): Spawn | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    // The `_np` file actions need glibc 2.34 (closefrom); an older libc fails to bind them.
    loaded = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    loaded = null;
  }
  return loaded;
}

/**
 * The spawn attributes, the same for every spawn (a session of its own, an empty signal
 * mask, every signal at its default action): made once, and never destroyed (glibc's
 * `posix_spawn()` only reads them). Five calls fewer on a restart's path.
 */
let attributes: Uint8Array | null = null;

function spawnAttributes(s: Spawn): Uint8Array {
  if (attributes !== null) return attributes;
  const attr = new Uint8Array(OPAQUE_BYTES);
  const empty = new Uint8Array(OPAQUE_BYTES);
  const all = new Uint8Array(OPAQUE_BYTES);
  s.sigemptyset(empty);
  s.sigfillset(all);
  s.posix_spawnattr_init(attr);
  s.posix_spawnattr_setflags(
    attr,
    POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
  );
  s.posix_spawnattr_setsigmask(attr, empty);
  s.posix_spawnattr_setsigdefault(attr, all);
  return attributes = attr;
}

/** True when {@linkcode posixSpawn} can be used: FFI permitted, glibc ≥ 2.34. */
export function posixSpawnAvailable(): boolean {
  return load() !== null;
}

/** What {@linkcode posixSpawn} starts. */
export interface PosixSpawnRequest {
  /** The file to execute: absolute, or relative to `cwd` (no `PATH` search). */
  path: string;
  /** Its arguments, `argv[0]` included. */
  argv: string[];
  /** Its whole environment, or a ready `envp` (`spawn_env.ts`). */
  env: Record<string, string> | Uint8Array;
  /** Its working directory. @default this process's */
  cwd: string | null;
  /** Opened read-write (created if missing) as its stdout; null: this process's stdout. */
  stdout: string | null;
  /** Opened read-write (created if missing) as its stderr; null: this process's stderr. */
  stderr: string | null;
}

/**
 * A NULL-terminated array of pointers to NUL-terminated strings (`char *const []`), in one
 * buffer that holds the strings too: passing it to the call keeps them alive. `parts` are
 * the strings, each encoded with its NUL.
 */
export function cStringArray(parts: Uint8Array[]): Uint8Array {
  const head = (parts.length + 1) * 8;
  let size = head;
  for (const p of parts) size += p.length;
  const buf = new Uint8Array(size);
  const pointers = new BigUint64Array(buf.buffer, 0, parts.length + 1);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  let off = head;
  for (let i = 0; i < parts.length; i++) {
    buf.set(parts[i], off);
    pointers[i] = base + BigInt(off);
    off += parts[i].length;
  }
  return buf;
}

function stringArray(items: string[]): Uint8Array {
  const enc = new TextEncoder();
  return cStringArray(items.map((s) => enc.encode(`${s}\0`)));
}

function cStr(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/**
 * The error of a spawn of `command` that failed because its working directory `cwd` is
 * missing (`ENOENT`), is not a directory (`ENOTDIR`) or cannot be reached (`EACCES`); null
 * when it is a directory (the failure is the command's) or none was set. Asked once a spawn
 * failed (one stat, on no spawn that works), and by `checkSpawnable` before one.
 */
export function cwdError(command: string, cwd: string | null): HamError | null {
  if (cwd === null) return null;
  try {
    if (Deno.statSync(cwd).isDirectory) return null;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return new HamError(
        "ENOENT",
        `Cannot spawn "${command}": working directory "${cwd}" does not exist`,
        { cause: err },
      );
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      return new HamError(
        "EACCES",
        `Cannot spawn "${command}": working directory "${cwd}" cannot be reached: permission denied`,
        { cause: err },
      );
    }
    if (!(err instanceof Deno.errors.NotADirectory)) return null;
  }
  return new HamError(
    "ENOTDIR",
    `Cannot spawn "${command}": working directory "${cwd}" is not a directory`,
  );
}

/**
 * The error a failed spawn of `command` reports (`errno` as posix_spawn returned it), in
 * working directory `cwd`: a missing one, one that is not a directory or cannot be reached,
 * is named as the cause. The code is the errno's (`ENOENT`, `EACCES`, `ENOTDIR`, `EPERM`).
 */
export function spawnErrno(command: string, errno: number, cwd: string | null = null): HamError {
  if (errno === 2 || errno === ERRNO.ENOTDIR || errno === ERRNO.EACCES) {
    const bad = cwdError(command, cwd);
    if (bad !== null) return bad;
  }
  if (errno === 2) return new HamError("ENOENT", `Cannot spawn "${command}": no such file`);
  if (errno === ERRNO.EACCES || errno === ERRNO.EPERM) {
    const code = errno === ERRNO.EACCES ? "EACCES" : "EPERM";
    return new HamError(code, `Cannot spawn "${command}": permission denied`);
  }
  if (errno === ERRNO.ENOTDIR) {
    return new HamError(
      "ENOTDIR",
      `Cannot spawn "${command}": a component of its path is not a directory`,
    );
  }
  return new HamError(
    "EINVAL",
    `Cannot spawn "${command}": posix_spawn failed with errno ${errno}`,
  );
}

/**
 * Starts `req.path` in a session of its own and returns its pid; the process has already
 * executed the file when this returns (glibc's `posix_spawn` waits for the `exec`).
 *
 * @throws {HamError} `ENOENT`/`EACCES`/`ENOTDIR` when the file cannot be executed (or an
 * output file opened), `ENOENT` when the working directory is missing (`ENOTDIR` when it
 * is not a directory), `EINVAL` for any other failure, `EPERM` when FFI is not available.
 */
export function posixSpawn(req: PosixSpawnRequest): number {
  const s = load();
  if (s === null) {
    throw new HamError("EPERM", `Cannot spawn "${req.argv[0]}": posix_spawn is not available`);
  }
  const attr = spawnAttributes(s);
  const actions = fileActions(s, req);
  const argv = stringArray(req.argv);
  const envp = req.env instanceof Uint8Array
    ? req.env
    : stringArray(Object.entries(req.env).map(([k, v]) => `${k}=${v}`));
  const pid = new Int32Array(1);
  const err = s.posix_spawn(
    new Uint8Array(pid.buffer),
    cStr(req.path),
    actions,
    attr,
    argv,
    envp,
  );
  if (err !== 0) throw spawnErrno(req.argv[0], err, req.cwd);
  return pid[0];
}

/** The file actions kept, by streams and directory, least recently used first. */
const keptActions = new Map<string, Uint8Array>();

/** How many file actions are kept for reuse (at most `DEFAULTS.spawnActionsKept`). */
export function keptFileActions(): number {
  return keptActions.size;
}

/**
 * The file actions of a spawn: stdin from `/dev/null`, the streams asked for, the working
 * directory, every other descriptor closed. Kept and reused for the same streams and
 * directory (a restart's are those of the entity's last spawn: four calls into libc fewer
 * on its path), up to `DEFAULTS.spawnActionsKept` of them.
 */
function fileActions(s: Spawn, req: PosixSpawnRequest): Uint8Array {
  const key = JSON.stringify([req.stdout, req.stderr, req.cwd]);
  const kept = keptActions.get(key);
  if (kept !== undefined) {
    keptActions.delete(key);
    keptActions.set(key, kept);
    return kept;
  }
  const actions = new Uint8Array(OPAQUE_BYTES);
  s.posix_spawn_file_actions_init(actions);
  // glibc copies the paths of file actions.
  const rw = OPEN.O_RDWR | O_CREAT;
  let failed = s.posix_spawn_file_actions_addopen(actions, 0, cStr("/dev/null"), OPEN.O_RDONLY, 0);
  if (req.stdout !== null) {
    failed ||= s.posix_spawn_file_actions_addopen(actions, 1, cStr(req.stdout), rw, 0o666);
  }
  if (req.stderr !== null) {
    failed ||= s.posix_spawn_file_actions_addopen(actions, 2, cStr(req.stderr), rw, 0o666);
  }
  if (req.cwd !== null) failed ||= s.posix_spawn_file_actions_addchdir_np(actions, cStr(req.cwd));
  failed ||= s.posix_spawn_file_actions_addclosefrom_np(actions, 3);
  if (failed !== 0) {
    s.posix_spawn_file_actions_destroy(actions);
    throw spawnErrno(req.argv[0], failed);
  }
  keptActions.set(key, actions);
  if (keptActions.size > DEFAULTS.spawnActionsKept) {
    const [oldest, dropped] = keptActions.entries().next().value!;
    keptActions.delete(oldest);
    s.posix_spawn_file_actions_destroy(dropped);
  }
  return actions;
}
