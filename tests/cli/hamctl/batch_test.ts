import assert from "node:assert/strict";
import { splitWords } from "../../../cli/hamctl/batch.ts";

Deno.test("splitWords() splits at blanks and honours quotes, escapes and comments like a shell", () => {
  assert.deepEqual(splitWords("  attach web -- /bin/sleep 1000  "), [
    "attach",
    "web",
    "--",
    "/bin/sleep",
    "1000",
  ]);
  assert.deepEqual(splitWords(`log --message "web \\"died\\" \\$1" 'it''s' a\\ b`), [
    "log",
    "--message",
    'web "died" $1',
    "its",
    "a b",
  ]);
  assert.deepEqual(splitWords(`x "" ''`), ["x", "", ""]);
  assert.deepEqual(splitWords("# a comment"), []);
  assert.deepEqual(splitWords("ping # trailing, and a#b stays"), ["ping"]);
  assert.deepEqual(splitWords("a#b"), ["a#b"]);
  assert.deepEqual(splitWords(""), []);
});

Deno.test("splitWords() refuses an unterminated quote", () => {
  assert.throws(() => splitWords(`log --message "web`), /Unterminated " quote/);
  assert.throws(() => splitWords(`log --message 'web`), /Unterminated ' quote/);
});
