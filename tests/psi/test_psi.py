"""PSI and its size-only mode against plaintext set operations, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_ml.psi import PsiClient, PsiError, PsiServer, Response, intersection

item = st.one_of(st.text(max_size=12), st.binary(max_size=12))


def distinct(items: list[str | bytes]) -> list[str | bytes]:
    """Items with distinct UTF-8 encodings (str and bytes of the same bytes are the same item)."""
    seen: dict[bytes, str | bytes] = {}
    for x in items:
        seen.setdefault(x.encode() if isinstance(x, str) else x, x)
    return list(seen.values())


def as_bytes(x: str | bytes) -> bytes:
    return x.encode() if isinstance(x, str) else x


@settings(max_examples=25, deadline=None)
@given(st.lists(item, min_size=1, max_size=30), st.lists(item, min_size=1, max_size=30), st.data())
def test_intersection_equals_plaintext(a: list, b: list, data: st.DataObject) -> None:
    a, b = distinct(a), distinct(b + data.draw(st.lists(st.sampled_from(a), max_size=10)))
    expected = [x for x in a if as_bytes(x) in {as_bytes(y) for y in b}]
    assert intersection(a, b, "items") == expected
    assert intersection(a, b, "size") == len(expected)


def test_text_and_bytes_of_the_same_utf8_match() -> None:
    assert intersection(["é", b"x"], [b"\xc3\xa9", "x"]) == ["é", b"x"]


def test_messages_as_bytes_between_separate_objects() -> None:
    server = PsiServer([f"s{i}" for i in range(50)], reveal="size")
    client = PsiClient([f"s{i}" for i in range(40, 70)], reveal="size")
    wire = server.respond(client.request().to_bytes()).to_bytes()
    assert client.finish(wire, server.setup.to_bytes()).size == 10


def test_size_mode_response_is_not_in_request_order() -> None:
    client = PsiClient([f"x{i}" for i in range(64)], reveal="size")
    request = client.request()
    response = PsiServer(["x1"], reveal="size").respond(request)
    rows = [response.points[i : i + 32] for i in range(0, len(response.points), 32)]
    assert rows == sorted(rows, key=lambda r: r[::-1])


def test_one_setup_serves_many_clients() -> None:
    server = PsiServer([f"+4479{i:08d}" for i in range(2000)])
    setup = server.setup.to_bytes()
    for query, expected in ((["+447900000005", "+10"], ["+447900000005"]), (["+447900001999"], ["+447900001999"])):
        client = PsiClient(query)
        assert client.finish(server.respond(client.request(want_setup=False)), setup).items == expected


@pytest.mark.parametrize("bad", [[], iter(())])
def test_empty_sets_are_refused(bad: list) -> None:
    with pytest.raises(PsiError, match="client set is empty"):
        intersection(bad, ["a"])
    with pytest.raises(PsiError, match="server set is empty"):
        intersection(["a"], bad)


def test_duplicates_are_refused_with_their_positions() -> None:
    with pytest.raises(PsiError, match="item 2 duplicates item 0"):
        intersection(["a", "b", b"a"], ["c"])
    with pytest.raises(PsiError, match="server set: item 3 duplicates item 1"):
        PsiServer(["a", "b", "c", "b"])


@pytest.mark.parametrize("bad", [1, 2.5, None, ("a",), ["a"]])
def test_items_that_are_not_text_or_bytes_are_refused(bad: object) -> None:
    with pytest.raises(PsiError, match="item 1 is a"):
        intersection(["a", bad], ["a"])  # type: ignore[list-item]


def test_bad_reveal_and_mismatched_modes_are_refused() -> None:
    with pytest.raises(PsiError, match="reveal must be"):
        PsiClient(["a"], reveal="all")
    client = PsiClient(["a"], reveal="items")
    server = PsiServer(["a"], reveal="size")
    with pytest.raises(PsiError, match="expects 'items'"):
        client.finish(server.respond(client.request()), server.setup)


def test_response_of_the_wrong_length_is_refused() -> None:
    client = PsiClient(["a", "b"])
    server = PsiServer(["a"])
    response = server.respond(client.request())
    with pytest.raises(PsiError, match="1 points for a request of 2"):
        client.finish(Response(response.points[:32], "items", response.setup_digest), server.setup)


def test_progress_bar_draws_on_request_only() -> None:
    import io

    from mpc_ml.psi.progress import Progress

    shown = io.StringIO()
    bar = Progress("server", 10, True, shown)
    bar.advance(10)
    bar.close()
    assert "server: [" in shown.getvalue() and "10/10" in shown.getvalue()
    quiet = io.StringIO()
    Progress("client", 10**7, None, quiet).close()  # not a terminal: no bar by default
    assert quiet.getvalue() == ""


def test_a_prepared_server_is_saved_and_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    server = PsiServer((f"n{i}" for i in range(300)), reveal="size")
    path = tmp_path / "directory.psi"
    server.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = PsiServer.load(path)
    client = PsiClient(["n5", "n299", "x"], reveal="size")
    assert client.finish(again.respond(client.request()), server.setup).size == 2
    for bad in (b"", b"QPSS\x00" + bytes(32), path.read_bytes()[:-3]):
        (tmp_path / "bad").write_bytes(bad)
        with pytest.raises(PsiError):
            PsiServer.load(tmp_path / "bad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "directory.psi"]


def test_two_threads_saving_to_one_path_leave_one_whole_server(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Saves go through threshold.keystore.replace_private (unique temporary names): two threads saving to one path
    leave one whole saved server (a per-process temporary name had them write one file and rename it twice)."""
    import os
    import threading

    servers = [PsiServer((f"{tag}{i}" for i in range(300)), reveal="items") for tag in "ab"]
    path = tmp_path / "directory.psi"
    both_written, rename = threading.Barrier(2, timeout=10), os.replace

    def replace_after_both_wrote(src, dst):  # type: ignore[no-untyped-def]
        both_written.wait()  # forces the interleaving: each thread has written its temporary file before any rename
        rename(src, dst)

    monkeypatch.setattr(os, "replace", replace_after_both_wrote)
    failures: list[Exception] = []

    def save(server: PsiServer) -> None:
        try:
            server.save(path)
        except Exception as exc:  # noqa: BLE001  (the test reports whatever the race raised)
            failures.append(exc)

    threads = [threading.Thread(target=save, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert PsiServer.load(path).setup.to_bytes() in [s.setup.to_bytes() for s in servers]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["directory.psi"]
