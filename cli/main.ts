/**
 * The one entry point. The first argument picks the role: `ham` (the daemon), `guardian`
 * (its mirror, started by the HAM) or `hamctl` (the control client).
 *
 * @module
 */

const USAGE = "Usage: main.ts ham|guardian|hamctl [ARGS...]";

/**
 * Dispatches on the role; returns the exit code. Each role is imported on demand, so
 * `hamctl` loads only the client (it starts in about half the time of the whole program).
 */
export async function main(args: string[]): Promise<number> {
  const [role, ...rest] = args;
  switch (role) {
    case "ham":
      return await (await import("./ham.ts")).ham(rest);
    case "guardian":
      return await (await import("./guardian.ts")).guardian(rest);
    case "hamctl":
      return await (await import("./hamctl.ts")).hamctl(rest);
    default:
      console.error(USAGE);
      return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
