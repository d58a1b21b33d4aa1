/**
 * The one entry point. The first argument picks the role: `ham` (the daemon), `guardian`
 * (its mirror, started by the HAM) or `hamctl` (the control client).
 *
 * @module
 */

import { guardian } from "./guardian.ts";
import { ham } from "./ham.ts";
import { hamctl } from "./hamctl.ts";

const USAGE = "Usage: main.ts ham|guardian|hamctl [ARGS...]";

/** Dispatches on the role; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [role, ...rest] = args;
  switch (role) {
    case "ham":
      return await ham(rest);
    case "guardian":
      return await guardian(rest);
    case "hamctl":
      return await hamctl(rest);
    default:
      console.error(USAGE);
      return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
