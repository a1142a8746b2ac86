"""Contact discovery with unbalanced PSI: a large directory prepared once, many small queries.

The directory server (its own process) hashes, blinds and compresses its phone numbers once
(Golomb-Rice set, about 6 bytes per number), then answers over TCP. Each phone app downloads
that set once, then sends only its few contacts, blinded, and learns which are registered;
the server learns nothing about the contacts, the app nothing about unregistered numbers.

    .venv/bin/python examples/psi_contact_discovery.py [--directory 1000000] [--apps 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time

from mpc_ml.psi import PsiClient, PsiServer


def phone(i: int) -> str:
    """The i-th registered number of the demo directory."""
    return f"+4479{i:08d}"


def directory_server(size: int, apps: int, ready: multiprocessing.Queue) -> None:
    """The server process: prepare once, then serve one setup download and one query per app."""
    started = time.perf_counter()
    server = PsiServer((phone(i) for i in range(size)), reveal="items", fpr=1e-12)
    print(f"[server] {size} numbers prepared in {time.perf_counter() - started:.1f} s; "
          f"compressed set {len(server.setup.to_bytes()) / size:.2f} bytes/number")
    server.serve("127.0.0.1", 0, connections=2 * apps, timeout=60, ready=ready.put)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--directory", type=int, default=100_000, help="registered numbers (10^6 takes about a minute)")
    ap.add_argument("--apps", type=int, default=5)
    a = ap.parse_args()
    ready: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=directory_server, args=(a.directory, a.apps, ready))
    proc.start()
    port = ready.get(timeout=600)
    rng = random.Random(7)
    for app in range(a.apps):
        registered = [phone(rng.randrange(a.directory)) for _ in range(3)]
        strangers = [f"+3361{rng.randrange(10**8):08d}" for _ in range(17)]
        contacts = list(dict.fromkeys(registered + strangers))
        setup = PsiClient.fetch_setup("127.0.0.1", port)  # once per app (cacheable)
        found = PsiClient(contacts).query("127.0.0.1", port, setup=setup)
        assert sorted(found.items) == sorted(set(registered))  # type: ignore[arg-type]
        print(f"[app {app}] {len(contacts)} contacts, registered: {found.items}")
    proc.join(timeout=60)


if __name__ == "__main__":
    main()
