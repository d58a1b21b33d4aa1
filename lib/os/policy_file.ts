/**
 * Reads the policy file (`<state-dir>/policy`, or `ham --policy FILE`): checks that only
 * root or the HAM's own user can change it, parses it (`lib/core/policy.ts`) and resolves
 * user and group names through `/etc/passwd` and `/etc/group`.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { defaultPolicy, type Grant, parsePolicyText, type Policy } from "../core/policy.ts";
import { openNoFollowSync } from "./safe_open.ts";

/** Reads `/etc/passwd` or `/etc/group` as name → number (the third field). */
function idTable(path: string): Map<string, number> {
  const table = new Map<string, number>();
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch { /* no such table: names cannot be resolved */ }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && /^\d+$/.test(f[2])) table.set(f[0], Number(f[2]));
  }
  return table;
}

/** A group given by name or number (`--socket-group`), as a gid. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  const gid = idTable("/etc/group").get(group);
  if (gid === undefined) throw new HamError("EINVAL", `Unknown group "${group}"`);
  return gid;
}

/**
 * The effective policy: root and `hamUid` are admin, plus the grants of the file at
 * `path`. A missing file is the default policy unless `required` (`--policy FILE`).
 *
 * @throws {HamError} `EPERM` when the file may be changed by someone else than root or
 * `hamUid`; `EINVAL` for a malformed line or an unknown user or group; `ENOENT` for a
 * required file that is missing.
 */
export function loadPolicy(path: string, hamUid: number, required: boolean): Policy {
  let text: string;
  try {
    const file = openNoFollowSync(path, { read: true });
    try {
      const info = file.statSync();
      if (info.uid !== null && info.uid !== 0 && info.uid !== hamUid) {
        throw new HamError(
          "EPERM",
          `Cannot use policy file "${path}": it is owned by uid ${info.uid}, not by root or the HAM's uid ${hamUid}`,
        );
      }
      if (info.mode !== null && (info.mode & 0o022) !== 0) {
        throw new HamError(
          "EPERM",
          `Cannot use policy file "${path}": it is writable by its group or others (mode ${
            (info.mode & 0o7777).toString(8).padStart(4, "0")
          })`,
        );
      }
      // From the file checked, not the path again (which could name another file by now).
      const bytes = new Uint8Array(info.size);
      let got = 0;
      while (got < bytes.length) {
        const n = file.readSync(bytes.subarray(got));
        if (n === null || n === 0) break;
        got += n;
      }
      text = new TextDecoder().decode(bytes.subarray(0, got));
    } finally {
      file.close();
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound && !required) return defaultPolicy(hamUid);
    if (err instanceof Deno.errors.NotFound) {
      throw new HamError("ENOENT", `Cannot read policy file "${path}": no such file`);
    }
    throw err;
  }
  const users = idTable("/etc/passwd");
  const groups = idTable("/etc/group");
  const grants: Grant[] = parsePolicyText(text, `policy file "${path}"`).map((g) => {
    const source = `${g.kind}:${g.value}`;
    const lookup = (table: Map<string, number>, what: string) => {
      const id = table.get(g.value);
      if (id === undefined) {
        throw new HamError(
          "EINVAL",
          `Invalid policy file "${path}" line ${g.line}: unknown ${what} "${g.value}"`,
        );
      }
      return id;
    };
    switch (g.kind) {
      case "uid":
        return { role: g.role, who: { kind: "uid", id: Number(g.value) }, source };
      case "gid":
        return { role: g.role, who: { kind: "gid", id: Number(g.value) }, source };
      case "user":
        return { role: g.role, who: { kind: "uid", id: lookup(users, "user") }, source };
      case "group":
        return { role: g.role, who: { kind: "gid", id: lookup(groups, "group") }, source };
      case "cn":
        return { role: g.role, who: { kind: "cn", name: g.value }, source };
    }
  });
  return { ...defaultPolicy(hamUid), grants, file: path };
}
