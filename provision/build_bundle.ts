/**
 * `deno task bundle`: builds the bundle artifact, `dist/mcp-sidecar-bundle.tar` (the one-file bundle plus the
 * vendored npm cache of the git and http backends), and prints its path and SHA-256.
 *
 * @module
 */
import { buildBundleArtifact } from "./artifact.ts";
import { sha256Hex } from "../src/sha256.ts";

if (import.meta.main) {
  const tar = await buildBundleArtifact();
  console.log(`${tar} sha256 ${await sha256Hex(await Deno.readFile(tar))}`);
}
