"""Write the sample election records of tests/vectors/records/: valid ones, and one invalid record per kind
of fault, each listed in index.json with the exit code and the failing checks `quorum verify` must report,
so that other verifiers can test themselves against them.

    .venv/bin/python tests/vectors/make_record_vectors.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "voting"))

from tampering import CASES, tampered  # noqa: E402
from voting.verifier import verify_record  # noqa: E402
from voting_helpers import scripted_record  # noqa: E402

OUT = HERE / "records"


def _zip(directory: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ("board.jsonl", "board.pub"):
            archive.write(directory / name, name)


def main() -> int:
    """Regenerate every sample record and index.json."""
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    index: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        scenario = scripted_record(tmp_path / "ed25519")
        shutil.copytree(scenario.record, OUT / "valid-ed25519")
        index["valid-ed25519"] = {"expect_exit": 0, "failing_checks": [],
                                  "description": "4 voters, a challenged ballot, a re-vote, 3 of 3 trustees decrypting (quorum 2)"}
        modp = scripted_record(tmp_path / "modp", "modp")
        _zip(modp.record, OUT / "valid-modp.zip")
        index["valid-modp.zip"] = {"expect_exit": 0, "failing_checks": [], "description": "the same election in the 4096-bit group, zipped"}
        for name, (check, fn, modes, _) in CASES.items():
            mode = "rehash" if "rehash" in modes else modes[0]
            target = OUT / f"invalid-{name}"
            tampered(scenario, name, mode, target)
            failing = sorted({f.check for f in verify_record(target, workers=1).failures})
            index[target.name] = {"expect_exit": 1, "failing_checks": failing,
                                  "description": (fn.__doc__ or name.replace("_", " ")).strip() +
                                  ("" if mode == "plain" else " (chain re-hashed and re-signed)")}
        lines = (scenario.record / "board.jsonl").read_bytes().split(b"\n")
        for name, line, broken in (("truncated", len(lines) - 1, lines[-2][: len(lines[-2]) // 2]),
                                   ("garbled", 5, lines[4][:100] + b"\x00" + lines[4][101:])):
            target = OUT / f"malformed-{name}"
            target.mkdir()
            body = lines[: line - 1] + [broken]
            (target / "board.jsonl").write_bytes(b"\n".join(body) + (b"" if name == "truncated" else b"\n"))
            shutil.copy(scenario.record / "board.pub", target / "board.pub")
            index[target.name] = {"expect_exit": 2, "line": line, "failing_checks": [],
                                  "description": f"line {line} is {name}: unreadable record"}
    (OUT / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(index)} records to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
