/**
 * A test-only kill point: when `HAM_TEST_KILL_AT` names a file, the HAM reads that file at
 * each step boundary of its engine until it finds it, consumes it (removes it, so one HAM
 * takes it), and SIGKILLs itself at the step boundary it names. The file holds `N` (the
 * N-th step boundary from then on) or `PREFIX:N` (the N-th one whose name starts with
 * PREFIX, e.g. `restart spawned:1`); with `throw:` before it, the HAM does not kill itself
 * there but throws an error nothing catches (what a bug would do). The fault-injection
 * harness uses it to land kills inside the engine's own windows instead of hoping a timer
 * hits them.
 *
 * @module
 */

interface Armed {
  prefix: string;
  left: number;
  /** Throw an uncaught error instead of SIGKILL. */
  raise: boolean;
}

function parse(text: string): Armed | null {
  let t = text.trim();
  const raise = t.startsWith("throw:");
  if (raise) t = t.slice("throw:".length);
  const colon = t.lastIndexOf(":");
  const prefix = colon < 0 ? "" : t.slice(0, colon);
  const n = Number(colon < 0 ? t : t.slice(colon + 1));
  return Number.isSafeInteger(n) && n > 0 ? { prefix, left: n, raise } : null;
}

/**
 * The step hook for `HAM_TEST_KILL_AT`, or undefined when it is not set (the normal case:
 * then the engine's steps cost nothing).
 */
export function killPointFromEnv(): ((step: string) => void) | undefined {
  const file = Deno.env.get("HAM_TEST_KILL_AT");
  if (!file) return undefined;
  let armed: Armed | null = null;
  return (step) => {
    if (!armed) {
      let text: string;
      try {
        text = Deno.readTextFileSync(file);
        Deno.removeSync(file);
      } catch {
        return; // Not armed (or another HAM took it).
      }
      armed = parse(text);
      if (!armed) return;
    }
    if (!step.startsWith(armed.prefix) || --armed.left > 0) return;
    if (armed.raise) {
      const at = step;
      armed = { prefix: "\u0000never", left: 1, raise: false }; // Once.
      queueMicrotask(() => {
        throw new Error(`test error at step "${at}"`);
      });
      return;
    }
    console.error(`ham ${Deno.pid}: test kill point at step "${step}"`);
    Deno.kill(Deno.pid, "SIGKILL");
  };
}
