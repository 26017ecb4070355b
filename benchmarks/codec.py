"""Throughput of "decode + validate + encode" for OCPP 1.6J CALL frames: ours against the ``ocpp`` package.

What is measured: for each of four realistic CALL frames, given as JSON text (MeterValues with ten sampled
values, StatusNotification, StartTransaction and SetChargingProfile), the number of messages per second that
go from text to a validated payload object and back to JSON text. Two paths run on the same texts:

* ours: :func:`actors.ocpp.parse_frame`, :func:`actors.ocpp.decode` into the action's request class (strict
  validation of JSON types, lengths, enums and the one-decimal rule), :func:`actors.ocpp.encode` and
  :func:`actors.ocpp.serialize`;
* ocpp: what the ``ocpp`` package's ``ChargePoint`` does when it receives a CALL and when it sends one:
  ``ocpp.messages.unpack``, JSON schema validation with ``ocpp.messages._validate_payload`` (the synchronous
  function behind ``validate_payload``), the ``ocpp.v16.call`` dataclass built from
  ``camel_to_snake_case(payload)``, then ``serialize_as_dict``, ``snake_to_camel_case``, ``remove_nones``
  and ``ocpp.messages.Call(...).to_json()``.

Each of the four kinds is measured on its own, and so is the mix (the four frames in turn, each once).
The two paths run in interleaved rounds (A, B, A, B ...; the order flips every round), so that the noise of
the machine hits both alike; the figures are the median of the rounds. Before timing, both paths are
checked to accept the four frames and to give back JSON equivalent to the input (date-times may come back
normalised to UTC with ``Z``), and to reject two invalid frames. Only ``time.perf_counter`` is used.

Run it from the repository root::

    .venv/bin/python benchmarks/codec.py            # about 30 s with the defaults
    .venv/bin/python benchmarks/codec.py --rounds 3 --seconds 0.2

The absolute numbers depend on the machine; the ratio ours/ocpp is what matters.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from typing import Any, cast

import ocpp.v16.call
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call as OcppCall
from ocpp.messages import _validate_payload, unpack

from actors.ocpp import REQUESTS, Action, Call, RemoteProtocolError, decode, encode, parse_frame, serialize

TARGET_RATIO = 5.0
"""The goal: ours handles at least this many times the messages per second of the ``ocpp`` package."""

OCPP_VERSION = "1.6"

# --- the messages -----------------------------------------------------------------------------------------


def _sampled(
    value: str, measurand: str, unit: str, location: str, phase: str | None = None
) -> dict[str, str]:
    sampled = {"value": value, "context": "Sample.Periodic", "measurand": measurand}
    if phase is not None:
        sampled["phase"] = phase
    sampled["location"] = location
    sampled["unit"] = unit
    return sampled


METER_VALUES: dict[str, Any] = {
    "connectorId": 1,
    "transactionId": 48213,
    "meterValue": [
        {
            "timestamp": "2026-11-21T10:15:30.123Z",
            "sampledValue": [
                _sampled("1834567.2", "Energy.Active.Import.Register", "Wh", "Outlet"),
                _sampled("10986.4", "Power.Active.Import", "W", "Outlet"),
                _sampled("15.9", "Current.Import", "A", "Outlet", "L1"),
                _sampled("16.0", "Current.Import", "A", "Outlet", "L2"),
                _sampled("15.8", "Current.Import", "A", "Outlet", "L3"),
                _sampled("229.8", "Voltage", "V", "Outlet", "L1-N"),
                _sampled("230.6", "Voltage", "V", "Outlet", "L2-N"),
                _sampled("231.1", "Voltage", "V", "Outlet", "L3-N"),
                _sampled("63", "SoC", "Percent", "EV"),
                _sampled("41.5", "Temperature", "Celsius", "Body"),
            ],
        }
    ],
}

STATUS_NOTIFICATION: dict[str, Any] = {
    "connectorId": 2,
    "errorCode": "NoError",
    "status": "Charging",
    "timestamp": "2026-11-21T10:15:31.456Z",
    "info": "EV connected, charging at 11 kW",
}

START_TRANSACTION: dict[str, Any] = {
    "connectorId": 1,
    "idTag": "04A2B9C1D37F80",
    "meterStart": 1823011,
    "timestamp": "2026-11-21T11:02:07.870+01:00",
    "reservationId": 7310,
}

SET_CHARGING_PROFILE: dict[str, Any] = {
    "connectorId": 0,
    "csChargingProfiles": {
        "chargingProfileId": 1201,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "validFrom": "2026-11-21T00:00:00.000Z",
        "validTo": "2027-11-21T00:00:00.000Z",
        "chargingSchedule": {
            "duration": 86400,
            "startSchedule": "2026-11-21T00:00:00.000Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 11040.0, "numberPhases": 3},
                {"startPeriod": 25200, "limit": 7360.5, "numberPhases": 3},
                {"startPeriod": 36000, "limit": 3680.2, "numberPhases": 1},
                {"startPeriod": 61200, "limit": 4600.8},
                {"startPeriod": 79200, "limit": 22080.0, "numberPhases": 3},
            ],
            "minChargingRate": 1380.4,
        },
    },
}


def _frame(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, unique_id, action, payload], separators=(",", ":"))


KINDS: dict[str, str] = {
    "MeterValues": _frame("6f1d2c84-5a0e-4b7d-9c35-0e8a1f2b3c4d", "MeterValues", METER_VALUES),
    "StatusNotification": _frame(
        "b0e3f1a2-7c6d-4e59-8a41-2d3c4b5a6978", "StatusNotification", STATUS_NOTIFICATION
    ),
    "StartTransaction": _frame("3c9a7e15-0b2d-4f68-a1c4-5e6f7a8b9c0d", "StartTransaction", START_TRANSACTION),
    "SetChargingProfile": _frame(
        "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70", "SetChargingProfile", SET_CHARGING_PROFILE
    ),
}

MIX = "mix"
"""The four kinds in turn, each once."""

WORKLOADS: dict[str, list[str]] = {
    **{kind: [text] for kind, text in KINDS.items()},
    MIX: list(KINDS.values()),
}

INVALID: dict[str, str] = {
    "unknown status": _frame("e1", "StatusNotification", {**STATUS_NOTIFICATION, "status": "Flying"}),
    "limit with two decimals": _frame(
        "e2",
        "SetChargingProfile",
        json.loads(json.dumps(SET_CHARGING_PROFILE).replace("7360.5", "7360.55")),
    ),
}


# --- the two paths ----------------------------------------------------------------------------------------


def ours(text: str) -> str:
    """Our path: frame, strict decode into the request class, encode, frame again."""
    frame = cast(Call, parse_frame(text))
    obj = decode(REQUESTS[Action(frame.action)], frame.payload)
    return serialize(Call(frame.unique_id, frame.action, encode(obj)))


def theirs(text: str) -> str:
    """The ``ocpp`` 2.1.0 path, as its ``ChargePoint`` receives a CALL and sends one.

    Reproduces, from ``ocpp/charge_point.py`` and ``ocpp/messages.py``:

    * receiving (``ChargePoint.route_message`` and ``_handle_call``): ``unpack(raw_msg)``, then
      ``validate_payload(msg, "1.6")``, whose synchronous body ``_validate_payload`` is called here directly
      (the package runs it in a thread pool executor by default, which would only add cost). For
      SetChargingProfile it re-parses the payload with ``parse_float=decimal.Decimal`` and validates that,
      exactly as the package does. Then ``camel_to_snake_case(msg.payload)`` gives the keyword arguments,
      here of the ``ocpp.v16.call`` dataclass named by the action (the package looks classes up by name the
      same way, ``getattr(self._call_result, name)``). Nested payloads (meterValue, csChargingProfiles) stay
      dicts, as in the package.
    * sending (``ChargePoint.call``): ``snake_to_camel_case(serialize_as_dict(payload))``, then
      ``Call(unique_id, payload.__class__.__name__, remove_nones(...)).to_json()`` (compact separators and
      the package's ``_DecimalEncoder``). ``call()`` would also validate the outgoing payload against the
      schema again; that second validation is left out (as with ``skip_schema_validation=True``), so that
      both paths validate once.
    """
    msg = unpack(text)
    _validate_payload(msg, OCPP_VERSION)
    payload = getattr(ocpp.v16.call, msg.action)(**camel_to_snake_case(msg.payload))
    camel_case_payload = snake_to_camel_case(serialize_as_dict(payload))
    call = OcppCall(
        unique_id=msg.unique_id, action=payload.__class__.__name__, payload=remove_nones(camel_case_payload)
    )
    result: str = call.to_json()
    return result


PATHS: dict[str, Callable[[str], str]] = {"ours": ours, "ocpp": theirs}


# --- checks before timing ---------------------------------------------------------------------------------

DATETIME_KEYS = frozenset({"timestamp", "startSchedule", "validFrom", "validTo"})


def _check_equivalent(expected: Any, actual: Any, where: str) -> None:
    """Raise ``AssertionError`` unless ``actual`` has the same keys and values as ``expected``.

    Date-times (by key) are compared as instants, so ``+01:00`` may come back as the same moment in ``Z``.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or expected.keys() != actual.keys():
            raise AssertionError(f"{where}: keys {sorted(expected)} != {actual!r}")
        for key, value in expected.items():
            if key in DATETIME_KEYS:
                if datetime.fromisoformat(value) != datetime.fromisoformat(actual[key]):
                    raise AssertionError(f"{where}.{key}: {value!r} != {actual[key]!r}")
            else:
                _check_equivalent(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            raise AssertionError(f"{where}: {expected!r} != {actual!r}")
        for index, (item, actual_item) in enumerate(zip(expected, actual, strict=True)):
            _check_equivalent(item, actual_item, f"{where}[{index}]")
    elif type(expected) is not type(actual) or expected != actual:
        raise AssertionError(f"{where}: {expected!r} != {actual!r}")


def check_paths() -> None:
    """Both paths accept the four frames, give back equivalent JSON and reject the invalid frames."""
    for name, path in PATHS.items():
        for kind, text in KINDS.items():
            _check_equivalent(json.loads(text), json.loads(path(text)), f"{name} {kind}")
        for what, text in INVALID.items():
            try:
                path(text)
            except (RemoteProtocolError, OCPPError):
                continue
            raise AssertionError(f"{name} accepted a frame with {what}")


# --- timing -----------------------------------------------------------------------------------------------


def _time_batch(path: Callable[[str], str], batch: list[str]) -> float:
    """Seconds to run ``path`` on every text of ``batch``."""
    start = time.perf_counter()
    for text in batch:
        path(text)
    return time.perf_counter() - start


def _calibrate(path: Callable[[str], str], texts: list[str], seconds: float) -> list[str]:
    """A batch of ``texts`` repeated so that ``path`` takes about ``seconds`` on it."""
    repeats = 1
    while True:
        elapsed = _time_batch(path, texts * repeats)
        if elapsed >= 0.05:
            break
        repeats *= 2
    return texts * max(1, round(repeats * seconds / elapsed))


def measure(rounds: int, seconds: float) -> dict[str, dict[str, list[float]]]:
    """Messages per second, per workload and path, one figure per round."""
    batches = {
        workload: {name: _calibrate(path, texts, seconds) for name, path in PATHS.items()}
        for workload, texts in WORKLOADS.items()
    }
    rates: dict[str, dict[str, list[float]]] = {
        workload: {name: [] for name in PATHS} for workload in WORKLOADS
    }
    names = list(PATHS)
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for workload in WORKLOADS:
            for name in order:
                batch = batches[workload][name]
                gc.collect()
                elapsed = _time_batch(PATHS[name], batch)
                rates[workload][name].append(len(batch) / elapsed)
        print(f"  round {round_number + 1}/{rounds} done", file=sys.stderr)
    return rates


# --- report -----------------------------------------------------------------------------------------------


def _versions() -> list[str]:
    packages = ", ".join(
        f"{package} {metadata.version(package)}"
        for package in ("ocpp-fleet", "ocpp", "attrs", "cattrs", "jsonschema")
    )
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        packages,
    ]


def report(rates: dict[str, dict[str, list[float]]], rounds: int, seconds: float) -> None:
    print()
    for line in _versions():
        print(line)
    print(f"{rounds} rounds of about {seconds} s per path and workload; median of the rounds")
    print()
    print("| message | ours (msg/s) | ocpp (msg/s) | ours/ocpp | range over rounds |")
    print("|---|---:|---:|---:|---:|")
    for workload, by_path in rates.items():
        ours_rate = statistics.median(by_path["ours"])
        their_rate = statistics.median(by_path["ocpp"])
        per_round = [a / b for a, b in zip(by_path["ours"], by_path["ocpp"], strict=True)]
        label = "**mix (the four in turn)**" if workload == MIX else workload
        print(
            f"| {label} | {ours_rate:,.0f} | {their_rate:,.0f} | {ours_rate / their_rate:.1f}x "
            f"| {min(per_round):.1f}x to {max(per_round):.1f}x |"
        )
    mix_ratio = statistics.median(rates[MIX]["ours"]) / statistics.median(rates[MIX]["ocpp"])
    verdict = "met" if mix_ratio >= TARGET_RATIO else "NOT met"
    print()
    print(f"target: ours >= {TARGET_RATIO:.0f}x the ocpp package on the mix: {verdict} ({mix_ratio:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(
            "Messages per second of 'decode + validate + encode' of four OCPP 1.6J CALL frames "
            "(MeterValues, StatusNotification, StartTransaction, SetChargingProfile) and of their mix, "
            "for our actors.ocpp codec and for the ocpp package, in interleaved rounds. "
            "Prints a Markdown table of the medians and the ratio ours/ocpp."
        ),
        epilog="Total time is about rounds x seconds x 10 (5 workloads, 2 paths), plus a few seconds.",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=7,
        help="interleaved rounds; each path runs every workload once per round (default: %(default)s)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=0.4,
        help="approximate duration of one timed batch, per path and workload (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds positive")

    check_paths()
    print(
        f"both paths accept the {len(KINDS)} frames, give equivalent JSON back and reject invalid ones; "
        f"timing for about {args.rounds * args.seconds * 2 * len(WORKLOADS):.0f} s",
        file=sys.stderr,
    )
    rates = measure(args.rounds, args.seconds)
    report(rates, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
