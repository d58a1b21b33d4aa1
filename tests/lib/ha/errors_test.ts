import assert from "node:assert/strict";
import {
  DEAD_SERVER_ERRORS,
  isDeadServerError,
  isNotListening,
  notHaAware,
  serverEof,
} from "../../../lib/ha/errors.ts";

Deno.test("isDeadServerError() is true for every dead-server error class", () => {
  for (const cls of DEAD_SERVER_ERRORS) {
    assert.equal(isDeadServerError(new cls()), true, cls.name);
  }
  assert.equal(isDeadServerError(serverEof("x")), true);
});

Deno.test("isDeadServerError() is true for an error carrying ESTALE or ENOTCONN", () => {
  for (const code of ["ESTALE", "ENOTCONN"]) {
    const err = Object.assign(new Error(`${code} (os error)`), { code });
    assert.equal(isDeadServerError(err), true, code);
  }
});

Deno.test("isDeadServerError() is false for errors a dead server does not cause", () => {
  const ebadf = Object.assign(new Error("Bad file descriptor (os error 9)"), { code: "EBADF" });
  for (
    const err of [
      ebadf,
      new Deno.errors.PermissionDenied("no"),
      new Deno.errors.NotFound("gone"),
      new Deno.errors.Interrupted("canceled"),
      new TypeError("Invalid argument (os error 22)"),
      { code: "ESTALE" },
      null,
      "BrokenPipe",
    ]
  ) {
    assert.equal(isDeadServerError(err), false, String(err));
  }
});

Deno.test("isNotListening() is true for a refused connect and a missing socket file", () => {
  assert.equal(isNotListening(new Deno.errors.ConnectionRefused()), true);
  assert.equal(isNotListening(new Deno.errors.NotFound()), true);
  assert.equal(isNotListening(new Deno.errors.PermissionDenied()), false);
});

Deno.test("notHaAware() makes a HamError EBADF naming the operation", () => {
  const err = notHaAware("dup", "the object is not HA-aware");
  assert.equal(err.code, "EBADF");
  assert.equal(err.message, "Cannot dup: the object is not HA-aware");
});
