/**
 * Whether something is at a path, without following a final symbolic link.
 *
 * @module
 */

/** True when `path` names anything (a dangling symbolic link too). */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
