"""web/static/js/board.js readBoard, under node with fetch faked: the trustee's page reads the board in `?from=`
pages (the server answers at most 1000 entries or 32 MB at a time) and refuses a page that does not go on from
the last entry read, a malformed answer, and an empty board, naming what is wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE = shutil.which("node")
JS = (Path(__file__).resolve().parents[2] / "web" / "static" / "js").as_uri()

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

SCRIPT = """
const { readBoard } = await import(%(js)r + "/board.js");
const entry = (seq) => ({ seq, type: "cast", prev: "00", hash: "11", sig: "22", payload: {} });
const board = [0, 1, 2, 3, 4, 5, 6].map(entry);
let serve;
const asked = [];
globalThis.fetch = async (url) => {
  asked.push(url);
  const body = serve(new URL(url, "http://board"));
  return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
};
const honest = (u) => ({ entries: board.filter((e) => e.seq >= Number(u.searchParams.get("from"))).slice(0, 3) });
async function attempt(answer) {
  serve = answer;
  asked.length = 0;
  const read = [];
  try {
    const entries = await readBoard("/api/elections/x", "refusing to decrypt", (n) => read.push(n));
    return { seqs: entries.map((e) => e.seq), asked: [...asked], read };
  } catch (err) {
    return { error: err.message, name: err.constructor.name };
  }
}
const out = {
  honest: await attempt(honest),
  gap: await attempt((u) => ({ entries: honest(u).entries.filter((e) => e.seq !== 4) })),
  overlap: await attempt((u) => ({ entries: board.filter((e) => e.seq >= Math.max(0, Number(u.searchParams.get("from")) - 1)).slice(0, 3) })),
  nullAnswer: await attempt(() => null),
  nullEntry: await attempt(() => ({ entries: [null] })),
  noList: await attempt(() => ({ entries: "all of them" })),
  empty: await attempt(() => ({ entries: [] })),
};
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    script = tmp_path_factory.mktemp("board") / "pages.mjs"
    script.write_text(SCRIPT % {"js": JS}, encoding="utf-8")
    run = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_an_honest_board_is_read_whole_page_by_page(out: dict[str, Any]) -> None:
    assert out["honest"]["seqs"] == list(range(7))
    assert [url.rsplit("?", 1)[1] for url in out["honest"]["asked"]] == ["from=0", "from=3", "from=6", "from=7"]
    assert out["honest"]["read"] == [3, 6, 7]


@pytest.mark.parametrize("case, entry", [("gap", 4), ("overlap", 3), ("nullEntry", 0)])
def test_a_page_that_does_not_go_on_from_the_last_entry_is_refused(out: dict[str, Any], case: str, entry: int) -> None:
    assert out[case]["error"] == f"the board's entries are malformed (entry {entry}): refusing to decrypt", out[case]


@pytest.mark.parametrize("case", ["nullAnswer", "noList"])
def test_an_answer_without_a_list_of_entries_is_refused(out: dict[str, Any], case: str) -> None:
    assert out[case]["error"] == "the board's answer holds no list of entries: refusing to decrypt", out[case]


def test_an_empty_board_is_refused(out: dict[str, Any]) -> None:
    assert out["empty"]["error"] == "the board holds no entries: refusing to decrypt", out["empty"]
