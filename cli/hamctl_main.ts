/**
 * `hamctl` alone: the entry point of its one-file bundle (`dist/hamctl.js`, which
 * `bin/hamctl` builds with `deno bundle` and runs while no source is newer). Bundled, a
 * `hamctl` run loads one module instead of twenty, and V8's code cache covers all of it.
 *
 * Run: `bin/deno run --allow-read --allow-write --allow-net --allow-env cli/hamctl_main.ts ping`
 *
 * @module
 */

import { hamctl } from "./hamctl.ts";

Deno.exit(await hamctl(Deno.args));
