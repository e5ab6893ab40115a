"""The long form of the soak test: `python -m tests.soak.run --minutes N`
(`scripts/soak` runs it with the project's venv). Exit status 0 when every
invariant held, 1 otherwise; the summary and the problems are printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import trio

from tests.soak.soak import SoakConfig, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="load duration (default 5)")
    parser.add_argument("--seed", type=int, default=15, help="seed of the fault schedule")
    parser.add_argument("--agents", type=int, default=None, help="concurrent agents (6)")
    parser.add_argument("--instances", type=int, default=3, help="server instances (3)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep logs and data here")
    parser.add_argument(
        "--server-src", default=None, help="run the instances from this source tree"
    )
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"instances": args.instances, "keep_work_dir": True}
    if args.agents is not None:
        overrides["agents"] = args.agents
    if args.work_dir is not None:
        overrides["work_dir"] = args.work_dir
    if args.server_src:
        overrides["server_src"] = args.server_src
    config = SoakConfig.long(args.minutes, seed=args.seed, **overrides)
    result = trio.run(run_soak, config)
    print(result.report())
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
