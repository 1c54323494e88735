"""``python -m sandbox``: serve a generated world on loopback until Ctrl-C.

Prints ``export NAME=value`` lines that point the scheduler at it:

    python -m sandbox --repos 100 --servers 50 --seed 7 > sandbox.env &
    sleep 3; . ./sandbox.env; python -m ticker & python -m actors

``--story SECONDS`` changes the world while it runs (``sandbox/story.py``). ``--docs DIR`` adds one
repository per folder of DIR, holding its files (``DIR/<repo>/<path>``).
"""

from __future__ import annotations

from process.noise import quiet_asyncssh_dsa

quiet_asyncssh_dsa()  # before anything imports asyncssh: process/noise.py

import argparse
import shlex
import signal
import sys
import threading

from sandbox.docs import add_docs_repos
from sandbox.running import Sandbox
from sandbox.story import Story
from sandbox.world import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=50, help="repositories in the GitHub org (≤ 1000)")
    parser.add_argument("--servers", type=int, default=20, help="Time4VPS servers and SSH hosts (≤ 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--unhealthy",
        type=float,
        default=0.1,
        help="share of hosts in a bad state (disk full, Docker down, unreachable, slow, wrong key)",
    )
    parser.add_argument("--db", default=":memory:", help="the platform API's SQLite file")
    parser.add_argument(
        "--docs", metavar="DIR", help="add one repository per folder of DIR, with its files: DIR/<repo>/<path>"
    )
    parser.add_argument(
        "--story",
        type=float,
        default=0,
        metavar="SECONDS",
        help="change the world every SECONDS while serving (sandbox/story.py); 0: never",
    )
    parser.add_argument(
        "--no-servers-in-platform",
        action="store_true",
        help="leave the platform's Server table empty (as before the first server_sync)",
    )
    args = parser.parse_args(argv)

    share = args.unhealthy / 5
    states = {"disk_full": share, "docker_down": share, "unreachable": share, "slow": share, "wrong_host_key": share}
    world = World.generate(seed=args.seed, repos=args.repos, servers=args.servers, host_states=states)
    if args.docs:
        try:
            added = add_docs_repos(world, args.docs)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"# sandbox: {len(added)} repositories from {args.docs}", file=sys.stderr, flush=True)
    sandbox = Sandbox(world, db_path=args.db).start()
    if not args.no_servers_in_platform:
        sandbox.seed_platform_servers()
    for name, value in sandbox.env().items():
        print(f"export {name}={shlex.quote(value)}")
    print(
        f"# sandbox: {args.repos} repos, {args.servers} servers (seed {args.seed}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    story = Story(world, sandbox.sync_fleet, args.story).start() if args.story > 0 else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    if story is not None:
        story.stop()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
