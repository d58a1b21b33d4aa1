/**
 * Writes the plain-file mirror of the status tree (see `statusFiles()` in
 * `status_view.ts`) into a directory, the way `/proc/ham` shows it: every changed file
 * replaced atomically (temp file + rename), unchanged files left alone, stale files and
 * directories removed. Atomic, not durable: the mirror is rebuilt from the state anyway.
 *
 * @module
 */

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
): Promise<StatusTreeChanges> {
  await Deno.mkdir(dir, { recursive: true });
  const existing = await listTree(dir);
  const wantedDirs = new Set<string>();
  for (const rel of files.keys()) {
    for (let p = parentOf(rel); p !== "" && !wantedDirs.has(p); p = parentOf(p)) wantedDirs.add(p);
  }
  const changes: StatusTreeChanges = { written: 0, removed: 0 };
  const removedDirs: string[] = [];
  for (const [rel, kind] of existing) {
    if (kind === "file" ? files.has(rel) : wantedDirs.has(rel)) continue;
    if (removedDirs.some((d) => rel.startsWith(`${d}/`))) continue;
    await Deno.remove(`${dir}/${rel}`, { recursive: true });
    if (kind === "dir") removedDirs.push(rel);
    existing.delete(rel);
    changes.removed++;
  }
  for (const d of wantedDirs) {
    if (existing.get(d) !== "dir") await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  for (const [rel, text] of files) {
    const path = `${dir}/${rel}`;
    if (existing.get(rel) === "file" && await readIfExists(path) === text) continue;
    const slash = rel.lastIndexOf("/");
    const tmp = `${dir}/${rel.slice(0, slash + 1)}.tmp-${rel.slice(slash + 1)}`;
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
    changes.written++;
  }
  return changes;
}
