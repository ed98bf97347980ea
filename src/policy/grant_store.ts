/**
 * The grants in force at run time, made through `POST /admin/grants`. They live in memory: a restart or a
 * policy rollback ends them, which fails safe. Expired grants are dropped as they are read.
 *
 * @module
 */
import type { Grant, GrantRequest } from "./decide.ts";

/**
 * Holds active grants.
 *
 * @example
 * ```ts
 * import { GrantStore } from "./grant_store.ts";
 * const store = new GrantStore();
 * store.add({ grantee: "bob", verbs: ["call"], tools: ["git/git_log"], expires_at: "2099-01-01T00:00:00Z" }, "alice", 3);
 * store.active(new Date()).length; // 1
 * ```
 */
export class GrantStore {
  #grants: Grant[] = [];

  /** Records a grant the engine has approved; returns it with its id. */
  add(request: GrantRequest, grantor: string, generation: number, parent?: string): Grant {
    const grant: Grant = {
      ...request,
      id: crypto.randomUUID(),
      grantor,
      issued_generation: generation,
      parent,
    };
    this.#grants.push(grant);
    return grant;
  }

  /** The grants that have not expired at `now`. */
  active(now: Date): readonly Grant[] {
    // Asked on every decision: without grants (the usual case) there is nothing to sweep.
    if (this.#grants.length === 0) return this.#grants;
    this.#grants = this.#grants.filter((grant) => Date.parse(grant.expires_at) >= now.getTime());
    return this.#grants;
  }
}
