/**
 * Writes the plain-file mirror of the status tree (see `statusFiles()` in
 * `status_view.ts`) into a directory, the way `/proc/ham` shows it: every changed file
 * replaced atomically (temp file + rename), unchanged files left alone, stale files and
 * directories removed. Atomic, not durable: the mirror is rebuilt from the state anyway.
 *
 * @module
 */

import { ensureDirNoFollowSync } from "../os/safe_open.ts";
import { writeFileAtomic } from "../store/durable.ts";

type Kind = "file" | "dir";

/** What {@linkcode writeStatusTree} changed. */
export interface StatusTreeChanges {
  /** Files created or replaced. */
  written: number;
  /** Stale files or directories removed (a removed directory counts once). */
  removed: number;
}

async function listTree(root: string, rel = "", out = new Map<string, Kind>()) {
  for await (const entry of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
    const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
    out.set(path, entry.isDirectory ? "dir" : "file");
    if (entry.isDirectory) await listTree(root, path, out);
  }
  return out;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

/**
 * Makes `dir` hold exactly `files` (relative path → contents): writes each new or changed
 * file to a temp file beside it and renames it into place, and removes every other file
 * and directory under `dir`. Creates `dir` if needed.
 *
 * With `known` (what an earlier call wrote, kept by the caller), only the difference from
 * it is written and nothing is listed or read back: a 10,000-entity tree is walked once,
 * not at every change. `known` is updated; pass an empty Map the first time.
 *
 * @example
 * ```ts
 * import { writeStatusTree } from "./status_files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeStatusTree(dir, new Map([[".info", "Ham Pid : 1\n"], ["web/.info", "Path : web\n"]]));
 * const again = await writeStatusTree(dir, new Map([[".info", "Ham Pid : 1\n"]]));
 * console.log(again); // { written: 0, removed: 1 }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeStatusTree(
  dir: string,
  files: ReadonlyMap<string, string>,
  known?: Map<string, string>,
): Promise<StatusTreeChanges> {
  const previous = known !== undefined && known.size > 0 ? new Map(known) : null;
  if (previous === null) ensureDirNoFollowSync(dir);
  const existing = previous ? kindsOf(previous) : await listTree(dir);
  const wantedDirs = new Set<string>();
  for (const rel of files.keys()) {
    for (let p = parentOf(rel); p !== "" && !wantedDirs.has(p); p = parentOf(p)) wantedDirs.add(p);
  }
  const changes: StatusTreeChanges = { written: 0, removed: 0 };
  const removedDirs: string[] = [];
  for (const [rel, kind] of existing) {
    if (kind === "file" ? files.has(rel) : wantedDirs.has(rel)) continue;
    if (removedDirs.some((d) => rel.startsWith(`${d}/`))) continue;
    await Deno.remove(`${dir}/${rel}`, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    if (kind === "dir") removedDirs.push(rel);
    existing.delete(rel);
    changes.removed++;
  }
  for (const d of wantedDirs) {
    if (existing.get(d) !== "dir") await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  known?.clear();
  for (const [rel, text] of files) {
    if (existing.get(rel) === "file") {
      const before = previous ? previous.get(rel) : await readIfExists(`${dir}/${rel}`);
      if (before === text) {
        known?.set(rel, text);
        continue;
      }
    }
    await writeFileAtomic(`${dir}/${rel}`, text);
    known?.set(rel, text);
    changes.written++;
  }
  return changes;
}

/** The files of `known` and every directory above them. */
function kindsOf(known: ReadonlyMap<string, string>): Map<string, Kind> {
  const out = new Map<string, Kind>();
  for (const rel of known.keys()) {
    for (let p = parentOf(rel); p !== "" && !out.has(p); p = parentOf(p)) out.set(p, "dir");
    out.set(rel, "file");
  }
  return out;
}
