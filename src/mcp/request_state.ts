/**
 * The `requestState` the sidecar itself issues when it turns a 2025-xx upstream's server→client request
 * (sampling, elicitation) into a 2026-07-28 `InputRequiredResult`. The client echoes it back in its retry; it is
 * attacker-controlled input there, so it is sealed: an HMAC-SHA256 (WebCrypto) over the parked call it names,
 * the round, its expiry, and — never written into the state, only into the MAC — the principal, the upstream and
 * a digest of the request. A state presented by another principal, for another upstream or another request
 * (other tool, other arguments), altered in any byte, or after its expiry does not open.
 *
 * The idea is the SDK's `createRequestStateCodec` (HMAC bound to caller, TTL and request digest); this is not its
 * code, and the key lives only in this process (a parked call does not survive a restart either).
 *
 * Format: `s1.<base64url payload>.<base64url mac>`, payload `{"k":parked id,"r":round,"e":expiry ms}`.
 *
 * @module
 */

/** What a sealed state names: a parked call, the round of it, and its expiry. */
export interface RequestStateClaims {
  parked: string;
  round: number;
  expiresAt: number;
}

/** What the state is bound to; the retry must present the same. */
export interface RequestStateBinding {
  /** The caller's key (a token hash or `anonymous`). */
  principal: string;
  upstream: string;
  /** {@linkcode requestDigest} of the request. */
  digest: string;
}

/** Seals and opens request states. */
export interface RequestStateCodec {
  seal(claims: Omit<RequestStateClaims, "expiresAt">, binding: RequestStateBinding): Promise<string>;
  open(
    state: string,
    binding: RequestStateBinding,
  ): Promise<{ ok: true; claims: RequestStateClaims } | { ok: false; reason: string }>;
}

const PREFIX = "s1.";
/** The longest state accepted for opening; anything longer is not one of ours. */
const MAX_STATE_CHARS = 512;

/**
 * Creates a codec with a fresh random key (or `key`, 32 bytes or more, for tests).
 *
 * @example
 * ```ts
 * import { createRequestStateCodec } from "./request_state.ts";
 * const codec = createRequestStateCodec({ ttlMs: 60_000 });
 * const binding = { principal: "p", upstream: "git", digest: "d" };
 * const state = await codec.seal({ parked: "x", round: 1 }, binding);
 * (await codec.open(state, binding)).ok; // true
 * (await codec.open(state, { ...binding, principal: "q" })).ok; // false
 * ```
 */
export function createRequestStateCodec(options: {
  ttlMs: number;
  key?: Uint8Array;
  now?: () => number;
}): RequestStateCodec {
  const keyBytes = options.key ?? crypto.getRandomValues(new Uint8Array(32));
  if (keyBytes.byteLength < 32) throw new RangeError("the request state key must be at least 32 bytes");
  // Imported once, on first use (the sidecar is built synchronously); the raw bytes are not kept.
  let imported: Promise<CryptoKey> | undefined;
  const keyOf = () =>
    imported ??= crypto.subtle.importKey(
      "raw",
      keyBytes as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
  const now = options.now ?? Date.now;
  const macInput = (payload: string, binding: RequestStateBinding) =>
    encoder.encode(JSON.stringify([payload, binding.principal, binding.upstream, binding.digest]));
  return {
    async seal(claims, binding) {
      const payload = base64url(encoder.encode(JSON.stringify({
        k: claims.parked,
        r: claims.round,
        e: now() + options.ttlMs,
      })));
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await keyOf(), macInput(payload, binding)));
      return `${PREFIX}${payload}.${base64url(mac)}`;
    },
    async open(state, binding) {
      if (typeof state !== "string" || state.length > MAX_STATE_CHARS || !state.startsWith(PREFIX)) {
        return { ok: false, reason: "not a request state this sidecar issued" };
      }
      const [payload, mac, extra] = state.slice(PREFIX.length).split(".");
      const macBytes = mac === undefined ? undefined : fromBase64url(mac);
      if (payload === undefined || extra !== undefined || !macBytes) {
        return { ok: false, reason: "malformed request state" };
      }
      // Verified before anything in the payload is read.
      const valid = await crypto.subtle.verify(
        "HMAC",
        await keyOf(),
        macBytes as Uint8Array<ArrayBuffer>,
        macInput(payload, binding),
      );
      if (!valid) {
        return { ok: false, reason: "the request state does not match this caller, upstream and request" };
      }
      const decoded = fromBase64url(payload);
      let parsed: { k?: unknown; r?: unknown; e?: unknown };
      try {
        parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(decoded!));
      } catch {
        return { ok: false, reason: "malformed request state" };
      }
      if (typeof parsed.k !== "string" || typeof parsed.r !== "number" || typeof parsed.e !== "number") {
        return { ok: false, reason: "malformed request state" };
      }
      if (now() > parsed.e) return { ok: false, reason: "the request state has expired" };
      return { ok: true, claims: { parked: parsed.k, round: parsed.r, expiresAt: parsed.e } };
    },
  };
}

/**
 * The digest a request state is bound to: the method and the params a retry must repeat (tool name, arguments,
 * URI…), without `_meta` and without the retry's own `requestState` and `inputResponses`. Keys are sorted, so
 * the client may reorder them.
 *
 * @example
 * ```ts
 * import { requestDigest } from "./request_state.ts";
 * const a = await requestDigest("tools/call", { name: "t", arguments: { x: 1, y: 2 } });
 * const b = await requestDigest("tools/call", { arguments: { y: 2, x: 1 }, name: "t", requestState: "s" });
 * a === b; // true
 * ```
 */
export async function requestDigest(
  method: string,
  params: Record<string, unknown> | undefined,
): Promise<string> {
  const { _meta: _, requestState: __, inputResponses: ___, ...rest } = params ?? {};
  const bytes = encoder.encode(JSON.stringify([method, canonical(rest)]));
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
  );
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}
