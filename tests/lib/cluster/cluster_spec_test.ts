import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import {
  type ClusterSpec,
  type EditRequest,
  parseSpec,
  scratchState,
  withEdit,
} from "../../../lib/cluster/cluster_spec.ts";
import { HamError } from "../../../lib/core/errors.ts";

const spec: ClusterSpec = {
  name: "web",
  attach: {
    op: "attach",
    entity: "web",
    argv: ["/bin/sleep", "1000"],
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
  },
  placement: ["n1", "n2"],
  edits: [],
};

const death: EditRequest = {
  id: 7,
  op: "condition",
  path: { entity: "web", condition: "death" },
  type: "death",
  flags: 0,
  from: 0,
  to: 0,
  rtype: 0,
  rclass: 0,
  rseverity: 0,
};

function code(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof HamError) return err.code;
    throw err;
  }
  return "none";
}

Deno.test("withEdit() appends an edit that the planners accept, without its request id", () => {
  const { spec: next, result } = withEdit(spec, death);
  assertEquals(next.edits, [{ ...death, id: 0 }]);
  assertEquals(result, { path: "web/death" });
  assertEquals(scratchState(next).entities.get("web")?.conditions.has("death"), true);
});

Deno.test("withEdit() refuses an edit as a local HAM would when it clashes or names nothing", () => {
  const once = withEdit(spec, death).spec;
  assertEquals(code(() => withEdit(once, death)), "EEXIST");
  const action: EditRequest = {
    id: 1,
    op: "action",
    path: { entity: "web", condition: "gone", action: "restart" },
    flags: 0,
    params: { kind: "restart", argv: null, policy: null },
  };
  assertEquals(code(() => withEdit(once, action)), "ENOENT");
});

Deno.test("parseSpec() reads a stored definition back and refuses one that is not", () => {
  assertEquals(parseSpec("web", JSON.stringify(spec)), spec);
  assertThrows(() => parseSpec("web", "{"), HamError);
  assertThrows(() => parseSpec("db", JSON.stringify(spec)), HamError);
});
