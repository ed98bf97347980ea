/**
 * `--upload volumes`: the SigV4 signer against the AWS documentation's S3 examples; the fake gateway's own
 * verifier against the same examples (so each side is checked apart from the other); the gateway accepts a
 * good signature and refuses a tampered one, a wrong key and a stale date; the client's bucket, HEAD, PUT and
 * signed GET; errors that never repeat the key; a bad object is caught on the VM and removed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startFakeVolumes } from "../fakes/fake_volumes.ts";
import { startMorphDouble } from "../fakes/morph_double.ts";
import { parseAmzDate, verifySigV4 } from "../fakes/sigv4_verify.ts";
import { volumesBucketName, VolumesClient } from "../../provision/volumes_client.ts";
import { parseS3Error, VolumesApiError } from "../../provision/volumes_errors.ts";
import { signVolumesRequest, UNSIGNED_PAYLOAD } from "../../provision/volumes_signer.ts";
import { volumesDownloadCommand } from "../../provision/vm_commands.ts";
import { MorphClient } from "../../provision/morph_client.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { uploadThroughVolumes } from "../../provision/volumes_upload.ts";
import { waitUntil } from "../../provision/wait_until.ts";

// The credentials, time and host of the examples in the AWS S3 API reference, "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)".
const AWS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const AWS_DATE = "20130524T000000Z";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EXAMPLES = [
  {
    name: "GET Bucket Lifecycle",
    url: "https://examplebucket.s3.amazonaws.com/?lifecycle",
    signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
  },
  {
    name: "GET Bucket (List Objects)",
    url: "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
    signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
  },
];

Deno.test("the signer reproduces the AWS S3 documentation's SigV4 examples", async () => {
  for (const example of EXAMPLES) {
    const signed = await signVolumesRequest("GET", example.url, AWS, {
      datetime: AWS_DATE,
      payloadHash: EMPTY_SHA256,
    });
    assert.equal(
      signed.headers.authorization,
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
        `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${example.signature}`,
      example.name,
    );
    assert.equal(signed.headers["x-amz-date"], AWS_DATE);
  }
});

Deno.test("the fake gateway's verifier accepts the same AWS examples, and nothing altered", () => {
  for (const example of EXAMPLES) {
    const url = new URL(example.url);
    const headers = new Headers({
      host: url.host,
      "x-amz-date": AWS_DATE,
      "x-amz-content-sha256": EMPTY_SHA256,
      authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
        `SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=${example.signature}`,
    });
    const received = { method: "GET", rawPath: url.pathname, rawQuery: url.search.slice(1), headers };
    const secretFor = (id: string) => id === AWS.accessKeyId ? AWS.secretAccessKey : undefined;
    const at = parseAmzDate(AWS_DATE)!;
    assert.equal(verifySigV4(received, secretFor, at).ok, true, example.name);
    const otherQuery = { ...received, rawQuery: received.rawQuery + "&x=1" };
    assert.equal(verifySigV4(otherQuery, secretFor, at).ok, false, "a changed query breaks the signature");
    assert.equal(verifySigV4({ ...received, method: "PUT" }, secretFor, at).ok, false);
  }
});

Deno.test("requests are signed the way Morph's client signs them: three headers, UNSIGNED-PAYLOAD", async () => {
  const signed = await signVolumesRequest("PUT", "http://127.0.0.1:9/b/k", {
    accessKeyId: "key",
    secretAccessKey: "key",
  });
  assert.equal(signed.headers["x-amz-content-sha256"], UNSIGNED_PAYLOAD);
  assert.match(
    signed.headers.authorization,
    /^AWS4-HMAC-SHA256 Credential=key\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
  );
  const bucket = await volumesBucketName("secret-key");
  assert.match(bucket, /^mcp-sidecar-[0-9a-f]{12}$/);
  assert.ok(!bucket.includes("secret"));
});

Deno.test("the fake gateway accepts a good signature and refuses a tampered one, a wrong key, a stale date", async () => {
  const apiKey = `morph-unit-${crypto.randomUUID()}`;
  const gateway = startFakeVolumes({ apiKey });
  try {
    const volumes = new VolumesClient({ apiKey, baseUrl: gateway.url });
    assert.equal(await volumes.ensureBucket("bkt"), "created");
    await volumes.putObject("bkt", "obj", new TextEncoder().encode("hello"));
    const get = async (url: string, headers: Record<string, string>) => {
      const response = await fetch(url, { headers });
      return { status: response.status, text: await response.text() };
    };

    const good = await volumes.signGet("bkt", "obj");
    assert.deepEqual(await get(good.url, good.headers), { status: 200, text: "hello" });

    const tampered = good.headers.authorization.replace(/.$/, (c) => c === "0" ? "1" : "0");
    const bad = await get(good.url, { ...good.headers, authorization: tampered });
    assert.equal(bad.status, 403);
    assert.equal(parseS3Error(bad.text).code, "SignatureDoesNotMatch");

    const otherObject = await get(good.url.replace("/obj", "/other"), good.headers);
    assert.equal(parseS3Error(otherObject.text).code, "SignatureDoesNotMatch", "a signature is for one URL");

    const wrong = await signVolumesRequest("GET", good.url, {
      accessKeyId: "other",
      secretAccessKey: "other",
    });
    assert.equal(parseS3Error((await get(wrong.url, wrong.headers)).text).code, "InvalidAccessKeyId");
    const wrongSecret = await signVolumesRequest("GET", good.url, {
      accessKeyId: apiKey,
      secretAccessKey: "x",
    });
    assert.equal(parseS3Error((await get(good.url, wrongSecret.headers)).text).code, "SignatureDoesNotMatch");

    const stale = new Date(Date.now() - 16 * 60_000).toISOString().replace(/[:-]|\.\d{3}/g, "");
    const old = await signVolumesRequest("GET", good.url, { accessKeyId: apiKey, secretAccessKey: apiKey }, {
      datetime: stale,
    });
    const oldAnswer = await get(old.url, old.headers);
    assert.equal(oldAnswer.status, 403);
    assert.equal(parseS3Error(oldAnswer.text).code, "RequestTimeTooSkewed");
    const recent = new Date(Date.now() - 5 * 60_000).toISOString().replace(/[:-]|\.\d{3}/g, "");
    const fine = await signVolumesRequest("GET", good.url, { accessKeyId: apiKey, secretAccessKey: apiKey }, {
      datetime: recent,
    });
    assert.equal((await get(fine.url, fine.headers)).status, 200, "five minutes off is within the window");

    const unsigned = await get(good.url, {});
    assert.equal(unsigned.status, 403);
    assert.equal(parseS3Error(unsigned.text).code, "AccessDenied");
  } finally {
    await gateway.close();
  }
});

Deno.test("the client: an owned bucket is fine, HEAD sees size, a rejected key never shows in the error", async () => {
  const apiKey = `morph-unit-${crypto.randomUUID()}`;
  const gateway = startFakeVolumes({ apiKey });
  try {
    const volumes = new VolumesClient({ apiKey, baseUrl: gateway.url });
    const bucket = await volumes.bucketName();
    assert.equal(await volumes.ensureBucket(bucket), "created");
    assert.equal(await volumes.ensureBucket(bucket), "existed", "409 BucketAlreadyOwnedByYou is fine");
    assert.equal(await volumes.headObject(bucket, "k"), undefined);
    await volumes.putObject(bucket, "k", new Uint8Array(1234));
    assert.deepEqual(await volumes.headObject(bucket, "k"), { size: 1234 });
    await volumes.deleteObject(bucket, "k");
    assert.equal(gateway.object(bucket, "k"), undefined);

    const wrongKey = `wrong-${crypto.randomUUID()}`;
    const intruder = new VolumesClient({ apiKey: wrongKey, baseUrl: gateway.url });
    const error = await intruder.putObject(bucket, "k", new Uint8Array(1)).then(() => undefined, (e) => e);
    assert.ok(error instanceof VolumesApiError);
    assert.equal(error.status, 403);
    assert.match(error.message, /InvalidAccessKeyId.*check MORPH_API_KEY/);
    assert.ok(!error.message.includes(wrongKey), "the key is not in the message");
  } finally {
    await gateway.close();
  }
});

Deno.test("an S3 error body that echoes the access key id is reduced to code and message", () => {
  const key = "morph-secret-123";
  const error = VolumesApiError.from(
    "GET",
    "/b/k",
    403,
    `<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message><AWSAccessKeyId>${key}</AWSAccessKeyId></Error>`,
  );
  assert.ok(!error.message.includes(key));
  assert.match(error.message, /HTTP 403 \(SignatureDoesNotMatch: no\)/);
  assert.deepEqual(parseS3Error('{"detail":"nope"}'), { code: "", message: "nope" });
});

Deno.test("the VM's download command fetches with curl, checks the hash, and leaves no file on failure", async () => {
  const apiKey = `morph-unit-${crypto.randomUUID()}`;
  const gateway = startFakeVolumes({ apiKey });
  const dir = await Deno.makeTempDir({ prefix: "volumes-download-" });
  try {
    const volumes = new VolumesClient({ apiKey, baseUrl: gateway.url });
    const bytes = new TextEncoder().encode("artifact bytes");
    const bucket = await volumes.bucketName();
    await volumes.ensureBucket(bucket);
    await volumes.putObject(bucket, "obj", bytes);
    const sha256 = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const run = async (command: string) => {
      const out = await new Deno.Command("sh", { args: ["-c", command], stdout: "piped", stderr: "piped" })
        .output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const signed = await volumes.signGet(bucket, "obj");
    const target = `${dir}/bin/artifact`;
    const ok = await run(volumesDownloadCommand({ ...signed, path: target, sha256 }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await Deno.readTextFile(target), "artifact bytes");
    assert.equal((await Deno.stat(target)).mode! & 0o777, 0o755);

    const mismatch = await run(
      volumesDownloadCommand({ ...signed, path: `${dir}/m`, sha256: "0".repeat(64) }),
    );
    assert.equal(mismatch.code, 4);
    const denied = await run(
      volumesDownloadCommand({
        ...signed,
        headers: { ...signed.headers, authorization: signed.headers.authorization.replace(apiKey, "x") },
        path: `${dir}/d`,
        sha256,
      }),
    );
    assert.equal(denied.code, 6);
    assert.match(denied.stderr, /HTTP 403 to the VM's GET: InvalidAccessKeyId/);
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left, ["bin"], "no temp or error file is left behind");
  } finally {
    await gateway.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a bad object in the bucket fails the VM's SHA-256 check and is removed, so the next run re-PUTs it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using double = await startMorphDouble();
    const morph = new MorphClient({ apiKey: double.apiKey, baseUrl: double.baseUrl });
    const volumes = new VolumesClient({ apiKey: double.apiKey, baseUrl: double.volumes.url });
    const snapshot = await morph.createSnapshot({
      image_id: "morphvm-minimal",
      vcpus: 1,
      memory: 128,
      disk_size: 700,
    });
    const poll = { timeoutMs: 10_000, intervalMs: 100 };
    await waitUntil(
      "snapshot",
      async () => (await morph.getSnapshot(snapshot.id)).status === "ready" || undefined,
      poll,
    );
    const instance = await morph.startInstance(snapshot.id, {});
    await waitUntil(
      "instance",
      async () => (await morph.getInstance(instance.id)).status === "ready" || undefined,
      poll,
    );

    const bytes = new TextEncoder().encode("the real artifact");
    const sha256 = await sha256Hex(bytes);
    const bucket = await volumes.bucketName();
    await volumes.ensureBucket(bucket);
    // Same size, other bytes: HEAD cannot tell, only the VM's hash check can.
    await volumes.putObject(bucket, sha256, new TextEncoder().encode("the fake artifact"));
    const path = "/opt/mcp-sidecar/bin/artifact";
    await assert.rejects(
      uploadThroughVolumes(morph, volumes, instance.id, bytes, path),
      /does not match its SHA-256 on the VM; the object was removed/,
    );
    assert.equal(double.volumes.object(bucket, sha256), undefined);

    const report = await uploadThroughVolumes(morph, volumes, instance.id, bytes, path);
    assert.deepEqual([report.alreadyPresent, report.bucketState, report.putSkipped], [
      false,
      "existed",
      false,
    ]);
    const onVm = await Deno.readTextFile(join(double.sandboxOf(instance.id), path));
    assert.equal(onVm, "the real artifact");
    const third = await uploadThroughVolumes(morph, volumes, instance.id, bytes, path);
    assert.equal(third.alreadyPresent, true, "a file already on the VM is not fetched again");
  },
});
