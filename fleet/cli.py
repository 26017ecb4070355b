"""The ``ocpp-fleet`` command line: it parses arguments and calls the library, nothing more."""

import argparse
import functools
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio
from rich.console import Console

from actors.connection import CsmsAddress
from fleet import __version__
from fleet.commands import REPORT_WIDTH, run_csms, run_demo, run_fleet
from fleet.control import check_control_host, parse_control_address
from fleet.demo import run_demo_file
from fleet.fleetfile import FleetFile, FleetFileError, load_fleet_file
from fleet.heap import GC_THRESHOLDS
from fleet.inspect import print_inspection
from fleet.processes import PROGRESS_EVERY, run_processes, run_shard_child
from fleet.report import ReportError, print_report, write_report
from fleet.runner import DEFAULT_RAMP
from fleet.scenario import ScenarioKind
from fleet.shards import Shard, merge_report_files
from storage import StorageError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # as a shell reports a process killed by SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ocpp-fleet``."""
    parser = argparse.ArgumentParser(
        prog="ocpp-fleet",
        description=(
            "Simulate fleets of OCPP 1.6J charge points against a Central System (CSMS), "
            "or run the embedded Central System."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a small fleet against the embedded Central System and show every message",
        description=(
            "Run charge points against the embedded Central System on 127.0.0.1 and print every message. "
            "Without a fleet file: a few charge points with simulated drivers. With one: its charge points "
            "and its scenario, where csms_call events have the Central System send a CALL (a reservation, "
            "a charging profile, a firmware update served by the demo itself; see examples/demo.toml)."
        ),
    )
    demo.add_argument(
        "fleet_file",
        nargs="?",
        type=Path,
        metavar="FLEET.toml",
        help="optional fleet file (examples/demo.toml)",
    )
    demo.add_argument("--charge-points", type=_positive_int, default=3, help="how many (default 3)")
    demo.add_argument("--connectors", type=_positive_int, default=2, help="per charge point (default 2)")
    demo.add_argument(
        "--heartbeat-interval", type=_positive_int, default=30, help="seconds, given at boot (default 30)"
    )
    _add_duration(demo)

    run = commands.add_parser(
        "run",
        help="run the charge points of a fleet file until stopped",
        description=(
            "Run the charge points of a fleet file until stopped. On a terminal a live view shows, 4 times a "
            "second, the charge points connected, accepted and offline, the sessions running, the energy "
            "delivered, our CALLs per second, the Central System's answer times (p50, p99 over 5 s) and the "
            "errors; otherwise the same figures are printed as a line every 5 s. At the end a report: per "
            "action sent, answered, CALLERRORs by code, timeouts, lost and answer times (p50, p95, p99, "
            "max), then reconnects, time offline, offline queue high-water mark, sessions and energy."
        ),
    )
    run.add_argument("fleet_file", type=Path, metavar="FLEET.toml", help="the fleet file (see examples/)")
    run.add_argument("--csms-url", help="connect every charge point here instead (ws://... or wss://...)")
    run.add_argument(
        "--database",
        type=Path,
        help="SQLite file for the charge points' persistent state (default: the fleet file's database "
        "key); a later run carries on from what it holds",
    )
    run.add_argument(
        "--ramp",
        type=float,
        default=DEFAULT_RAMP,
        help=f"charge points started per second, 0 for all at once (default {DEFAULT_RAMP:g})",
    )
    run.add_argument(
        "--control",
        type=_control_address,
        metavar="HOST:PORT",
        help="serve the control API (HTTP + JSON: list, add and remove charge points, send them events) "
        "here, e.g. 127.0.0.1:8080; a loopback address unless --control-public",
    )
    run.add_argument(
        "--control-public",
        action="store_true",
        help="let --control listen on an address that is not loopback: anyone who reaches it controls "
        "the fleet",
    )
    run.add_argument(
        "--report",
        type=Path,
        metavar="FILE.json",
        help="also write the report printed at the end to this JSON file (format ocpp-fleet-report/1: "
        "per action and per charge point, mergeable across shards)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics while running (0: a free port)",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the metrics server (default 127.0.0.1)",
    )
    run.add_argument(
        "--processes",
        type=_positive_int,
        metavar="N",
        help="run the fleet in N processes (one per core), split as --shard splits it, with one progress "
        "view and one report; shard K keeps its state in the database named .pK-of-N (fleet.p1-of-4.db)",
    )
    run.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="run only shard K of N of the fleet (charge point i of the file, from 0, is in shard "
        "i %% N + 1), to run a fleet across N machines; its state is in the database named .pK-of-N, its "
        "report says which shard it is (merge them with ocpp-fleet report merge)",
    )
    run.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # a child of --processes
    run.add_argument(  # how often a child of --processes tells its parent how it is doing
        "--progress-every", type=_positive_seconds, default=PROGRESS_EVERY, help=argparse.SUPPRESS
    )
    _add_duration(run)

    check = commands.add_parser(
        "check",
        help="check a fleet file without running it",
        description=(
            "Check a fleet file as 'run' would (every key, every charge point id, configuration values, "
            "security files, scenario targets) and print what it describes; nothing connects, nothing is "
            "written. A mistake is one line on standard error and exit status 2."
        ),
    )
    check.add_argument("fleet_file", type=Path, metavar="FLEET.toml", help="the fleet file (see examples/)")

    report = commands.add_parser("report", help="work with the JSON reports of ocpp-fleet run")
    report_commands = report.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    merge = report_commands.add_parser(
        "merge",
        help="combine the reports of the shards of a fleet into one",
        description=(
            "Combine the JSON reports (--report) of runs of different shards of one fleet (--shard K/N) into "
            "the report of the whole fleet, exactly, and print its tables. Reports of another format, of the "
            "same shard twice, of shards of different splits, or sharing a charge point are refused."
        ),
    )
    merge.add_argument("reports", type=Path, nargs="+", metavar="REPORT.json", help="the shards' reports")
    merge.add_argument("--output", type=Path, metavar="FILE.json", help="also write the merged report here")

    csms = commands.add_parser("csms", help="run the embedded Central System")
    csms.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    csms.add_argument("--port", type=int, default=9000, help="port to listen on (default 9000)")
    csms.add_argument(
        "--heartbeat-interval", type=_positive_int, default=300, help="seconds, given at boot (default 300)"
    )
    csms.add_argument(
        "--verbose", action="store_true", help="print every message, not only BootNotifications"
    )
    _add_duration(csms)

    inspect = commands.add_parser(
        "inspect",
        help="print the state each charge point saved in a database",
        description=(
            "Print the state each charge point saved in an ocpp-fleet SQLite database: its offline queue "
            "(depth, and the head: seq, action, attempts, next attempt), its Local Authorization List "
            "(version, size), its Authorization Cache (size), each connector's availability, open "
            "transaction and last meter reading (connectors not shown are Operative and idle), and the "
            "configuration values it keeps. The file is opened read-only: inspecting "
            "never changes it, and works while 'ocpp-fleet run' writes to it."
        ),
    )
    inspect.add_argument(
        "database", type=Path, metavar="DB", help="the database file (the fleet file's database key)"
    )
    inspect.add_argument(
        "--charge-point", metavar="ID", help="only this charge point (default: every one in the file)"
    )
    inspect.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document instead: a list with an object per charge point",
    )
    return parser


def _add_duration(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this long (default: at Ctrl-C or SIGTERM)",
    )


def _control_address(text: str) -> tuple[str, int]:
    try:
        return parse_control_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _refuse_csms_calls(fleet_file: FleetFile) -> None:
    """``run`` plays against a Central System it does not control: a csms_call event is a ValueError."""
    for index, event in enumerate(fleet_file.scenario):
        if event.kind is ScenarioKind.CSMS_CALL:
            raise ValueError(
                f"{fleet_file.source}: scenario[{index}].event: csms_call needs the embedded Central System; "
                f"play this file with ocpp-fleet demo"
            )


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _check_processes(arguments: argparse.Namespace, charge_points: int) -> None:
    """How --processes, --shard and --child combine with each other and the rest; a ValueError if not."""
    if arguments.processes is not None:
        if arguments.shard is not None:
            raise ValueError(
                "--processes and --shard do not combine yet: run N x M shards instead, M on each machine"
            )
        if arguments.control is not None:
            raise ValueError(
                "--control serves the charge points of one process, not of --processes; "
                "run each shard with --shard K/N and a --control of its own"
            )
        if arguments.processes > charge_points:
            raise ValueError(
                f"--processes {arguments.processes}: the fleet has only {charge_points} charge points"
            )
    alone = arguments.control is None and arguments.metrics_port is None and arguments.report is None
    if arguments.child and (arguments.shard is None or not alone):
        raise ValueError("--child is for the processes of --processes: with --shard K/N only")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    # Thousands of long-lived actors make the default thresholds collect far too often (fleet.heap).
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        return _run_command(parser, arguments)
    except (OSError, ExceptionGroup) as error:
        problem = _only_os_errors(error)
        if problem is None:
            raise
        if isinstance(problem, BrokenPipeError):  # our reader went away (``ocpp-fleet demo | head``)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
        print(f"ocpp-fleet: {problem}", file=sys.stderr)  # e.g. the port is in use
        return EXIT_FAILURE


def _only_os_errors(error: BaseException) -> OSError | None:
    """The first OSError if ``error`` is one or a group of nothing else (as trio raises them); else None."""
    if isinstance(error, OSError):
        return error
    if isinstance(error, BaseExceptionGroup):
        matched, rest = error.split(OSError)
        if matched is not None and rest is None:
            first: BaseException = matched
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            return first if isinstance(first, OSError) else None
    return None


def _run_command(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> int:
    out = sys.stdout
    if arguments.command == "demo" and arguments.fleet_file is not None:
        try:
            fleet_file = load_fleet_file(arguments.fleet_file)
            fleet_file.charge_points()
        except FleetFileError as error:
            print(f"ocpp-fleet: {error}", file=sys.stderr)
            return EXIT_USAGE
        demo_file = functools.partial(
            run_demo_file,
            fleet_file,
            out,
            heartbeat_interval=arguments.heartbeat_interval,
            duration=arguments.duration,
        )
        trio.run(demo_file)
    elif arguments.command == "demo":
        trio.run(
            functools.partial(
                run_demo,
                out,
                charge_points=arguments.charge_points,
                connectors=arguments.connectors,
                heartbeat_interval=arguments.heartbeat_interval,
                duration=arguments.duration,
            )
        )
    elif arguments.command == "run":
        try:
            fleet_file = load_fleet_file(arguments.fleet_file)
            fleet_file.charge_points()
            _refuse_csms_calls(fleet_file)
            if arguments.csms_url is not None:
                CsmsAddress.for_charge_point(arguments.csms_url, "CP")
            if arguments.control is not None:
                check_control_host(arguments.control[0], public=arguments.control_public)
            if arguments.report is not None and not arguments.report.parent.is_dir():
                raise ValueError(f"--report {arguments.report}: no such folder {arguments.report.parent}")
            _check_processes(arguments, len(fleet_file.charge_points()))
        except (FleetFileError, ValueError) as error:
            print(f"ocpp-fleet: {error}", file=sys.stderr)
            return EXIT_USAGE
        database = arguments.database or fleet_file.database
        if arguments.shard is not None:
            database = arguments.shard.database(database)
        try:
            if arguments.processes is not None:
                return trio.run(
                    functools.partial(
                        run_processes,
                        arguments.fleet_file,
                        fleet_file,
                        out,
                        processes=arguments.processes,
                        csms_url=arguments.csms_url,
                        database=arguments.database,
                        ramp=arguments.ramp,
                        duration=arguments.duration,
                        report=arguments.report,
                        metrics_host=arguments.metrics_host,
                        metrics_port=arguments.metrics_port,
                    )
                )
            if arguments.child:
                child = functools.partial(
                    run_shard_child,
                    fleet_file,
                    arguments.shard,
                    database=database,
                    csms_url=arguments.csms_url,
                    ramp=arguments.ramp,
                    freeze_heap=True,
                    progress_every=arguments.progress_every,
                )
                trio.run(child)
                return 0
            trio.run(
                functools.partial(
                    run_fleet,
                    fleet_file,
                    out,
                    csms_url=arguments.csms_url,
                    duration=arguments.duration,
                    ramp=arguments.ramp,
                    database=database,
                    control=arguments.control,
                    control_public=arguments.control_public,
                    report=arguments.report,
                    metrics_host=arguments.metrics_host,
                    metrics_port=arguments.metrics_port,
                    shard=arguments.shard,
                ),
            )
        except StorageError as error:  # the database cannot be opened: not ours, or of a newer version
            print(f"ocpp-fleet: {database}: {error}", file=sys.stderr)
            return EXIT_FAILURE
    elif arguments.command == "check":
        try:
            fleet_file = load_fleet_file(arguments.fleet_file)
            specs = fleet_file.charge_points()
        except FleetFileError as error:
            print(f"ocpp-fleet: {error}", file=sys.stderr)
            return EXIT_USAGE
        connectors = sum(spec.connectors for spec in specs)
        print(
            f"{fleet_file.source}: {len(specs)} charge points with {connectors} connectors in "
            f"{len(fleet_file.groups)} groups, {len(fleet_file.scenario)} scenario events; "
            f"state in {fleet_file.database}",
            file=out,
        )
    elif arguments.command == "csms":
        trio.run(
            functools.partial(
                run_csms,
                out,
                host=arguments.host,
                port=arguments.port,
                heartbeat_interval=arguments.heartbeat_interval,
                verbose=arguments.verbose,
                duration=arguments.duration,
            )
        )
    elif arguments.command == "report":
        try:
            merged, missing = merge_report_files(arguments.reports)
            if arguments.output is not None and not arguments.output.parent.is_dir():
                raise ReportError(f"--output {arguments.output}: no such folder {arguments.output.parent}")
        except ReportError as error:
            print(f"ocpp-fleet: {error}", file=sys.stderr)
            return EXIT_USAGE
        for shard in missing:
            print(f"ocpp-fleet: no report of shard {shard}: the merged report lacks it", file=sys.stderr)
        print_report(merged, Console(file=out, width=None if out.isatty() else REPORT_WIDTH))
        if arguments.output is not None:
            write_report(arguments.output, merged)
            print(f"report written to {arguments.output}", file=out)
    elif arguments.command == "inspect":
        try:
            print_inspection(
                out, arguments.database, charge_point_id=arguments.charge_point, as_json=arguments.json
            )
        except StorageError as error:
            print(f"ocpp-fleet: {error}", file=sys.stderr)
            return EXIT_USAGE
    else:
        parser.print_help()
    return 0
