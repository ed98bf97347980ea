/**
 * Checks OAuth access tokens that are JWTs (RFC 9068), locally, with `jose`: the signature against the
 * issuer's public keys (a JWKS file read at start, or a JWKS URL fetched, cached for 10 minutes and fetched
 * again when a token names a key id it does not hold — at most once every 30 s, so a flood of made-up `kid`s
 * cannot make the sidecar hammer the authorization server), an allowed asymmetric algorithm (never `none`,
 * never HS*), `iss`, `aud` (this resource, RFC 8707), and `exp`/`nbf` within the configured clock skew. A token
 * without `exp` is refused. This module does the key I/O; what the claims mean is decided in `claims.ts`.
 *
 * @module
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import type { OAuthConfig } from "../config/schema.ts";

/** Why a token was refused: a stable word for `error.data.reason`, and a message for the client. */
export interface TokenFailure {
  ok: false;
  reason:
    | "token_malformed"
    | "token_expired"
    | "token_not_yet_valid"
    | "token_wrong_issuer"
    | "token_wrong_audience"
    | "token_claim_invalid"
    | "token_algorithm_not_allowed"
    | "token_unknown_key"
    | "token_bad_signature"
    | "token_keys_unavailable";
  message: string;
}

/** The outcome of checking one token. */
export type TokenCheck = { ok: true; claims: JWTPayload } | TokenFailure;

/** Checks a compact JWS access token for one request path's accepted audiences. */
export type JwtVerifier = (token: string, audiences: readonly string[]) => Promise<TokenCheck>;

/** How long a fetched key set is trusted, and how often an unknown `kid` may fetch it again. */
const JWKS_CACHE_MS = 10 * 60_000;
const JWKS_REFETCH_COOLDOWN_MS = 30_000;
const JWKS_FETCH_TIMEOUT_MS = 5_000;

/**
 * Builds the verifier of `auth.oauth`. `jwks` is the key set of `jwks_file` (read by the config loader);
 * without it, `jwks_url` is used.
 *
 * @example
 * ```ts ignore
 * import { createJwtVerifier } from "./jwt_verifier.ts";
 * const verify = createJwtVerifier(config.auth.oauth!, loaded.jwks);
 * const check = await verify(token, ["https://sidecar.example.com/git/mcp"]);
 * if (!check.ok) console.log(check.reason); // e.g. "token_wrong_audience"
 * ```
 */
export function createJwtVerifier(
  oauth: Pick<OAuthConfig, "issuer" | "jwks_url" | "algorithms" | "clock_skew">,
  jwks?: { keys: Record<string, unknown>[] },
  /** For tests: how soon an unknown `kid` may fetch the key set again (30 s). */
  refetchCooldownMs = JWKS_REFETCH_COOLDOWN_MS,
): JwtVerifier {
  const keys: JWTVerifyGetKey = jwks !== undefined
    ? createLocalJWKSet(jwks as JSONWebKeySet)
    : createRemoteJWKSet(new URL(oauth.jwks_url!), {
      cacheMaxAge: JWKS_CACHE_MS,
      cooldownDuration: refetchCooldownMs,
      timeoutDuration: JWKS_FETCH_TIMEOUT_MS,
    });
  return async (token, audiences) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: oauth.issuer,
        audience: [...audiences],
        algorithms: [...oauth.algorithms],
        clockTolerance: Math.ceil(oauth.clock_skew / 1000),
        requiredClaims: ["exp"],
      });
      return { ok: true, claims: payload };
    } catch (error) {
      return failureOf(error);
    }
  };
}

/**
 * Whether a token has the shape of a compact JWS (three base64url parts), so it is worth verifying as a JWT.
 *
 * @example
 * ```ts
 * import { looksLikeJwt } from "./jwt_verifier.ts";
 * looksLikeJwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"); // true
 * looksLikeJwt("alice-token-0123456789"); // false
 * ```
 */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function failureOf(error: unknown): TokenFailure {
  if (error instanceof errors.JWTExpired) {
    return { ok: false, reason: "token_expired", message: "the access token has expired" };
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "aud") {
      return {
        ok: false,
        reason: "token_wrong_audience",
        message: "the access token was not issued for this resource",
      };
    }
    if (error.claim === "iss") {
      return {
        ok: false,
        reason: "token_wrong_issuer",
        message: "the access token comes from another issuer",
      };
    }
    if (error.claim === "nbf") {
      return { ok: false, reason: "token_not_yet_valid", message: "the access token is not valid yet" };
    }
    return {
      ok: false,
      reason: "token_claim_invalid",
      message: `the access token's "${error.claim}" claim is invalid`,
    };
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return {
      ok: false,
      reason: "token_algorithm_not_allowed",
      message: "the access token's algorithm is not accepted",
    };
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return { ok: false, reason: "token_unknown_key", message: "the access token names no key of the issuer" };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return {
      ok: false,
      reason: "token_bad_signature",
      message: "the access token's signature does not verify",
    };
  }
  if (
    error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid ||
    !(error instanceof errors.JOSEError)
  ) {
    // The key set could not be had (network, timeout, not a key set): not the client's fault.
    return {
      ok: false,
      reason: "token_keys_unavailable",
      message: "the issuer's keys cannot be fetched right now",
    };
  }
  return { ok: false, reason: "token_malformed", message: "the access token is not a valid JWT" };
}
