"""web/static/js/crypto/batch.js under node: holdsWeightedYielding (the trustee's recount) gives the verdict of
holdsWeighted, true and false, in both groups, over Straus's and Pippenger's sizes, and hands the event loop back
in the middle of its multi-exponentiation (a timer runs while it works), which holdsWeighted never does."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

_SCRIPT = """
const js = %(js)r;
const { holdsWeighted, holdsWeightedYielding } = await import(`${js}/crypto/batch.js`);
const { getGroup } = await import(`${js}/crypto/groups.js`);
const out = {};
for (const [name, count] of [["modp", 3], ["modp", 40], ["ed25519", 3], ["ed25519", 300]]) {
  const g = getGroup(name);
  const equations = [];  // Schnorr-shaped: a X^c g^-v = 1 with a = g^w, X = g^x, v = w + c x
  for (let i = 0; i < count; i++) {
    const [w, x, c] = [g.randomScalar(), g.randomScalar(), g.randomScalar()];
    const X = g.expG(x);
    equations.push([[g.expG(w), 1n], [X, c], [g.g, -((w + c * x) %% g.q)]]);
  }
  const broken = equations.map((eq) => eq.slice());
  broken[count - 1] = [[broken[count - 1][0][0], 2n], ...broken[count - 1].slice(1)];
  let ticks = 0;
  const timer = setInterval(() => { ticks += 1; }, 0);
  const sync = [holdsWeighted(g, equations), holdsWeighted(g, broken)];
  const ticksSync = ticks;
  const yielding = [await holdsWeightedYielding(g, equations, new Map(), 0),
                    await holdsWeightedYielding(g, broken, new Map(), 0)];
  clearInterval(timer);
  out[`${name} ${count}`] = { sync, yielding, ticksSync, ticksYielding: ticks - ticksSync };
}
console.log(JSON.stringify(out));
"""


def test_the_yielding_batch_gives_the_same_verdicts_and_lets_timers_run(tmp_path: Path) -> None:
    script = tmp_path / "batch.mjs"
    script.write_text(_SCRIPT % {"js": (ROOT / "web" / "static" / "js").as_uri()}, encoding="utf-8")
    run = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for case, r in out.items():
        assert r["sync"] == r["yielding"] == [True, False], (case, r)
        assert r["ticksSync"] == 0, (case, r)  # the synchronous check never lets a timer in
        assert r["ticksYielding"] > 0, (case, r)
