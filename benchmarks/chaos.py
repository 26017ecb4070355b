"""The chaos run of ``tests/test_chaos.py``, longer and bigger, by hand (not in the suite).

A fleet charges against a recording Central System in this process while the Central System is restarted
and drops connections at random, charge points lose their power at random, and the fleet process is killed
with SIGKILL and started again; then a last run drains every queue. ``tests/chaos_runs.py`` says exactly
what runs and what is checked (the order and uniqueness of every transaction-related message, and the
reports against what the Central System received); any failed check ends the script with a traceback.
It prints the accounting: messages per action received and repeated, sent and answered per report,
transactions started and stopped (PowerLoss among them), kills, restarts, dropped connections, reconnects.

    .venv/bin/python benchmarks/chaos.py --charge-points 200 --duration 60 --kills 3 --seed 7
"""

import argparse
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chaos_runs import ChaosSettings, print_outcome, run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--charge-points", type=int, default=200, help="how many (default 200)")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of the busy run; killed runs last up to it (60)"
    )
    parser.add_argument("--seed", type=int, default=1, help="of the scenario and the chaos (default 1)")
    parser.add_argument("--kills", type=int, default=3, help="runs killed with SIGKILL (default 3)")
    parser.add_argument(
        "--restarts", type=int, default=0, help="Central System restarts per run (default: one per 10 s)"
    )
    parser.add_argument("--power-losses", type=int, default=0, help="per run (default: a fifth of the fleet)")
    parser.add_argument("--keep", type=Path, help="keep the database, fleet files and logs in this folder")
    args = parser.parse_args()
    settings = ChaosSettings(
        charge_points=args.charge_points,
        seconds=args.duration,
        seed=args.seed,
        kills=args.kills,
        restarts=args.restarts or max(1, round(args.duration / 10)),
        power_losses=args.power_losses or max(1, args.charge_points // 5),
    )
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        outcome = trio.run(run_chaos, args.keep, settings)
    else:
        with tempfile.TemporaryDirectory(prefix="ocpp-chaos-") as directory:
            outcome = trio.run(run_chaos, Path(directory), settings)
    print_outcome(outcome)
    print("every check passed")


if __name__ == "__main__":
    main()
