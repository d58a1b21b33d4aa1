/**
 * Fault injection (see `tests/support/fault_harness.ts`): rounds of a random workload, each
 * ended by a SIGKILL of the HAM, its Guardian or both at a random point or at a seeded step
 * boundary of the engine (`HAM_TEST_KILL_AT`), then the recovery and the invariants (zero
 * orphans, one live process per worker, every death handled once). CI runs a few rounds;
 * run as long as you like by hand:
 *
 * `HAM_FAULT_ROUNDS=200 HAM_FAULT_SEED=42 bin/deno test -A tests/integration/fault_injection_test.ts`
 */

import { FaultHarness } from "../support/fault_harness.ts";

Deno.test(
  "the HAM keeps every acknowledged request and every worker through random SIGKILLs",
  async () => {
    const rounds = Number(Deno.env.get("HAM_FAULT_ROUNDS") ?? 5);
    const seed = Number(Deno.env.get("HAM_FAULT_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`fault-injection seed=${seed} rounds=${rounds}`);
    await using h = await FaultHarness.start(seed);
    for (let round = 1; round <= rounds; round++) {
      try {
        await h.round();
      } catch (err) {
        const failed = new Error(
          `Round ${round} of fault-injection seed=${seed} failed: ${(err as Error).message}\n` +
            `(${h.summary()})\nWhat the harness did:\n${h.trail()}\nThe HAM's log:\n` +
            h.ham.log().split("\n").slice(-80).join("\n"),
          { cause: err },
        );
        // Printed now: a leak found by the disposal below would otherwise hide it.
        console.error(failed.message);
        throw failed;
      }
      if (round % 50 === 0) console.log(`round ${round}: ${h.summary()}`);
    }
    console.log(`fault-injection seed=${seed} rounds=${rounds}: ${h.summary()}`);
  },
);
