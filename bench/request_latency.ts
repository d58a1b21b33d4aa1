/**
 * Measurement 3: one control request's round trip through the library, over an open
 * connection: `ping`, and `status` of one entity. Requests are sequential (one in flight).
 *
 * @module
 */

import type { Ham } from "../lib/client/ham.ts";
import { type Figure, figure } from "./stats.ts";

/** Times `samples` sequential calls of `call` in ms, after `warmup` untimed ones. */
async function timeCalls(call: () => Promise<unknown>, samples: number, warmup: number) {
  for (let i = 0; i < warmup; i++) await call();
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
  return out;
}

/** Measures the `ping` and `status ENTITY` round trips. */
export async function measureRequests(
  ham: Ham,
  entity: string,
  samples: number,
): Promise<Figure[]> {
  const warmup = Math.min(50, samples);
  const ping = await timeCalls(() => ham.ping(), samples, warmup);
  const status = await timeCalls(() => ham.status(entity), samples, warmup);
  return [
    figure({ id: "request.ping", label: "library request: ping", unit: "ms", target: null }, ping),
    figure({
      id: "request.status",
      label: `library request: status of "${entity}"`,
      unit: "ms",
      target: null,
    }, status),
  ];
}
