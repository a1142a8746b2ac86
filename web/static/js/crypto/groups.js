/**
 * Groups behind one interface: getGroup("modp") (4096-bit) or getGroup("ed25519").
 * @module groups
 */

import { DecodeError } from "./errors.js";
import { ModpGroup } from "./modp.js";
import { Ed25519Group } from "./ed25519.js";

/** The names of the groups, as in records. */
export const GROUP_NAMES = Object.freeze(["modp", "ed25519"]);
const instances = new Map();

/**
 * The shared instance of a named group (its comb tables are cached on it).
 * @param {unknown} name "modp" or "ed25519"
 * @returns {import("./modp.js").ModpGroup|import("./ed25519.js").Ed25519Group}
 * @throws {DecodeError} for an unknown name
 */
export function getGroup(name) {
  if (!GROUP_NAMES.includes(/** @type {string} */ (name))) {
    throw new DecodeError("group", `unknown group ${JSON.stringify(name)}; expected one of ${GROUP_NAMES.join(", ")}`);
  }
  if (!instances.has(name)) instances.set(name, name === "modp" ? new ModpGroup() : new Ed25519Group());
  return instances.get(name);
}
