/**
 * The package's version, as `ham --version` and `hamctl --version` print it. It is the
 * `version` of package.json (a test keeps the two equal).
 *
 * @module
 */

/** The version of ham (package.json's `version`). */
export const VERSION = "0.2.0";

/** The line `--version` prints: `ham 0.2.0`. */
export const VERSION_LINE = `ham ${VERSION}`;
