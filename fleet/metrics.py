"""Prometheus metrics of a running fleet (``ocpp-fleet run --metrics-port``).

prometheus-client's HTTP server runs in a thread of its own; at each scrape, :class:`FleetCollector` reads
the fleet's shared :class:`~actors.statistics.Statistics` (nothing is done per CALL for Prometheus). It copies
each dictionary and bucket list it reads in one step, which the GIL makes atomic, so a scrape never sees a
dictionary change size under it; figures of one scrape may be a few CALLs apart from each other.

Metrics (``action`` and ``code`` labels as OCPP spells them):

- ``ocpp_fleet_calls_sent_total``, ``ocpp_fleet_calls_answered_total``, ``ocpp_fleet_call_timeouts_total``,
  ``ocpp_fleet_calls_lost_total`` by ``action``; ``ocpp_fleet_call_errors_total`` by ``action`` and ``code``;
- ``ocpp_fleet_answer_seconds`` by ``action``: a histogram of the Central System's answer times with a
  bucket per doubling (``le`` = 2**-13 ... 2**13 seconds: bounds of the recorder's buckets, so the counts are
  exact);
- gauges ``ocpp_fleet_charge_points`` by ``state`` (``total``, ``started``, ``connected``, ``accepted``,
  ``offline``), ``ocpp_fleet_sessions_running``, ``ocpp_fleet_offline_queue_messages``,
  ``ocpp_fleet_offline_queue_high_water``;
- counters ``ocpp_fleet_sessions_started_total``, ``ocpp_fleet_sessions_stopped_total``,
  ``ocpp_fleet_energy_wh_total`` (of the stopped sessions and, up to their last MeterValues, of the running
  ones), ``ocpp_fleet_reconnects_total``.
"""

import contextlib
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from actors.statistics import BUCKETS_PER_DOUBLING, LARGEST_EXPONENT, SMALLEST_EXPONENT, Statistics
from fleet.progress import FleetSize

__all__ = ["FleetCollector", "serving_metrics"]

_LE = [
    (str(2.0**exponent), 1 + (exponent - SMALLEST_EXPONENT) * BUCKETS_PER_DOUBLING)
    for exponent in range(SMALLEST_EXPONENT, LARGEST_EXPONENT + 1)
]
"""Each ``le`` bound with how many of the recorder's buckets lie below it."""


class FleetCollector:
    """A custom Prometheus collector that reads a fleet's statistics at scrape time."""

    def __init__(self, statistics: Statistics, size: Callable[[], FleetSize]) -> None:
        self._statistics = statistics
        self._size = size

    def collect(self) -> Iterable[Metric]:
        statistics = self._statistics
        actions = list(statistics.actions.items())
        sent = CounterMetricFamily("ocpp_fleet_calls_sent", "Our CALLs sent", labels=["action"])
        answered = CounterMetricFamily(
            "ocpp_fleet_calls_answered", "Our CALLs answered with a CALLRESULT", labels=["action"]
        )
        errors = CounterMetricFamily(
            "ocpp_fleet_call_errors", "Our CALLs answered with a CALLERROR", labels=["action", "code"]
        )
        timeouts = CounterMetricFamily(
            "ocpp_fleet_call_timeouts", "Our CALLs not answered in time", labels=["action"]
        )
        lost = CounterMetricFamily(
            "ocpp_fleet_calls_lost", "Our CALLs whose connection ended before an answer", labels=["action"]
        )
        times = HistogramMetricFamily(
            "ocpp_fleet_answer_seconds", "Answer times of the Central System to our CALLs", labels=["action"]
        )
        for action, counts in actions:
            sent.add_metric([action], counts.sent)
            answered.add_metric([action], counts.answered)
            for code, count in list(counts.errors.items()):
                errors.add_metric([action, code], count)
            timeouts.add_metric([action], counts.timeouts)
            lost.add_metric([action], counts.lost)
            buckets = list(counts.times.buckets)
            total = sum(buckets)
            cumulative = [(le, float(sum(buckets[:below]))) for le, below in _LE]
            times.add_metric(
                [action], [*cumulative, ("+Inf", float(total))], sum_value=counts.times.sum_us / 1_000_000
            )
        yield from (sent, answered, errors, timeouts, lost, times)

        size = self._size()
        points = GaugeMetricFamily("ocpp_fleet_charge_points", "Charge points by state", labels=["state"])
        connected = statistics.connected
        for state, value in (
            ("total", size.charge_points),
            ("started", size.started),
            ("connected", connected),
            ("accepted", statistics.accepted),
            ("offline", max(0, size.started - connected)),
        ):
            points.add_metric([state], value)
        yield points
        yield GaugeMetricFamily(
            "ocpp_fleet_sessions_running", "Charging sessions running", value=statistics.sessions_running
        )
        yield GaugeMetricFamily(
            "ocpp_fleet_offline_queue_messages",
            "Transaction-related messages waiting in the offline queues",
            value=statistics.queue_depth,
        )
        yield GaugeMetricFamily(
            "ocpp_fleet_offline_queue_high_water",
            "The deepest offline queue of a charge point so far",
            value=statistics.queue_high_water,
        )
        yield CounterMetricFamily(
            "ocpp_fleet_sessions_started", "Charging sessions started", value=statistics.sessions_started
        )
        yield CounterMetricFamily(
            "ocpp_fleet_sessions_stopped", "Charging sessions stopped", value=statistics.sessions_stopped
        )
        yield CounterMetricFamily(
            "ocpp_fleet_energy_wh",
            "Energy delivered by the sessions (the running ones up to their last MeterValues), Wh",
            value=statistics.energy_wh,
        )
        yield CounterMetricFamily(
            "ocpp_fleet_reconnects",
            "Connections opened after a charge point's first",
            value=statistics.reconnects,
        )


@contextlib.contextmanager
def serving_metrics(collector: FleetCollector, host: str, port: int) -> Iterator[int]:
    """Serve ``collector`` at ``http://host:port/metrics`` in a thread while in the block; gives the port
    (useful with port 0). Leaving the block stops the server (it takes up to half a second)."""
    registry = CollectorRegistry()
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
