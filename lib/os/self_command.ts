/**
 * The command line that runs this same program again in another role (the detached HAM,
 * the Guardian), with exactly the permissions that role needs.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";

/** Deno permissions of the `ham` and `guardian` roles. */
export const DAEMON_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-run",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

/**
 * The argv prefix that starts the program: `deno run <perms> <main>` when running from
 * source or a bundle, the executable alone when compiled with `deno compile`.
 * `HAM_SELF` (a JSON array, set by tests or wrappers) overrides it.
 */
export function selfCommand(): string[] {
  const override = Deno.env.get("HAM_SELF");
  if (override) return JSON.parse(override) as string[];
  const main = Deno.mainModule;
  if (main.startsWith("file:") && /\.(ts|js|mjs)$/.test(main) && !isCompiled()) {
    const args = [
      Deno.execPath(),
      "run",
      "--quiet",
      "--no-prompt",
      `--v8-flags=${DEFAULTS.daemonV8Flags}`,
      ...DAEMON_PERMISSIONS,
    ];
    // A bundle (bin/ham's dist/ham.js) has the config one directory up: its import map
    // resolves the npm packages left out of it.
    const config = main.endsWith(".js")
      ? new URL("../deno.json", main)
      : new URL("../../deno.json", import.meta.url);
    if (config.protocol === "file:" && isFile(fromFileUrl(config))) {
      args.push("--config", fromFileUrl(config));
    } else {
      args.push("--no-config");
    }
    return [...args, fromFileUrl(main)];
  }
  return [Deno.execPath()];
}

/** The path of a `file:` URL (what `node:url`'s `fileURLToPath` gives, without `node:`). */
function fromFileUrl(url: string | URL): string {
  return decodeURIComponent(new URL(url).pathname);
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function isCompiled(): boolean {
  // A compiled binary's main module lives in a virtual file system under the executable.
  return !/(^|\/)deno$/.test(Deno.execPath());
}
