/**
 * POSIX path arithmetic (`join`, `dirname`, `basename`) as `node:path`'s POSIX functions
 * compute it, without the `node:` compatibility layer: the HAM and its Guardian load none
 * of it, which is ~3.5 MiB of private memory each (see the README's "Figures of issue 13").
 *
 * @module
 */

/**
 * Normalizes a path: repeated slashes become one, `.` components go, `..` removes the
 * component before it (never above `/`); a trailing slash is kept. An empty path is `.`.
 */
export function normalize(path: string): string {
  if (path.length === 0) return ".";
  const absolute = path[0] === "/";
  const trailing = path.at(-1) === "/";
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out.at(-1) !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(part);
  }
  let s = out.join("/");
  if (absolute) s = "/" + s;
  else if (s === "") s = ".";
  if (trailing && s !== "/" && s !== ".") s += "/";
  else if (trailing && s === "." && !absolute) s = "./";
  return s;
}

/**
 * Joins path components with `/` and normalizes the result (empty components are skipped).
 *
 * @example
 * ```ts
 * import { join } from "./paths.ts";
 * console.log(join("/run/ham", "journal", "../snapshots")); // /run/ham/snapshots
 * ```
 */
export function join(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p.length > 0);
  return nonEmpty.length === 0 ? "." : normalize(nonEmpty.join("/"));
}

/** The directory part of a path (`/a/b` → `/a`, `a` → `.`, `/` → `/`). */
export function dirname(path: string): string {
  if (path.length === 0) return ".";
  let end = path.length;
  while (end > 1 && path[end - 1] === "/") end--;
  const slash = path.lastIndexOf("/", end - 1);
  if (slash < 0) return ".";
  let d = slash;
  while (d > 0 && path[d - 1] === "/") d--;
  return d === 0 ? "/" : path.slice(0, d);
}

/** The last component of a path, without trailing slashes (`/a/b/` → `b`). */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  if (end === 0) return "";
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}
