"""Adversarial review of the session 20 key-ceremony fixes (8d0e0d8..6e528dc): threshold/dkg.py Trustee.open (opens
once, never below k reveals), Trustee._check_result / _check_key_polynomial (finish and sign only the RECON it opened
for, keys on one degree-(k-1) polynomial), Trustee.check_shares (deal messages signed for the announcements it dealt
to), threshold/decryption.py partial_decrypt (beta membership); their browser mirror web/static/js/crypto/dkg.js
(Trustee.deal/checkShares/open/checkResult/finish, toState/fromState keys "dealt_to" and "opened"),
web/static/js/crypto/decryption.js, web/static/js/ceremony.js (saveState before the deal and the opening), and the
text of docs/spec.md sections 6-9.

Threat model: the relay (web/ceremony.py, i.e. the server) is malicious and may show each trustee's browser its own
view of every round (announcements, deal messages, reveals, round names, "already received" lists), ask again for a
message it already holds, and drop messages; up to k-1 trustees collude with it. Goals checked: learning the joint
secret of a ceremony that every qualified trustee then signs (harvesting shares through the deal round, or openings
through trustees not bound by the open-once rule), making a trustee finish or sign an outcome the coordinator chose,
making an honest trustee refuse forever without attribution, Python/JS divergence (behaviour, error texts, parsing of
malformed saved state), and spec text the code does not match.

Tests whose docstring starts "Failed before (fixed in session 20)" were defects found (strict xfails naming the
place, what was wrong, why it mattered and a fix); the others are properties that held. The JS checks run the browser modules under node (one run for the whole file; skipped when
node is missing). ATTACKS.md row 10; security rules 1 and 4.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from tests.review.dkg_helpers import confirmed, run_node, signers
from threshold import dkg, hybrid
from threshold.decryption import partial_decrypt
from threshold.elgamal import Ciphertext
from threshold.errors import DecodeError, ProtocolError, QuorumError
from threshold.groups import get_group
from threshold.proofs import SchnorrProof
from threshold.shamir import Share, evaluate, interpolate

ED = get_group("ed25519")
MODP = get_group("modp")
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "spec.md"


def _relay_announcements(params: dkg.CeremonyParams) -> tuple[dict[int, int], dict[int, dkg.Announcement]]:
    """Encryption keys of the relay's own under every trustee index, each with a valid proof of knowledge."""
    g = params.group
    secrets = {j: g.random_scalar() for j in range(1, params.n + 1)}
    return secrets, {j: dkg.Announcement(j, g.exp_g(e), SchnorrProof.prove(g, e, params.ctx("enc-key", j)))
                     for j, e in secrets.items()}


# ============================================================================================ node (browser modules)

_NODE_RUNNER = textwrap.dedent("""
    import { getGroup } from "./crypto/groups.js";
    import * as dkg from "./crypto/dkg.js";
    import { SchnorrProof } from "./crypto/proofs.js";
    import { partialDecrypt } from "./crypto/decryption.js";
    const out = {};
    const kind = async (f) => { try { await f(); return { ok: true }; }
      catch (e) { return { ok: false, name: e.name, field: e.field ?? null, message: e.message }; } };
    const g = getGroup("ed25519");
    const params = new dkg.CeremonyParams(g, 3, 2, new TextEncoder().encode("session20 fixes review"));
    const ts = [1, 2, 3].map((i) => dkg.Trustee.create(params, i));
    const ann = new Map();
    for (const t of ts) ann.set(t.index, await t.announce());
    const relay = new Map();  // the relay's own keys under the other indices, valid proofs
    for (const j of [1, 2, 3]) {
      const e = g.randomScalar();
      relay.set(j, new dkg.Announcement(j, g.expG(e), await SchnorrProof.prove(g, e, params.ctx("enc-key", j))));
    }
    out.redeal_first = await kind(() => ts[0].deal(new Map([[1, ann.get(1)], [2, relay.get(2)], [3, relay.get(3)]])));
    const msgs = new Map();
    out.redeal_second = await kind(async () => msgs.set(1, await ts[0].deal(ann)));
    if (!msgs.has(1)) { ts[0] = dkg.Trustee.create(params, 1); ann.set(1, await ts[0].announce()); }
    for (const t of ts) msgs.set(t.index, await t.deal(ann));
    const preState = JSON.parse(JSON.stringify(ts[1].toState()));  // after dealing, before checking shares
    const complaints = [];
    for (const t of ts) complaints.push(...(await t.checkShares(msgs)));
    const conf = new Map();
    for (const t of ts) conf.set(t.index, await t.confirm(msgs, complaints));
    const reveals = new Map();
    for (const t of ts) { const r = await t.reveal(conf); if (r) reveals.set(t.index, r); }
    const result = await dkg.adjudicate(params, ann, msgs, complaints, reveals, new Map());
    const forged = Object.assign(Object.create(Object.getPrototypeOf(result)), result, { publicKey: g.expG(424242n) });
    out.forged_finish = await kind(() => ts[0].finish(forged));
    out.forged_sign = await kind(() => ts[0].sign(forged));
    out.honest_finish = await kind(() => ts[0].finish(result));
    const without = (d) => new Map([...reveals].filter(([i]) => i !== d));
    out.open_first = await kind(() => ts[0].open(msgs, without(2)));
    const restored = dkg.Trustee.fromState(params, JSON.parse(JSON.stringify(ts[0].toState())));
    out.restored_opened = restored.opened;
    out.open_other_after_reload = await kind(() => restored.open(msgs, without(3)));
    out.open_same_after_reload = await kind(() => restored.open(msgs, without(2)));
    out.restored_finish_clean = await kind(() => restored.finish(result));
    out.below_k = await kind(() => dkg.Trustee.fromState(params, JSON.parse(JSON.stringify(ts[1].toState())))
      .open(msgs, new Map([[3, reveals.get(3)]])));
    const base = JSON.parse(JSON.stringify(ts[2].toState()));
    const d = base.dealt_to;
    const bad = {
      opened_string: { opened: "1" }, opened_unsorted: { opened: [2, 1] }, opened_dup: { opened: [1, 1] },
      opened_zero: { opened: [0] }, opened_big: { opened: [4] }, opened_float: { opened: [1.5] },
      opened_bool: { opened: [true] }, opened_object: { opened: { 1: 1 } },
      dealt_short: { dealt_to: d.slice(1) }, dealt_dup: { dealt_to: [d[0], d[0], d[2]] },
      dealt_index: { dealt_to: [{ ...d[0], index: 9 }, d[1], d[2]] }, dealt_object: { dealt_to: { 1: d[0] } },
      dealt_key: { dealt_to: [{ ...d[0], enc_key: "00".repeat(32) }, d[1], d[2]] }, dealt_string: { dealt_to: "x" },
    };
    out.states = {};
    for (const [name, patch] of Object.entries(bad)) out.states[name] = await kind(() => dkg.Trustee.fromState(params, { ...base, ...patch }));
    out.state_roundtrip = await kind(() => dkg.Trustee.fromState(params, base));
    const old = { ...preState }; delete old.dealt_to; delete old.opened; delete old.qualification; delete old.dealt;
    out.old_state_check_shares = await kind(async () => {  // as ceremony.js does: its own published deal taken back
      const restored = dkg.Trustee.fromState(params, old);
      await restored.adoptDeal(msgs.get(2), ann);
      return restored.checkShares(msgs);
    });
    out.old_state_foreign_deal = await kind(async () => dkg.Trustee.fromState(params, old).adoptDeal(msgs.get(3), ann));
    const alpha = g.toHex(g.expG(5n));
    out.bad_beta = await kind(() => partialDecrypt(g, 1, 7n, [{ alpha, beta: "00".repeat(32) }], new Uint8Array([1])));
    out.good_beta = await kind(() => partialDecrypt(g, 1, 7n, [{ alpha, beta: g.toHex(g.expG(9n)) }], new Uint8Array([1])));
    console.log(JSON.stringify(out));
""")


@pytest.fixture(scope="module")
def js(tmp_path_factory) -> dict:
    return run_node(_NODE_RUNNER, tmp_path_factory.mktemp("dkg_js"))


# ============================================================================================ defects


def test_relay_asking_a_trustee_to_deal_again_to_keys_of_its_own_learns_the_joint_key_that_every_trustee_signs():
    """Failed before (fixed in session 20): threshold/dkg.py Trustee.deal (and web/static/js/crypto/dkg.js
    Trustee.deal, called by web/static/js/ceremony.js step whenever the server says round 'deal' and its dealers
    list lacks this trustee) deals any number of times, the same polynomial each time, to whatever announcements it
    is given: a relay alone first shows each trustee announcements carrying keys of its own for the other indices
    (valid proofs), decrypts n-1 >= k shares of every dealer's f, so the joint secret, then says the deal was not
    received and shows the real announcements; the second deal is what it publishes, _dealt_to is overwritten with
    the real keys, check_shares/open-once/finish all pass and every trustee signs a clean transcript (comparing Q
    out of band, spec 9, does not help: Q is the same for all). The open-once rule closed round 5 while round 2
    leaks the same polynomials. Fix: deal once: keep the first deal message and the announcements (persist both in
    the sealed state), return that same message again for the same announcements and refuse (ProtocolError naming
    the relay) any other; in ceremony.js re-post the saved message instead of calling deal again"""
    params = dkg.CeremonyParams(ED, 3, 2, b"session20-fixes-redeal")
    g = ED
    trustees = [dkg.Trustee(params, i) for i in range(1, 4)]
    real = {t.index: t.announce() for t in trustees}
    relay_secrets, relay = _relay_announcements(params)
    learned: dict[int, int] = {}
    for t in trustees:  # the deal the relay keeps for itself
        fake = {j: real[j] if j == t.index else relay[j] for j in real}
        try:
            message = t.deal(fake)
        except QuorumError:
            continue
        points = [Share(j, dkg._share_pair(hybrid.decrypt(g, relay_secrets[j], ct, dkg._share_aad(params, t.index, j)), g.q)[0])
                  for j, ct in sorted(message.shares.items())]
        learned[t.index] = interpolate(points[:params.k], g.q)[0]
    messages = {}
    for t in trustees:  # "your deal did not arrive": the deal it publishes, to the real keys
        try:
            messages[t.index] = t.deal(real)
        except QuorumError:
            pass
    try:
        complaints = [c for t in trustees for c in t.check_shares(messages)]
        transcript = dkg.conclude(params, trustees, real, messages, complaints)
        result = transcript.adjudicate(params)
    except QuorumError:
        return  # the trustees refused to go on: no key, nothing signed
    secret = sum(learned.get(i, 0) for i in result.qualified) % g.q
    knows = set(result.qualified) <= set(learned) and g.exp_g(secret) == result.public_key
    assert not (knows and signers(trustees, transcript) == list(result.qualified)), \
        "the relay alone knows the joint secret of a ceremony every qualified trustee signed"


def test_browser_trustee_deals_a_second_time_to_other_announcements(js):
    """Failed before (fixed in session 20): web/static/js/crypto/dkg.js Trustee.deal (the browser mirror of the
    defect above): a second deal of the same polynomial to other announcements is accepted (the first to keys of the
    relay's, the second to the real ones), so the browser trustee hands the relay its shares exactly as Python does.
    Fix as above, with dealtTo and the first deal message in toState/fromState, and ceremony.js re-posting the saved
    message"""
    assert js["redeal_first"]["ok"], "load-bearing: the first deal, to the relay's keys, goes through"
    assert not js["redeal_second"]["ok"], "the trustee dealt its polynomial again, to other keys"


def test_disqualified_trustee_opens_for_the_relays_view_so_its_opening_escapes_the_open_once_rule():
    """Failed before (fixed in session 20): threshold/dkg.py Trustee.open / Trustee.reveal and
    web/static/js/ceremony.js step 'open' (which opens whenever the trustee is not in state.reconstruct, qualified
    or not): the open-once rule binds a trustee only through finish/sign, but a disqualified trustee signs nothing
    (signatures come from QUAL only), so its single opening is for whatever view the relay shows it. A relay that
    drops honest trustees' deal messages (they are shown 'did not deal', though they dealt) shows each of them a
    view with another honest dealer missing (k reveals remain); with the k-1 colluders' own shares that is k points
    of every honest f_i: the joint secret, while the qualified trustees sign the clean transcript (n = 5, k = 2, one
    colluder). Fix: a trustee goes on (reveal, open) only if the transcript holds exactly the deal message it sent
    (it knows it dealt: 'did not deal' is the relay's lie, refused by name), and/or a trustee outside QUAL does not
    open (or the relay requires the openers' signatures too, so that their opened RECON must match the transcript's)"""
    params = dkg.CeremonyParams(ED, 5, 2, b"session20-fixes-disqualified-opener")
    g = ED
    trustees = {i: dkg.Trustee(params, i) for i in range(1, 6)}
    announcements = {i: t.announce() for i, t in trustees.items()}
    dealt = {i: t.deal(announcements) for i, t in trustees.items()}
    shown = {i: m for i, m in dealt.items() if i not in (3, 4)}  # honest 3 and 4 "did not deal" in every view
    harvested: dict[int, list[Share]] = {}
    try:
        complaints = [c for t in trustees.values() for c in t.check_shares(shown)]
        confirmations = confirmed(trustees.values(), shown, complaints)
        reveals = {i: r for i, t in trustees.items() if (r := t.reveal(confirmations)) is not None}
        for opener, missing in ((3, 1), (4, 2)):  # each sees another honest dealer without a reveal
            try:
                opening = trustees[opener].open(shown, {i: r for i, r in reveals.items() if i != missing})
            except QuorumError:
                continue
            harvested.setdefault(missing, []).append(Share(opener, opening.openings[missing][0]))
    except QuorumError:
        return  # the dropped deals were refused
    colluder = trustees[5]
    for d in (1, 2):
        harvested.setdefault(d, []).append(Share(5, colluder.received[d][0]))
    clean = dkg.Transcript(announcements, shown, complaints, reveals, {})
    result = clean.adjudicate(params)  # the clean transcript
    assert result.qualified == (1, 2, 5) and result.reconstructed == ()
    knows = all(len(harvested[d]) >= params.k for d in (1, 2))
    secret = (sum(interpolate(harvested[d][:params.k], g.q)[0] for d in (1, 2)) + evaluate(colluder.polynomial, 0, g.q)) % g.q
    assert not (knows and g.exp_g(secret) == result.public_key
                and signers(trustees.values(), clean) == list(result.qualified)), \
        "the relay and one colluder know the joint secret of a ceremony every qualified trustee signed"


def test_finish_accepts_a_coordinator_key_on_a_polynomial_through_the_trustees_own_verification_key():
    """Failed before (fixed in session 20): threshold/dkg.py Trustee._check_result / _check_key_polynomial: the fix
    of the session 20 finding (finish accepted any public key) checks only that K and V_1..V_n lie on one
    degree-(k-1) polynomial in the exponent; a coordinator picks K = g^c (c its own), keeps the trustee's true V_j
    and interpolates the other V's in the exponent through (0, K) and (j, V_j) (public Lagrange weights): every
    check passes, finish returns a TrusteeKey whose public_key the coordinator can decrypt under alone, and sign
    vouches for it. Spec 6 step 6 is met to the letter, its purpose is not. The browser re-adjudicates (ceremony.js
    ownResult), the Python API does not. Fix: finish/sign take the transcript and adjudicate it themselves (compare
    the result field for field), as the session 20 review already proposed; the polynomial check alone cannot bind K
    to the dealers"""
    params = dkg.CeremonyParams(ED, 3, 2, b"session20-fixes-forged-polynomial")
    g, q = ED, ED.q
    trustees, transcript, result = dkg.honest_ceremony(params)
    victim = trustees[0]
    c = g.random_scalar()
    K, V1 = g.exp_g(c), result.verification_keys[1]
    vks = {1: V1, **{x: g.multi_exp([(K, (1 - x) % q), (V1, x % q)])  # the line through (0, K) and (1, V_1)
                     for x in (2, 3)}}
    forged = dataclasses.replace(result, public_key=K, verification_keys=vks)
    assert forged.public_key != result.public_key
    with pytest.raises(TypeError, match="adjudicates itself"):  # since session 20 no outcome is handed to a trustee
        victim.finish(forged)
    assert victim.finish(transcript).public_key == result.public_key


def test_browser_trustee_finishes_an_outcome_whose_public_key_is_off_its_verification_keys(js):
    """Failed before (fixed in session 20): web/static/js/crypto/dkg.js Trustee.checkResult (used by finish and
    sign) does not mirror Python's _check_key_polynomial: a result whose public key is off its verification keys'
    polynomial is finished and signed by the browser module, refused by Python (spec 6 step 6 says a trustee
    finishes and signs only such an outcome). The page happens to re-adjudicate first (ceremony.js ownResult); any
    other caller of the module does not. Fix: add the same interpolation check (lagrange at 0 and k+1..n over
    V_1..V_k) to checkResult, with Python's error text"""
    assert js["honest_finish"]["ok"], "load-bearing: the honest outcome is finished"
    assert not js["forged_finish"]["ok"] and not js["forged_sign"]["ok"], js["forged_finish"]


def test_browser_trustee_restored_from_a_state_saved_before_this_version_can_never_complain(js):
    """Failed before (fixed in session 20): web/static/js/crypto/dkg.js Trustee.fromState / checkShares with
    web/static/js/ceremony.js: the previous version saved no state after dealing (no 'dealt_to'), and fromState
    reads the missing key as 'not dealt yet'; a trustee whose ceremony was in the complain round when the new code
    shipped reloads, is not asked to deal again (its message is on the relay) and checkShares throws 'trustee j has
    not dealt yet' on every poll, though it did: the relay waits for all n complaints, so the ceremony stalls for
    good with a misleading message and no one named. Fix: when dealtTo is absent but this trustee's own deal message
    is in state.dealers and verifies under its own key over the announcements shown (only it can sign that), take
    those as dealtTo; else say plainly that the saved progress predates this version and the ceremony must restart"""
    assert js["old_state_check_shares"]["ok"], js["old_state_check_shares"]
    assert not js["old_state_foreign_deal"]["ok"], "another trustee's deal was taken as this trustee's own"


def test_spec_section_9_matches_what_check_shares_now_refuses():
    """Failed before (fixed in session 20): docs/spec.md section 9 'The relay as broadcast channel' still says that
    a relay showing one trustee altered commitments for an honest dealer makes that trustee complain and open its
    genuine share: since session 20 check_shares refuses such a message (spec 6 step 2 says so), so section 9 now
    describes what the code does not do, and it omits what remains (a relay asking for a second deal, dropped deals
    of honest trustees, neither seen by comparing Q). Fix: rewrite the paragraph to the current guarantees and the
    remaining relay powers"""
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("## 9. Known limitations"):text.index("## 10. Election record")]
    assert "makes that trustee complain about a genuine share" not in " ".join(section.split())


# ============================================================================================ properties that hold


def test_open_once_holds_across_a_reload_in_the_browser_module_with_python_error_texts(js):
    """ceremony.js saves the state after Trustee.open and before posting: the restored trustee keeps 'opened', opens
    again for the same view (a retried POST, a re-rendered page), refuses another view and an outcome reconstructing
    other dealers, and refuses to open below k reveals; every text is Python's."""
    assert js["open_first"]["ok"] and js["restored_opened"] == [2] and js["open_same_after_reload"]["ok"]
    params = dkg.CeremonyParams(ED, 3, 2, b"session20-fixes-texts")
    trustees, transcript, result = dkg.honest_ceremony(params)
    t1 = trustees[0]
    t1.open(transcript.messages, {i: r for i, r in transcript.reveals.items() if i != 2})
    with pytest.raises(ProtocolError) as other:
        t1.open(transcript.messages, {i: r for i, r in transcript.reveals.items() if i != 3})
    with pytest.raises(QuorumError) as clean:
        t1.finish(transcript)
    t2 = trustees[1]
    with pytest.raises(ProtocolError) as below:
        t2.open(transcript.messages, {3: transcript.reveals[3]})
    assert js["open_other_after_reload"]["name"] == "ProtocolError" and js["open_other_after_reload"]["message"] == str(other.value)
    assert js["restored_finish_clean"]["name"] == "VerificationError" and js["restored_finish_clean"]["message"] == str(clean.value)
    assert js["below_k"]["name"] == "ProtocolError" and js["below_k"]["message"] == str(below.value)


def test_browser_state_with_malformed_opened_or_dealt_to_is_refused_naming_the_field(js):
    """Security rule 4: bad types, wrong lengths, duplicates, indices out of range, a non-member key: DecodeError
    naming state.opened / state.dealt_to (or the entry's field); a well-formed state round-trips."""
    assert js["state_roundtrip"]["ok"]
    expected = {"opened_string": "state.opened", "opened_unsorted": "state.opened", "opened_dup": "state.opened",
                "opened_zero": "state.opened", "opened_big": "state.opened", "opened_float": "state.opened",
                "opened_bool": "state.opened", "opened_object": "state.opened", "dealt_short": "state.dealt_to",
                "dealt_dup": "state.dealt_to", "dealt_index": "state.dealt_to[0].index", "dealt_object": "state.dealt_to",
                "dealt_key": "state.dealt_to[0].enc_key", "dealt_string": "state.dealt_to"}
    got = {name: (r["name"], r["field"]) for name, r in js["states"].items()}
    assert got == {name: ("DecodeError", field) for name, field in expected.items()}


@pytest.mark.parametrize("n,k", [(3, 1), (3, 3), (1, 1), (4, 2)])
def test_honest_outcomes_of_edge_quorums_finish_and_sign(n, k):
    """k = 1 (every V_j is K), n = k, n = 1: honest outcomes finish and sign from the transcript each trustee
    adjudicates itself; one withheld reveal (RECON non-empty) also finishes when n >= 2k."""
    params = dkg.CeremonyParams(ED, n, k, b"session20-fixes-poly")
    trustees, transcript, result = dkg.honest_ceremony(params)
    for t in trustees:
        assert t.finish(transcript).public_key == result.public_key and t.sign(transcript)
    if n >= 2 * k and n > 1:
        trustees, transcript, result = dkg.honest_ceremony(params, withhold=(n,))
        assert result.reconstructed == (n,)
        assert signers(trustees, transcript) == list(result.qualified)


def test_partial_decrypt_refuses_a_non_member_beta_in_python_and_in_the_browser(js):
    """Fix 3 held: beta is membership-checked before any exponentiation (modp p-1 of order 2; ed25519 small order),
    the field named, in both implementations; a member beta is answered."""
    assert js["bad_beta"]["name"] == "DecodeError" and js["bad_beta"]["field"] == "ciphertexts[0].beta"
    assert js["good_beta"]["ok"]
    alpha = MODP.exp_g(3)
    with pytest.raises(DecodeError, match=r"ciphertexts\[0\]\.beta"):
        partial_decrypt(MODP, 1, 5, [Ciphertext(alpha, MODP.p - 1)], b"session20-fixes-beta")
