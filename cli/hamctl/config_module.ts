/**
 * Loads the config-file module (YAML, from npm) for `apply` and `export`. The specifier is
 * not a literal, so the one-file bundle of `hamctl` leaves the module (and the npm package)
 * out; `bin/hamctl` runs `apply` and `export` from the sources, where it resolves.
 *
 * @module
 */

/** The config-file module. */
export type ConfigModule = typeof import("../../lib/os/config_file.ts");

const CONFIG_MODULE = "../../lib/os/config_file.ts";

/** Imports `lib/os/config_file.ts`. */
export async function loadConfigModule(): Promise<ConfigModule> {
  return await import(CONFIG_MODULE) as ConfigModule;
}
