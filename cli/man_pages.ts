/**
 * Writes the man pages `man/ham.8` and `man/hamctl.8` from the same text `ham --help`,
 * `hamctl help` and `hamctl help SUBCOMMAND` print (`deno task man`; a test checks that
 * the committed pages are what this writes).
 *
 * Run: `bin/deno run --allow-read --allow-write --allow-env cli/man_pages.ts`
 *
 * @module
 */

import { USAGE as HAM_USAGE } from "./ham.ts";
import { HELP } from "./hamctl/help_text.ts";
import { loadAllSubcommands } from "./hamctl/registry.ts";
import { VERSION } from "../lib/core/version.ts";

/** Text escaped for roff: backslashes, and a leading dot or quote. */
function roff(text: string): string {
  return text.replaceAll("\\", "\\e").replaceAll("-", "\\-").replace(/^([.'])/gm, "\\&$1");
}

function header(name: string, summary: string): string[] {
  return [
    `.TH ${name.toUpperCase()} 8 "" "ham ${VERSION}" "System Administration"`,
    ".SH NAME",
    `${name} \\- ${summary}`,
  ];
}

/** The man page of `ham`. */
export function hamManPage(): string {
  const [usage, , ...rest] = HAM_USAGE.trimEnd().split("\n\n");
  return [
    ...header("ham", "the High Availability Manager: a supervisor with a Guardian mirror"),
    ".SH SYNOPSIS",
    ".nf",
    roff(usage.replace(/^Usage: /, "")),
    ".fi",
    ".SH DESCRIPTION",
    ".nf",
    roff([HAM_USAGE.split("\n\n")[1], ...rest].join("\n\n")),
    ".fi",
    ".SH SEE ALSO",
    "hamctl(8), systemd.service(5)",
    "",
  ].join("\n");
}

/** The man page of `hamctl`. */
export async function hamctlManPage(): Promise<string> {
  const { usage } = await import("./hamctl.ts");
  const general = await usage();
  const lines = [
    ...header("hamctl", "control a running ham"),
    ".SH SYNOPSIS",
    roff(general.split("\n")[0].replace(/^Usage: /, "")),
    ".SH DESCRIPTION",
    ".nf",
    roff(general.split("\n\nSubcommands:")[0].replace(/^Usage: .*\n?/, "")),
    roff(general.slice(general.indexOf("Options:"))),
    ".fi",
    ".SH SUBCOMMANDS",
  ];
  for (const s of await loadAllSubcommands()) {
    const help = HELP[s.name];
    lines.push(".TP", `.B ${roff(s.usage.split("\n")[0])}`);
    if (s.usage.includes("\n")) {
      lines.push(".nf", roff(s.usage.split("\n").slice(1).join("\n")), ".fi");
    }
    if (help) lines.push(roff(help.summary), ".br", `Example: ${roff(help.example)}`);
  }
  lines.push(".SH SEE ALSO", "ham(8)", "");
  return lines.join("\n");
}

if (import.meta.main) {
  const dir = new URL("../man/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}ham.8`, hamManPage());
  await Deno.writeTextFile(`${dir}hamctl.8`, await hamctlManPage());
}
