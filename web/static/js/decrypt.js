/**
 * The trustee's partial decryption, in this browser: open the backup file with the passphrase,
 * recount the tally from the published ballots, and send the shares with their proofs.
 * @module decrypt
 */

import { announce, postJson } from "./api.js";
import { baseHash, readBoard } from "./board.js";
import { TrusteeKey } from "./crypto/dkg.js";
import { partialDecrypt } from "./crypto/decryption.js";
import { encode } from "./crypto/encoding.js";
import { getGroup } from "./crypto/groups.js";
import { openSealed } from "./trustee/open.js";
import { checkedTally } from "./trustee/tally.js";

const root = document.getElementById("decrypt");
const $ = (id) => document.getElementById(id);
const status = $("status");
const problem = $("problem");
$("loading").hidden = true;
const index = Number(root.dataset.index);

/** The backup file's JSON; an Error naming the file when it is not JSON (a wrong file chosen). */
function backupJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error("backup file: this is not a Quorum backup (not JSON): choose the file you downloaded at the key ceremony");
  }
}

$("decrypt-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  announce(problem, "");
  $("go").disabled = true;
  try {
    const file = $("backup").files[0];
    if (!file) throw new Error("backup file: choose the file you downloaded at the key ceremony");
    announce(status, "Opening your backup…");
    const { secret } = await openSealed(backupJson(await file.text()), $("passphrase").value, "this backup file",
      "at the key ceremony");
    announce(status, "Reading the board…");
    const entries = await readBoard(root.dataset.api, "refusing to decrypt", (read) => {
      status.textContent = `Reading the board… ${read} entries read`;
    });
    const base = await baseHash(entries, "refusing to decrypt");  // first: it needs the parameter entries and names them
    const group = getGroup(entries[0].payload.group.name);
    const key = TrusteeKey.fromJSON(group, secret);
    if (key.index !== index) throw new Error(`this backup belongs to trustee ${key.index}, you are trustee ${index}`);
    const ceremony = entries.find((e) => e.type === "key_ceremony").payload;
    if (group.toHex(group.expG(key.secret)) !== ceremony.verification_keys[index - 1]) {
      throw new Error("this backup holds the key of another election (its share does not match this election's key "
        + "ceremony): choose the file you downloaded at this election's key ceremony");
    }
    announce(status, "Checking the board and recounting the tally from the published ballots…");
    const tally = await checkedTally(group, entries, base, (done, total) => {
      status.textContent = `Checking the board and recounting the tally from the published ballots… ${done} of ${total} ballots checked`;
    });
    const context = encode("quorum/decryption", base);
    announce(status, "Computing your partial decryption and its proofs…");
    const partial = await partialDecrypt(group, index, key.secret, tally, context);
    const answer = await postJson(`${root.dataset.api}/decryptions`, partial.toJSON(group));
    announce(status, answer.result_published ? "Done: your share completed the decryption, the results are published."
      : "Done: your share is on the board. The results appear once enough trustees have decrypted.", "ok");
    $("results").hidden = !answer.result_published;
  } catch (error) {
    announce(problem, error.message, "error");
    $("go").disabled = false;
  }
});
$("go").disabled = false;  // disabled in the page until this handler is attached: no native submit
