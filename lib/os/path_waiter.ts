/**
 * `waitfor` a path: resolves true as soon as the path exists, false when the delay runs
 * out first. Event-driven through inotify (`Deno.watchFs`) on the nearest existing
 * ancestor directory, re-aimed as directories appear; no polling loop.
 *
 * @module
 */

import { pathExists } from "./path_exists.ts";
import { dirname } from "../core/paths.ts";

function nearestExistingDir(path: string): string {
  let dir = dirname(path);
  while (!pathExists(dir) && dir !== "/") dir = dirname(dir);
  return dir;
}

/** Waits until `path` exists or `delayMs` passes. */
export async function waitForPath(path: string, delayMs: number): Promise<boolean> {
  if (pathExists(path)) return true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watcher: Deno.FsWatcher | undefined;
  let done = false;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), delayMs);
  });
  const appear = (async () => {
    while (!done) {
      const dir = nearestExistingDir(path);
      try {
        watcher = Deno.watchFs(dir, { recursive: false });
      } catch {
        return false;
      }
      if (pathExists(path)) return true;
      const reaim = nearestExistingDir(path);
      for await (const _ of watcher) {
        if (pathExists(path)) return true;
        if (nearestExistingDir(path) !== reaim) break;
      }
      try {
        watcher.close();
      } catch { /* already closed */ }
    }
    return false;
  })();
  try {
    return await Promise.race([appear, timeout]);
  } finally {
    done = true;
    clearTimeout(timer);
    try {
      watcher?.close();
    } catch { /* already closed */ }
    await appear.catch(() => false);
  }
}
