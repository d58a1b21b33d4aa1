/**
 * Waiting with a deadline, for tests that wait for real processes: never `sleep(n)` and
 * hope.
 *
 * @module
 */

/** Resolves like `promise`, or fails the test when it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spins, synchronously, until `condition()` holds, so that Deno's event loop cannot run
 * meanwhile (it would reap a Deno child that became a zombie). Fails after `ms`.
 */
export function spinUntil(condition: () => boolean, what: string, ms = 5000): void {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
  }
}
