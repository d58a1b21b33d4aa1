/**
 * How an uncaught error ends a daemon (the HAM, the Guardian): logged, then `Deno.exit()`.
 * Deno's own way out of an uncaught error kills every child process it started with
 * `Deno.Command` — the Guardian among the HAM's, which then cannot take over; `Deno.exit()`
 * leaves them running. A HAM that hit an error nothing caught stops there (its state may
 * be half-changed) and its Guardian takes over from the journal.
 *
 * @module
 */

/** The exit code after an uncaught error (`EX_SOFTWARE`). */
export const FATAL_EXIT_CODE = 70;

let sink: ((line: string) => void) | null = null;
let installed = false;

/** Where the fatal line goes from now on (the daemon's log); stderr until then. */
export function logFatalTo(log: ((line: string) => void) | null): void {
  sink = log;
}

/** The fatal line of `err`, with its stack. */
export function fatalLine(role: string, what: string, err: unknown): string {
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  return `${role} ${Deno.pid}: fatal: ${what}: ${text}`;
}

/** Ends the process on an uncaught error or rejection, as the module says. Idempotent. */
export function exitOnUncaught(role: string): void {
  if (installed) return;
  installed = true;
  const end = (what: string, err: unknown) => {
    const line = fatalLine(role, what, err);
    try {
      if (sink) sink(line);
      else console.error(line);
    } catch { /* nowhere to say it */ }
    Deno.exit(FATAL_EXIT_CODE);
  };
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    end("an uncaught rejection", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    end("an uncaught error", e.error);
  });
}
