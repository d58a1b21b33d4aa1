/**
 * Strict long-option parsing for `hamctl` subcommands, as `node:util` `parseArgs` does it
 * with `strict: true` and `allowPositionals: true`, but without the `node:` compatibility
 * layer, which alone costs `hamctl` 10–20 ms at every start.
 *
 * @module
 */

/** Option specs: each long option's name and whether it takes a value. */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/**
 * The options that were given (a repeated option keeps its last value, or all of them in
 * order when `multiple`) and the positionals.
 */
export interface ParsedOptions {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/**
 * Parses `args` (without any `--` and what follows it) against `options`: `--name`,
 * `--name VALUE` and `--name=VALUE` for string options, `--name` for booleans, and every
 * other word as a positional (`-` included); `-x` for an option whose `short` is `x`, and
 * `-xy` for two boolean ones (`-vv`). Throws an `Error` whose message names the option,
 * such as `Unknown option "--bogus"`.
 *
 * @example
 * ```ts
 * import { parseOptions } from "./parse_args.ts";
 * const p = parseOptions(["web", "--pid", "42"], { pid: { type: "string" } });
 * console.log(p.values.pid, p.positionals); // 42 [ "web" ]
 * ```
 */
export function parseOptions(args: readonly string[], options: OptionSpec): ParsedOptions {
  const values: ParsedOptions["values"] = {};
  const positionals: string[] = [];
  const set = (name: string, value: string | boolean) => {
    const prev = values[name];
    values[name] = options[name].multiple ? [...(Array.isArray(prev) ? prev : []), value] : value;
  };
  const shortName = (c: string) => Object.keys(options).find((k) => options[k].short === c);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.length < 2 || arg[0] !== "-") {
      positionals.push(arg);
      continue;
    }
    if (arg[1] !== "-" && arg.length > 2 && !arg.includes("=")) {
      const names = [...arg.slice(1)].map(shortName);
      if (names.every((n) => n !== undefined && options[n].type === "boolean")) {
        for (const n of names) set(n!, true);
        continue;
      }
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const name = flag.startsWith("--") ? flag.slice(2) : shortName(flag.slice(1)) ?? "";
    const spec = Object.hasOwn(options, name) ? options[name] : undefined;
    if (spec === undefined) throw new Error(`Unknown option "${flag}"`);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new Error(`Option "${flag}" does not take an argument`);
      set(name, true);
    } else if (eq >= 0) {
      set(name, arg.slice(eq + 1));
    } else {
      const value = args[i + 1];
      if (value === undefined) throw new Error(`Option "${flag} <value>" argument missing`);
      if (value.length > 1 && value[0] === "-") {
        throw new Error(
          `Option "${flag}" argument is ambiguous: to give a value starting with "-", write ${flag}=${value}`,
        );
      }
      set(name, value);
      i++;
    }
  }
  return { values, positionals };
}

/**
 * Parses the options of a daemon role (`ham`, `guardian`): as {@linkcode parseOptions}, and
 * no positionals. Typed by the spec: a `multiple` option is an array, a boolean one a boolean.
 */
export function parseRoleOptions<const S extends OptionSpec>(
  args: readonly string[],
  options: S,
): RoleValues<S> {
  const { values, positionals } = parseOptions(args, options);
  if (positionals.length > 0) throw new Error(`Unexpected argument "${positionals[0]}"`);
  return values as RoleValues<S>;
}

/** The values {@linkcode parseRoleOptions} gives for a spec. */
export type RoleValues<S extends OptionSpec> = {
  [K in keyof S]?: S[K]["type"] extends "boolean"
    ? (S[K] extends { multiple: true } ? boolean[] : boolean)
    : (S[K] extends { multiple: true } ? string[] : string);
};
