/**
 * The one table of error codes ham uses, and the one error class that carries them.
 *
 * The same code crosses the wire: a {@linkcode HamError} thrown in the daemon is sent
 * as `{ code, message }` and re-thrown in the client with the same code, and `hamctl`
 * maps it to a documented exit code.
 *
 * @module
 */

/**
 * Every errno-style code ham can return, with what it means in ham.
 *
 * @example
 * ```ts
 * import { ERROR_CODES } from "./errors.ts";
 * console.log(ERROR_CODES.EEXIST); // "an item with that name already exists at that level"
 * ```
 */
export const ERROR_CODES = {
  EINVAL: "invalid argument: bad name, bad flag, bad number, wrong item kind",
  ENOENT: "no such entity, condition, action or action-fail item",
  EEXIST: "an item with that name already exists at that level",
  EBADF: "cannot connect to the HAM, or the connection is not valid",
  ENAMETOOLONG: "a name or an entity/condition/action path is too long",
  ENOSPC: "the state directory is full: the change was not recorded",
  EIO: "the journal or a state file could not be read or written",
  ESRCH: "no such process",
  EPERM: "not permitted: the caller's role, a protected pid, or an unsafe state directory or item",
  EBUSY: "the state directory is in use by another HAM",
  EPROTO: "malformed request or protocol version mismatch",
  EMSGSIZE: "request line too long",
  ETIMEDOUT: "timed out waiting",
  ECANCELED: "the HAM is stopping",
  ENOMEM: "resource limit reached",
  ECONNRESET: "the connection to the HAM was lost",
  EHOSTUNREACH: "the node named is unreachable (nothing answers at its address)",
  EKEYREJECTED: "a bad certificate: not signed by the CA, expired, or not for that node",
  EACCES:
    "permission denied: a command that cannot be executed or a working directory that cannot " +
    "be reached; for another node, credentials refused (no client certificate, or no role)",
  ENOTDIR: "a path that should be a directory is not one (a command's working directory)",
} as const;

/**
 * An errno-style error code, as a string.
 *
 * @example
 * ```ts
 * import { ERROR_CODES, type ErrorCode, HamError } from "./errors.ts";
 *
 * // Treats a missing item as done, anything else as a failure.
 * export function alreadyGone(err: unknown): boolean {
 *   const code: ErrorCode | null = err instanceof HamError ? err.code : null;
 *   return code === "ENOENT";
 * }
 * console.log(alreadyGone(new HamError("ENOENT", "no such entity")), ERROR_CODES.ENOENT);
 * ```
 */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `value` is one of the codes in {@linkcode ERROR_CODES}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/**
 * The error every ham operation throws: an errno-style `code` and a message in the
 * style `Cannot add action "x" to condition "web/death": reason`.
 *
 * @example
 * ```ts
 * import { HamError } from "./errors.ts";
 * const err = new HamError("ENOENT", 'Cannot find entity "web"');
 * console.log(err.code); // "ENOENT"
 * ```
 */
export class HamError extends Error {
  /** The errno-style code, the same on both sides of the wire. */
  readonly code: ErrorCode;

  /** Creates an error with an errno-style code. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HamError";
    this.code = code;
  }

  /** The wire form of this error. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Converts anything thrown into a {@linkcode HamError}, keeping the cause. */
export function toHamError(err: unknown, fallback: ErrorCode = "EIO"): HamError {
  if (err instanceof HamError) return err;
  if (err instanceof Deno.errors.NotFound) {
    return new HamError("ENOENT", err.message, { cause: err });
  }
  if (err instanceof Deno.errors.AlreadyExists) {
    return new HamError("EEXIST", err.message, { cause: err });
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new HamError("EPERM", err.message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/No space left|ENOSPC|os error 28/.test(message)) {
    return new HamError("ENOSPC", message, { cause: err });
  }
  return new HamError(fallback, message, { cause: err });
}

/**
 * The reason a Deno I/O error gives, for the end of a message that has named the file
 * already: `No such file or directory (os error 2): open '/x'` is `no such file or
 * directory`.
 *
 * @example
 * ```ts
 * import { osReason } from "./errors.ts";
 * osReason(new Error("Is a directory (os error 21): readfile '/tmp'")); // "is a directory"
 * ```
 */
export function osReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.replace(/ \(os error \d+\).*$/s, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/**
 * `hamctl` exit codes. Stable: scripts may rely on them.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success |
 * | 1 | the HAM refused or failed the operation (see stderr for the errno code) |
 * | 2 | usage error (bad flags or arguments) |
 * | 3 | the HAM is not running on that state directory |
 * | 4 | timed out waiting (`--wait`, `wait`) |
 * | 5 | no such item (ENOENT) |
 * | 6 | the item already exists (EEXIST) |
 */
export const EXIT_CODES = {
  ok: 0,
  failed: 1,
  usage: 2,
  notRunning: 3,
  timeout: 4,
  notFound: 5,
  exists: 6,
} as const;

/** Maps an error code to the `hamctl` exit code. */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "EBADF":
    case "ECONNRESET":
    case "EHOSTUNREACH":
      return EXIT_CODES.notRunning;
    case "ETIMEDOUT":
      return EXIT_CODES.timeout;
    case "ENOENT":
      return EXIT_CODES.notFound;
    case "EEXIST":
      return EXIT_CODES.exists;
    default:
      return EXIT_CODES.failed;
  }
}
