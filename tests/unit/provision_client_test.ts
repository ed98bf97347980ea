/** The Morph client against the double: errors that say what to do, retries on 500s, 422 fields named. */
import assert from "node:assert/strict";
import { MorphClient } from "../../provision/morph_client.ts";
import { MorphApiError } from "../../provision/morph_errors.ts";
import { startMorphDouble } from "../fakes/morph_double.ts";

const fast = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

Deno.test("404, 409 and 422 become errors that name the problem", async () => {
  await using double = await startMorphDouble();
  const morph = new MorphClient({ apiKey: double.apiKey, baseUrl: double.baseUrl, retry: fast });
  const missing = await morph.getInstance("morphvm_nope").catch((error) => error);
  assert.ok(missing instanceof MorphApiError);
  assert.equal(missing.status, 404);
  assert.match(missing.message, /not found \(HTTP 404: Instance not found\)\. The resource is gone/);
  const invalid = await morph.createSnapshot({
    image_id: "morphvm-minimal",
    vcpus: -1,
    memory: 1,
    disk_size: 1,
  })
    .catch((error) => error);
  assert.equal(invalid.status, 422);
  assert.match(invalid.message, /body\.vcpus: /);
  const snapshot = await morph.createSnapshot({
    image_id: "morphvm-minimal",
    vcpus: 1,
    memory: 128,
    disk_size: 700,
  });
  const pending = await morph.startInstance(snapshot.id, {}).catch((error) => error);
  assert.equal(pending.status, 409, "a pending snapshot cannot start an instance");
  assert.match(pending.message, /conflict/);
});

Deno.test("a rejected key and retried 500s", async () => {
  await using double = await startMorphDouble({
    faults: { failWith500: { match: /^GET \/api\/snapshot/, count: 2 } },
  });
  const retries: string[] = [];
  const morph = new MorphClient({
    apiKey: double.apiKey,
    baseUrl: double.baseUrl,
    retry: fast,
    onRetry: (what, _attempt, reason) => retries.push(`${what} ${reason}`),
  });
  assert.deepEqual((await morph.listSnapshots({ digest: "x" })).data, []);
  assert.equal(retries.length, 2);
  const wrong = new MorphClient({ apiKey: "wrong", baseUrl: double.baseUrl, retry: fast });
  const rejected = await wrong.listInstances().catch((error) => error);
  assert.equal(rejected.status, 401);
  assert.match(rejected.message, /rejected the API key/);
  assert.ok(!rejected.message.includes("wrong"));
});
