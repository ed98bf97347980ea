/**
 * Errors of the Morph client, each saying what happened and what to do about it. The API key never appears
 * in a message.
 *
 * @module
 */
import { ErrorBodySchema, ValidationErrorBodySchema } from "./morph_schemas.ts";

/**
 * MORPH_API_KEY is not set; raised before any request is sent. The CLI exits 2 on it.
 *
 * @example
 * ```ts
 * import { MissingApiKeyError } from "./morph_errors.ts";
 * new MissingApiKeyError().message.includes("MORPH_API_KEY"); // true
 * ```
 */
export class MissingApiKeyError extends Error {
  constructor() {
    super(
      "MORPH_API_KEY is not set, so nothing was sent to Morph Cloud. Create a key at " +
        "https://cloud.morph.so/web/keys and run: export MORPH_API_KEY=<your key>",
    );
    this.name = "MissingApiKeyError";
  }
}

/**
 * The API answered with an error status. `status` is the HTTP status; `fields` lists `loc: msg` for a 422.
 *
 * @example
 * ```ts
 * import { MorphApiError } from "./morph_errors.ts";
 * const error = MorphApiError.from("GET", "/instance/morphvm_x", 404, '{"detail":"Instance not found"}');
 * error.message.startsWith("GET /instance/morphvm_x: not found (HTTP 404)"); // true
 * ```
 */
export class MorphApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly detail: string,
    readonly fields: string[] = [],
  ) {
    super(message);
    this.name = "MorphApiError";
  }

  /** Builds the error from the answer's status and body text. */
  static from(method: string, path: string, status: number, bodyText: string): MorphApiError {
    const where = `${method} ${path}`;
    let json: unknown;
    try {
      json = JSON.parse(bodyText);
    } catch { /* not JSON: keep the text */ }
    const validation = ValidationErrorBodySchema.safeParse(json);
    if (status === 422 && validation.success) {
      const fields = validation.data.detail.map((item) => `${item.loc.join(".")}: ${item.msg}`);
      return new MorphApiError(
        `${where}: the API rejected the request (HTTP 422) because of these fields: ${fields.join("; ")}. ` +
          "This is a provisioner bug or an API change: report it with this message.",
        status,
        fields.join("; "),
        fields,
      );
    }
    const body = ErrorBodySchema.safeParse(json);
    const detail = body.success
      ? [body.data.detail ?? body.data.message ?? body.data.error, body.data.error_code].filter(Boolean).join(
        ", ",
      )
      : bodyText.slice(0, 300);
    const said = detail ? `: ${detail}` : "";
    const advice = adviceFor(status);
    return new MorphApiError(
      `${where}: ${advice.what} (HTTP ${status}${said}). ${advice.fix}`,
      status,
      detail,
    );
  }
}

function adviceFor(status: number): { what: string; fix: string } {
  if (status === 401 || status === 403) {
    return {
      what: "Morph Cloud rejected the API key",
      fix:
        "Check MORPH_API_KEY (a current key from https://cloud.morph.so/web/keys, without quotes or spaces).",
    };
  }
  if (status === 404) {
    return {
      what: "not found",
      fix: "The resource is gone (deleted, or expired by its TTL). Run `deno task provision status`; " +
        "`deno task provision down` clears a stale instance_info.json.",
    };
  }
  if (status === 409) {
    return {
      what: "conflict: the resource is in the wrong state or the name is taken",
      fix: "Wait for the instance to be ready (or resume it), or pick another service name, then retry.",
    };
  }
  if (status === 429) return { what: "rate limited", fix: "Wait a minute and retry." };
  if (status >= 500) {
    return { what: "Morph Cloud failed", fix: "Retry later; check https://status.morph.so." };
  }
  return { what: "the request was refused", fix: "Check the request against reference/morph-api.md." };
}

/**
 * The request never got an answer (connection refused or dropped, DNS, timeout), after all retries.
 *
 * @example
 * ```ts
 * import { MorphTransportError } from "./morph_errors.ts";
 * new MorphTransportError("GET", "/instance", new Error("reset"), 4).message.includes("4 attempts"); // true
 * ```
 */
export class MorphTransportError extends Error {
  constructor(method: string, path: string, cause: unknown, attempts: number) {
    super(
      `${method} ${path}: no answer from Morph Cloud after ${attempts} attempts (${
        cause instanceof Error ? cause.message : String(cause)
      }). Check your network and MORPH_BASE_URL, then run the command again: steps already done are skipped.`,
      { cause },
    );
    this.name = "MorphTransportError";
  }
}
