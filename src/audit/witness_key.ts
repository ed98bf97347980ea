/**
 * The witness key: the Ed25519 key the sidecar signs its audit certificates with (`witness.key_file`).
 *
 * Formats:
 * - the private key file is PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey -algorithm
 *   ed25519` writes), created with mode 0600 and never overwritten;
 * - the public key is written `ed25519:<base64 of the 32 raw key bytes>`, one line. `witness keygen` prints it,
 *   `GET /.well-known/mcp-sidecar/witness-key` serves it, and `audit verify --public-key` reads it (the text
 *   itself or a file holding it);
 * - the key id on every certificate is the first 16 bytes of SHA-256 over the raw public key, hex.
 *
 * @module
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { dirname } from "node:path";

/** A witness key ready to sign. */
export interface WitnessKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** `ed25519:<base64>`. */
  readonly publicText: string;
  /** Hex id named on every certificate. */
  readonly keyId: string;
  /**
   * The key of the argument digest (HMAC-SHA-256), derived from the private key: an unkeyed hash of full
   * arguments would let anyone holding the log confirm a guess of a redacted secret.
   */
  readonly argsKey: Uint8Array;
}

/** A public key as `audit verify` uses it. */
export interface WitnessPublicKey {
  readonly publicKey: KeyObject;
  readonly publicText: string;
  readonly keyId: string;
}

/** The key file is missing, unreadable, too open or not an Ed25519 key; the message says what to do. */
export class WitnessKeyError extends Error {
  override name = "WitnessKeyError";
}

/** The prefix of the public key text. */
export const PUBLIC_KEY_PREFIX = "ed25519:";
const ARGS_KEY_CONTEXT = new TextEncoder().encode("mcp-sidecar witness argument digest key v1\u0000");

/**
 * Generates a new key (in memory).
 *
 * @example
 * ```ts
 * import { generateWitnessKey } from "./witness_key.ts";
 * generateWitnessKey().publicText.startsWith("ed25519:"); // true
 * ```
 */
export function generateWitnessKey(): WitnessKey {
  return witnessKeyOf(generateKeyPairSync("ed25519").privateKey);
}

/**
 * The PKCS#8 PEM text of a key, as the key file holds it.
 *
 * @example
 * ```ts
 * import { generateWitnessKey, privateKeyPem } from "./witness_key.ts";
 * privateKeyPem(generateWitnessKey()).startsWith("-----BEGIN PRIVATE KEY-----"); // true
 * ```
 */
export function privateKeyPem(key: WitnessKey): string {
  return key.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
}

/**
 * Reads a key from its PEM text.
 *
 * @example
 * ```ts
 * import { generateWitnessKey, privateKeyPem, witnessKeyFromPem } from "./witness_key.ts";
 * const key = generateWitnessKey();
 * witnessKeyFromPem(privateKeyPem(key)).keyId === key.keyId; // true
 * ```
 */
export function witnessKeyFromPem(pem: string, source = "the key"): WitnessKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: "pem" });
  } catch (error) {
    throw new WitnessKeyError(
      `${source} is not a PEM private key (${describe(error)}); make one with \`mcp-sidecar witness keygen\``,
    );
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new WitnessKeyError(
      `${source} is a ${privateKey.asymmetricKeyType} key; witnesses sign with Ed25519 ` +
        "(make one with `mcp-sidecar witness keygen`)",
    );
  }
  return witnessKeyOf(privateKey);
}

/**
 * Loads the key file the sidecar signs with. Refuses a missing file (a configured key that is not there is
 * more likely a missing mount or secret than a first start: minting a new identity silently would break the
 * verification of the log against the published key), a file group or others may read, and anything that is
 * not an Ed25519 private key.
 *
 * @example
 * ```ts ignore
 * import { loadWitnessKey } from "./witness_key.ts";
 * const key = await loadWitnessKey("/etc/mcp-sidecar/witness.key");
 * key.publicText; // "ed25519:…"
 * ```
 */
export async function loadWitnessKey(path: string): Promise<WitnessKey> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new WitnessKeyError(
        `the witness key ${path} (witness.key_file) does not exist; create it with ` +
          `\`mcp-sidecar witness keygen --out ${path}\` and publish the public key it prints`,
      );
    }
    throw new WitnessKeyError(`the witness key ${path} cannot be read: ${describe(error)}`);
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new WitnessKeyError(
      `the witness key ${path} may be read by group or others (mode ${
        (info.mode & 0o777).toString(8).padStart(4, "0")
      }); anyone who reads it can forge certificates: run \`chmod 600 ${path}\``,
    );
  }
  let pem: string;
  try {
    pem = await Deno.readTextFile(path);
  } catch (error) {
    throw new WitnessKeyError(`the witness key ${path} cannot be read: ${describe(error)}`);
  }
  return witnessKeyFromPem(pem, `the witness key ${path}`);
}

/**
 * Creates a key file with mode 0600 unless the file exists; an existing file is never overwritten, and its key
 * is returned instead (`created: false`).
 *
 * @example
 * ```ts ignore
 * import { createWitnessKeyFile } from "./witness_key.ts";
 * const { created, key } = await createWitnessKeyFile("secrets/witness.key");
 * console.log(created ? "created" : "kept the existing key", key.publicText);
 * ```
 */
export async function createWitnessKeyFile(path: string): Promise<{ created: boolean; key: WitnessKey }> {
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const key = generateWitnessKey();
  let file: Deno.FsFile;
  try {
    // createNew: atomic "only if absent", so two keygens racing cannot both write, and nothing is overwritten.
    file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      return { created: false, key: await loadWitnessKey(path) };
    }
    throw new WitnessKeyError(`the witness key ${path} cannot be created: ${describe(error)}`);
  }
  try {
    await Deno.chmod(path, 0o600); // the umask only takes bits away, but be exact about what the file allows
    const bytes = new TextEncoder().encode(privateKeyPem(key));
    for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(path).catch(() => {});
    throw new WitnessKeyError(`the witness key ${path} cannot be written: ${describe(error)}`);
  }
  file.close();
  return { created: true, key };
}

/**
 * Reads a public key: the `ed25519:<base64>` text itself, or (when `text` is not that) the path of a file whose
 * first line is.
 *
 * @example
 * ```ts
 * import { generateWitnessKey, parsePublicKey } from "./witness_key.ts";
 * const key = generateWitnessKey();
 * parsePublicKey(key.publicText).keyId === key.keyId; // true
 * ```
 */
export function parsePublicKey(text: string): WitnessPublicKey {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PUBLIC_KEY_PREFIX)) {
    throw new WitnessKeyError(
      `a witness public key is written ${PUBLIC_KEY_PREFIX}<base64 of 32 bytes> (as \`witness keygen\` prints it)`,
    );
  }
  const raw = decodeBase64(trimmed.slice(PUBLIC_KEY_PREFIX.length));
  if (raw === undefined || raw.length !== 32) {
    throw new WitnessKeyError(`"${trimmed}" is not an Ed25519 public key: it must hold 32 bytes in base64`);
  }
  const publicKey = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: toBase64Url(raw) },
    format: "jwk",
  });
  return { publicKey, publicText: `${PUBLIC_KEY_PREFIX}${toBase64(raw)}`, keyId: keyIdOf(raw) };
}

/**
 * Reads `--public-key`: the key text, or a file holding it.
 *
 * @example
 * ```ts ignore
 * import { readPublicKeyArgument } from "./witness_key.ts";
 * await readPublicKeyArgument("witness.pub"); // { publicText: "ed25519:…", keyId: "…", … }
 * ```
 */
export async function readPublicKeyArgument(argument: string): Promise<WitnessPublicKey> {
  if (argument.trim().startsWith(PUBLIC_KEY_PREFIX)) return parsePublicKey(argument);
  let text: string;
  try {
    text = await Deno.readTextFile(argument);
  } catch (error) {
    throw new WitnessKeyError(
      `--public-key: "${argument}" is neither ${PUBLIC_KEY_PREFIX}<base64> nor a readable file (${
        describe(error)
      })`,
    );
  }
  return parsePublicKey(text.split("\n")[0]);
}

function witnessKeyOf(privateKey: KeyObject): WitnessKey {
  const publicKey = createPublicKey(privateKey);
  const raw = rawPublicKey(publicKey);
  const seed = (privateKey.export({ format: "der", type: "pkcs8" }) as Uint8Array).slice(-32);
  const argsKey = new Uint8Array(createHash("sha256").update(ARGS_KEY_CONTEXT).update(seed).digest());
  return {
    privateKey,
    publicKey,
    publicText: `${PUBLIC_KEY_PREFIX}${toBase64(raw)}`,
    keyId: keyIdOf(raw),
    argsKey,
  };
}

function rawPublicKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: "jwk" }) as { x?: string };
  return decodeBase64(jwk.x!.replaceAll("-", "+").replaceAll("_", "/"))!;
}

function keyIdOf(raw: Uint8Array): string {
  return createHash("sha256").update(raw).digest("hex").slice(0, 32);
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function decodeBase64(text: string): Uint8Array | undefined {
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(padded)) return undefined;
  try {
    return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
