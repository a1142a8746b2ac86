/**
 * Opening a trustee's sealed secret (the backup file, or the ceremony progress kept in the browser) with the
 * passphrase typed, saying which passphrase is meant when it does not open it.
 * @module trustee/open
 */

import { VerificationError } from "../crypto/errors.js";
import { reopen } from "../crypto/keystore.js";

/**
 * The secret sealed in `document`, and a sealer under the same key (keystore.reopen); a passphrase that does not
 * open it is an Error naming the passphrase field, `what` was sealed and `when` its passphrase was chosen.
 * @param {unknown} document
 * @param {string} passphrase
 * @param {string} what e.g. "this backup file"
 * @param {string} when e.g. "at the key ceremony"
 * @returns {Promise<{secret: unknown, sealer: ?{seal: (secret: unknown) => Promise<object>}}>}
 */
export async function openSealed(document, passphrase, what, when) {
  try {
    return await reopen(document, passphrase);
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    throw new Error(`passphrase: it does not open ${what} (use the passphrase you chose ${when}), or ${what} is damaged`);
  }
}
