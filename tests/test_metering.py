"""Metering data (specification 3.16): measurand lists, SampledValues, sampling and clock-aligned instants,
and the transactionData of StopTransaction (4.10), without any I/O."""

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.metering import (
    RESOLUTION,
    UNITS,
    MeasurandItem,
    Reading,
    TransactionData,
    build_meter_value,
    format_value,
    next_clock_aligned,
    next_sample_time,
    parse_measurands,
    register_reading_wh,
    register_wh,
    select,
)
from actors.ocpp import (
    Location,
    Measurand,
    MeterValue,
    MeterValuesRequest,
    Phase,
    ReadingContext,
    SampledValue,
    StopTransactionRequest,
    UnitOfMeasure,
    ValueFormat,
    encode,
)
from tests.oracle import errors

M = Measurand
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ENERGY = MeasurandItem(M.ENERGY_ACTIVE_IMPORT_REGISTER)
POWER = MeasurandItem(M.POWER_ACTIVE_IMPORT)
SOC = MeasurandItem(M.SOC)


def assert_valid(meter_value: MeterValue | None) -> None:
    """The official schema accepts a MeterValues.req carrying the MeterValue, as encoded."""
    assert meter_value is not None
    payload = encode(MeterValuesRequest(connector_id=1, meter_value=(meter_value,)))
    assert payload["meterValue"] == [encode_meter_value(meter_value)]
    assert errors("MeterValues", "req", payload) == []


def encode_meter_value(meter_value: MeterValue) -> dict[str, Any]:
    """The JSON of one MeterValue, as the codec writes it inside a message."""
    encoded: dict[str, Any] = encode(MeterValuesRequest(connector_id=1, meter_value=(meter_value,)))
    return encoded["meterValue"][0]  # type: ignore[no-any-return]


def meter(values: dict[MeasurandItem, float]) -> Callable[[MeasurandItem], Reading | None]:
    """A meter that reads the given values and nothing else."""
    return lambda item: Reading(values[item]) if item in values else None


def sampled(timestamp: datetime, context: ReadingContext, *values: tuple[MeasurandItem, float]) -> MeterValue:
    result = build_meter_value(timestamp, [item for item, _ in values], context, meter(dict(values)))
    assert result is not None
    return result


# --- parsing --------------------------------------------------------------------------------------------


def test_items_are_parsed_as_configured_with_optional_phases() -> None:
    assert parse_measurands(" Energy.Active.Import.Register, Voltage.L1,Current.Import.L2-N,SoC,SoC ") == [
        ENERGY,
        MeasurandItem(M.VOLTAGE, Phase.L1),
        MeasurandItem(M.CURRENT_IMPORT, Phase.L2_N),
        SOC,
        SOC,
    ]
    assert parse_measurands("") == []
    assert parse_measurands(" , ") == []


@pytest.mark.parametrize(
    "item", ["Energy", "Voltage.L4", "voltage", "Voltage.", ".L1", "L1", "Voltage.L1.L2"]
)
def test_an_invalid_item_is_a_bug(item: str) -> None:
    with pytest.raises(ValueError, match="not a measurand"):
        parse_measurands(f"SoC,{item}")


@given(st.lists(st.builds(MeasurandItem, st.sampled_from(Measurand), st.none() | st.sampled_from(Phase))))
def test_parsing_reads_back_what_str_writes(items: list[MeasurandItem]) -> None:
    assert parse_measurands(",".join(str(item) for item in items)) == items


# --- units, locations, values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, UnitOfMeasure.WH),
        (M.ENERGY_ACTIVE_EXPORT_INTERVAL, UnitOfMeasure.WH),
        (M.ENERGY_REACTIVE_IMPORT_REGISTER, UnitOfMeasure.VARH),
        (M.ENERGY_REACTIVE_EXPORT_INTERVAL, UnitOfMeasure.VARH),
        (M.POWER_ACTIVE_IMPORT, UnitOfMeasure.W),
        (M.POWER_OFFERED, UnitOfMeasure.W),
        (M.POWER_REACTIVE_EXPORT, UnitOfMeasure.VAR),
        (M.POWER_FACTOR, None),
        (M.CURRENT_IMPORT, UnitOfMeasure.A),
        (M.CURRENT_OFFERED, UnitOfMeasure.A),
        (M.VOLTAGE, UnitOfMeasure.V),
        (M.FREQUENCY, None),
        (M.TEMPERATURE, UnitOfMeasure.CELSIUS),
        (M.SOC, UnitOfMeasure.PERCENT),
        (M.RPM, None),
    ],
)
def test_each_measurand_has_its_unit(measurand: Measurand, unit: UnitOfMeasure | None) -> None:
    item = MeasurandItem(measurand)
    built = build_meter_value(T0, [item], ReadingContext.SAMPLE_PERIODIC, meter({item: 1.0}))
    assert built is not None
    assert built.sampled_value[0].unit == unit
    assert_valid(built)


def test_every_measurand_has_a_unit_entry_and_a_resolution() -> None:
    assert set(UNITS) == set(RESOLUTION) == set(Measurand)
    assert all(unit not in (UnitOfMeasure.CELCIUS, UnitOfMeasure.HERTZ) for unit in UNITS.values())


def test_a_sampled_value_says_everything_explicitly() -> None:
    voltage = MeasurandItem(M.VOLTAGE, Phase.L1_N)
    built = build_meter_value(
        T0, [ENERGY, voltage], ReadingContext.TRANSACTION_BEGIN, meter({ENERGY: 12345.4, voltage: 229.96})
    )
    assert built == MeterValue(
        timestamp=T0,
        sampled_value=(
            SampledValue(
                value="12345",
                context=ReadingContext.TRANSACTION_BEGIN,
                format=ValueFormat.RAW,
                measurand=M.ENERGY_ACTIVE_IMPORT_REGISTER,
                location=Location.OUTLET,
                unit=UnitOfMeasure.WH,
            ),
            SampledValue(
                value="230",
                context=ReadingContext.TRANSACTION_BEGIN,
                format=ValueFormat.RAW,
                measurand=M.VOLTAGE,
                phase=Phase.L1_N,
                location=Location.OUTLET,
                unit=UnitOfMeasure.V,
            ),
        ),
    )
    assert encode_meter_value(built)["sampledValue"][0] == {
        "value": "12345",
        "context": "Transaction.Begin",
        "format": "Raw",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": "Wh",
    }
    assert_valid(built)


@pytest.mark.parametrize(
    ("measurand", "given", "location"),
    [
        (M.SOC, None, Location.EV),
        (M.TEMPERATURE, None, Location.BODY),
        (M.CURRENT_IMPORT, None, Location.OUTLET),
        (M.CURRENT_IMPORT, Location.INLET, Location.INLET),
        (M.SOC, Location.OUTLET, Location.OUTLET),
        (M.TEMPERATURE, Location.CABLE, Location.CABLE),
    ],
)
def test_location_is_the_readings_or_the_measurands_usual_place(
    measurand: Measurand, given: Location | None, location: Location
) -> None:
    item = MeasurandItem(measurand)
    built = build_meter_value(T0, [item], ReadingContext.TRIGGER, lambda _: Reading(50.0, given))
    assert built is not None
    assert built.sampled_value[0].location is location
    assert_valid(built)


def test_unreadable_items_are_left_out_duplicates_read_once_and_nothing_read_is_none() -> None:
    calls: list[MeasurandItem] = []

    def read(item: MeasurandItem) -> Reading | None:
        calls.append(item)
        return Reading(7360.5) if item == POWER else None

    built = build_meter_value(T0, [SOC, POWER, SOC, POWER], ReadingContext.SAMPLE_CLOCK, read)
    assert built is not None
    assert [value.measurand for value in built.sampled_value] == [M.POWER_ACTIVE_IMPORT]
    assert calls == [SOC, POWER]
    assert build_meter_value(T0, [SOC], ReadingContext.SAMPLE_CLOCK, read) is None
    assert build_meter_value(T0, [], ReadingContext.SAMPLE_CLOCK, read) is None


@pytest.mark.parametrize(
    ("measurand", "value", "text"),
    [
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, 12345.0, "12345"),
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, 12345.4999, "12345"),
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, 12345.5, "12346"),
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, 12345.999999999998, "12346"),  # float noise below a whole Wh
        (M.ENERGY_REACTIVE_IMPORT_INTERVAL, 0.4, "0"),
        (M.ENERGY_ACTIVE_IMPORT_REGISTER, 1e22, "10000000000000000000000"),  # never an exponent
        (M.POWER_ACTIVE_IMPORT, 7360.5, "7360.5"),
        (M.POWER_ACTIVE_IMPORT, 7360.04, "7360"),
        (M.POWER_ACTIVE_IMPORT, 7400.0, "7400"),
        (M.POWER_ACTIVE_EXPORT, -1.25, "-1.3"),  # half away from zero
        (M.VOLTAGE, 229.96, "230"),
        (M.VOLTAGE, -0.01, "0"),  # never "-0"
        (M.CURRENT_IMPORT, 0.1 + 0.2, "0.3"),
        (M.CURRENT_IMPORT, 2.675, "2.68"),  # rounds the decimal we read, not the binary float below it
        (M.CURRENT_IMPORT, 16, "16"),
        (M.POWER_FACTOR, 0.987, "0.99"),
        (M.FREQUENCY, 50.004, "50"),
        (M.SOC, 80.05, "80.1"),
        (M.TEMPERATURE, 21.35, "21.4"),
        (M.RPM, 1499.5, "1500"),
        (M.POWER_ACTIVE_IMPORT, 5e-324, "0"),
    ],
)
def test_values_are_decimal_without_float_noise(measurand: Measurand, value: float, text: str) -> None:
    assert format_value(measurand, value) == text


@given(st.sampled_from(Measurand), st.floats(allow_nan=False, allow_infinity=False))
def test_a_value_is_a_plain_decimal_within_half_a_step(measurand: Measurand, value: float) -> None:
    text = format_value(measurand, value)
    assert "e" not in text.lower()
    assert text != "-0"
    whole, _, fraction = text.lstrip("-").partition(".")
    assert whole.isdigit()
    assert fraction == "" or fraction.isdigit()
    assert len(fraction) <= RESOLUTION[measurand]
    assert not fraction.endswith("0")
    assert abs(float(text) - value) <= 0.5 * 10 ** -RESOLUTION[measurand] * (1 + 1e-9) + abs(value) * 1e-15


@given(st.floats(0, 1e12), st.floats(0, 1e6))
def test_energy_registers_stay_monotonic_and_match_meter_stop(start: float, added: float) -> None:
    assert register_wh(start) <= register_wh(start + added)
    assert str(register_wh(start)) == format_value(M.ENERGY_ACTIVE_IMPORT_REGISTER, start)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_reading_is_refused_where_it_enters(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Reading(value)
    with pytest.raises(ValueError, match="finite"):
        format_value(M.VOLTAGE, value)


@given(
    st.lists(
        st.tuples(
            st.builds(MeasurandItem, st.sampled_from(Measurand), st.none() | st.sampled_from(Phase)),
            st.floats(-1e9, 1e9),
            st.none() | st.sampled_from(Location),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(ReadingContext),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
)
def test_every_meter_value_built_is_valid_for_the_official_schema(
    readings: list[tuple[MeasurandItem, float, Location | None]],
    context: ReadingContext,
    timestamp: datetime,
) -> None:
    by_item = {item: Reading(value, location) for item, value, location in readings}
    built = build_meter_value(timestamp, [item for item, _, _ in readings], context, by_item.get)
    assert built is not None
    assert len(built.sampled_value) == len(by_item)
    assert_valid(built)


# --- selecting part of a MeterValue ---------------------------------------------------------------------


def test_select_keeps_what_items_ask_for_and_an_item_without_phase_covers_all_phases() -> None:
    l1, l2 = MeasurandItem(M.CURRENT_IMPORT, Phase.L1), MeasurandItem(M.CURRENT_IMPORT, Phase.L2)
    full = sampled(T0, ReadingContext.SAMPLE_PERIODIC, (ENERGY, 10), (l1, 16), (l2, 15))
    assert select(full, [MeasurandItem(M.CURRENT_IMPORT)]) == MeterValue(T0, full.sampled_value[1:])
    assert select(full, [l2]) == MeterValue(T0, full.sampled_value[2:])
    assert select(full, [ENERGY, MeasurandItem(M.CURRENT_IMPORT)]) is full
    assert select(full, [SOC]) is None
    assert select(full, []) is None


def test_a_sampled_value_without_measurand_is_the_default_energy_register() -> None:
    bare = MeterValue(T0, (SampledValue(value="5"),))
    assert select(bare, [ENERGY]) is bare
    assert select(bare, [POWER]) is None


def test_the_register_reading_is_the_last_whole_meter_energy_register_in_wh() -> None:
    """Energy.Active.Import.Register (or no measurand: the default) of no phase, not at the EV or in the body,
    not signed data; kWh in Wh; the last one wins; ``None`` without one."""
    register = M.ENERGY_ACTIVE_IMPORT_REGISTER
    first = MeterValue(
        T0,
        (
            SampledValue(value="1200", measurand=register, unit=UnitOfMeasure.WH),
            SampledValue(value="400", measurand=register, phase=Phase.L1),
            SampledValue(value="9000", measurand=register, location=Location.EV),
            SampledValue(value="9000", measurand=register, location=Location.BODY),
            SampledValue(value="abcd", measurand=register, format=ValueFormat.SIGNED_DATA),
            SampledValue(value="7400", measurand=M.POWER_ACTIVE_IMPORT),
        ),
    )
    assert register_reading_wh([first]) == 1200
    later = MeterValue(T0, (SampledValue(value="1.5", measurand=register, unit=UnitOfMeasure.KWH),))
    assert register_reading_wh([first, later]) == 1500
    assert register_reading_wh([MeterValue(T0, (SampledValue(value="77", location=Location.OUTLET),))]) == 77
    assert (
        register_reading_wh([MeterValue(T0, (SampledValue(value="7400", measurand=M.POWER_ACTIVE_IMPORT),))])
        is None
    )
    assert register_reading_wh([]) is None


# --- sampling from the start of the transaction ---------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "interval", "now", "due"),
    [
        (100.0, 60, 100.0, 160.0),  # first sample one interval after the start
        (100.0, 60, 159.9, 160.0),
        (100.0, 60, 160.0, 220.0),  # on a sample instant: the next one
        (100.0, 60, 1000.0, 1060.0),
        (100.0, 60, 50.0, 160.0),  # before the start (should not happen): the first sample
        (0.1, 60, 60.1, 120.1),
        (0.1, 60, 0.1 + 60 * 3, 0.1 + 60 * 4),
        (5.0, 1, 5.5, 6.0),
        # On a sample instant where (now - start) / interval rounds to just below 237: still the next one.
        (763700.9951314895, 1416, 763700.9951314895 + 237 * 1416, 763700.9951314895 + 238 * 1416),
        # Just before a sample instant where (now - start) / interval rounds up to 654: that instant.
        (681246.1849926625, 1765, 1835556.1849926624, 681246.1849926625 + 654 * 1765),
    ],
)
def test_samples_are_due_every_interval_from_the_transaction_start(
    start: float, interval: int, now: float, due: float
) -> None:
    assert next_sample_time(start, interval, now) == due


def test_sample_interval_zero_means_never_and_negative_is_a_bug() -> None:
    assert next_sample_time(100.0, 0, 100.0) == math.inf
    with pytest.raises(ValueError, match="negative"):
        next_sample_time(100.0, -1, 100.0)


@given(st.floats(0, 1e7), st.integers(1, 86400), st.floats(0, 1e7))
def test_the_next_sample_is_the_first_grid_instant_after_now(
    start: float, interval: int, elapsed: float
) -> None:
    now = start + elapsed
    due = next_sample_time(start, interval, now)
    assert due > now
    steps = round((due - start) / interval)
    assert steps >= 1
    assert due == start + steps * interval
    assert steps == 1 or start + (steps - 1) * interval <= now


# --- clock-aligned instants -------------------------------------------------------------------------------


def at(hours: int, minutes: int = 0, seconds: int = 0, micro: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 3, day, hours, minutes, seconds, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "interval", "due"),
    [
        (at(12, 7, 30), 900, at(12, 15)),
        (at(12, 15), 900, at(12, 30)),  # exactly on a boundary: the next one
        (at(12, 14, 59, 999999), 900, at(12, 15)),
        (at(23, 50), 900, at(0, 0, day=2)),  # midnight crossing
        (at(12, 0, 1), 3600, at(13)),
        (at(23, 0), 3600, at(0, 0, day=2)),
        (at(0, 0), 7, at(0, 0, 7)),
        (at(0, 0, 6, 500000), 7, at(0, 0, 7)),
        (at(23, 59, 50), 7, at(23, 59, 54)),  # 12342 * 7 = 86394 s is the day's last 7 s instant
        (at(23, 59, 54), 7, at(0, 0, day=2)),  # then midnight, after 6 s: the series restarts
        (at(0, 0), 86400, at(0, 0, day=2)),
        (at(12), 86400, at(0, 0, day=2)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), 900, datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2028, 2, 28, 23, 45, tzinfo=UTC), 900, datetime(2028, 2, 29, tzinfo=UTC)),
    ],
)
def test_clock_aligned_instants(now: datetime, interval: int, due: datetime) -> None:
    assert next_clock_aligned(now, interval) == due


def test_clock_aligned_instants_are_on_the_utc_day_whatever_the_offset_of_now() -> None:
    paris = timezone(timedelta(hours=1))
    due = next_clock_aligned(datetime(2026, 3, 2, 0, 30, tzinfo=paris), 3600)
    assert due == at(0, 0, day=2)  # 23:30 UTC the day before, so the next hour is UTC midnight
    assert due is not None
    assert due.tzinfo is UTC


def test_clock_aligned_zero_means_off_and_bad_input_is_a_bug() -> None:
    assert next_clock_aligned(T0, 0) is None
    with pytest.raises(ValueError, match="negative"):
        next_clock_aligned(T0, -900)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_clock_aligned(datetime(2026, 3, 1), 900)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    ),
    st.integers(1, 86400) | st.sampled_from([7, 900, 3600, 86399, 86400]),
)
def test_the_next_clock_aligned_instant_is_the_next_point_of_the_day_grid(
    now: datetime, interval: int
) -> None:
    due = next_clock_aligned(now, interval)
    assert due is not None
    assert due.tzinfo is UTC
    assert now < due <= now + timedelta(seconds=interval)
    midnight = due.replace(hour=0, minute=0, second=0, microsecond=0)
    since_midnight = due - midnight
    assert since_midnight % timedelta(seconds=interval) == timedelta(0)  # on the grid (00:00 included)
    # No grid point lies between now and due: the one before due (the day's last, before a midnight) is not.
    step = timedelta(seconds=interval)
    previous = due - step if since_midnight else due - (timedelta(days=1) % step or step)
    assert previous <= now


# --- transactionData of StopTransaction -------------------------------------------------------------------


def test_transaction_data_keeps_begin_the_configured_values_in_between_and_end() -> None:
    data = TransactionData(sampled_items=[ENERGY], aligned_items=[POWER])
    begin = sampled(T0, ReadingContext.TRANSACTION_BEGIN, (ENERGY, 100), (POWER, 0), (SOC, 20))
    periodic = sampled(
        T0 + timedelta(minutes=1), ReadingContext.SAMPLE_PERIODIC, (ENERGY, 200), (POWER, 7000)
    )
    clock = sampled(T0 + timedelta(minutes=2), ReadingContext.SAMPLE_CLOCK, (ENERGY, 300), (POWER, 7100))
    nothing_wanted = sampled(T0 + timedelta(minutes=3), ReadingContext.SAMPLE_PERIODIC, (SOC, 40))
    end = sampled(T0 + timedelta(minutes=4), ReadingContext.TRANSACTION_END, (ENERGY, 400), (SOC, 60))
    assert data.values() is None
    for meter_value in (begin, periodic, nothing_wanted):
        data.add_sampled(meter_value)
    data.add_aligned(clock)
    data.add_sampled(end)

    values = data.values()
    assert values is not None
    assert [value.timestamp for value in values] == [T0 + timedelta(minutes=m) for m in (0, 1, 2, 4)]
    assert [[sv.measurand for sv in value.sampled_value] for value in values] == [
        [M.ENERGY_ACTIVE_IMPORT_REGISTER, M.POWER_ACTIVE_IMPORT],  # Begin: items of either list
        [M.ENERGY_ACTIVE_IMPORT_REGISTER],  # StopTxnSampledData only
        [M.POWER_ACTIVE_IMPORT],  # StopTxnAlignedData only
        [M.ENERGY_ACTIVE_IMPORT_REGISTER],  # End
    ]
    for value in values:
        assert_valid(value)


def test_no_stop_transaction_data_when_both_lists_are_empty() -> None:
    """3.16.5: empty StopTxnSampledData and StopTxnAlignedData mean no meter values in StopTransaction."""
    data = TransactionData(parse_measurands(""), parse_measurands(""))
    data.add_sampled(sampled(T0, ReadingContext.TRANSACTION_BEGIN, (ENERGY, 1)))
    data.add_sampled(sampled(T0, ReadingContext.SAMPLE_PERIODIC, (ENERGY, 2)))
    data.add_aligned(sampled(T0, ReadingContext.SAMPLE_CLOCK, (ENERGY, 3)))
    data.add_sampled(sampled(T0, ReadingContext.TRANSACTION_END, (ENERGY, 4)))
    assert data.values() is None


def test_transaction_data_is_bounded_dropping_the_oldest_values_in_between_never_begin_or_end() -> None:
    data = TransactionData([ENERGY], [ENERGY], max_values=5)
    data.add_sampled(sampled(T0, ReadingContext.TRANSACTION_BEGIN, (ENERGY, 0)))
    for minute in range(1, 11):
        add = data.add_sampled if minute % 2 else data.add_aligned
        context = ReadingContext.SAMPLE_PERIODIC if minute % 2 else ReadingContext.SAMPLE_CLOCK
        add(sampled(T0 + timedelta(minutes=minute), context, (ENERGY, minute)))
    values = data.values()
    assert values is not None
    assert [value.sampled_value[0].value for value in values] == ["0", "8", "9", "10"]
    assert data.dropped == 7

    data.add_sampled(sampled(T0 + timedelta(minutes=11), ReadingContext.TRANSACTION_END, (ENERGY, 11)))
    values = data.values()
    assert values is not None
    assert len(values) == 5
    assert [value.sampled_value[0].value for value in values] == ["0", "8", "9", "10", "11"]


@given(st.integers(2, 30), st.lists(st.sampled_from(["begin", "periodic", "clock", "end"]), max_size=80))
def test_transaction_data_never_exceeds_its_maximum_and_keeps_begin_and_end(
    maximum: int, events: list[str]
) -> None:
    data = TransactionData([ENERGY], [ENERGY], max_values=maximum)
    contexts = {
        "begin": ReadingContext.TRANSACTION_BEGIN,
        "periodic": ReadingContext.SAMPLE_PERIODIC,
        "clock": ReadingContext.SAMPLE_CLOCK,
        "end": ReadingContext.TRANSACTION_END,
    }
    for number, event in enumerate(events):
        meter_value = sampled(T0 + timedelta(seconds=number), contexts[event], (ENERGY, number))
        (data.add_aligned if event == "clock" else data.add_sampled)(meter_value)
    values = data.values() or ()
    assert len(values) <= maximum
    in_between = [number for number, event in enumerate(events) if event in ("periodic", "clock")]
    kept_between = in_between[max(0, len(in_between) - (maximum - 2)) :]
    expected = (
        [number for number, event in enumerate(events) if event == "begin"][-1:]
        + kept_between
        + [number for number, event in enumerate(events) if event == "end"][-1:]
    )
    assert [int(value.sampled_value[0].value) for value in values] == expected
    assert data.dropped == len(in_between) - len(kept_between)


def test_transaction_data_needs_room_for_begin_and_end() -> None:
    with pytest.raises(ValueError, match="2"):
        TransactionData([ENERGY], [], max_values=1)


def test_stop_transaction_with_transaction_data_is_valid_for_the_official_schema() -> None:
    data = TransactionData(
        parse_measurands("Energy.Active.Import.Register,SoC"), parse_measurands("Voltage.L1")
    )
    voltage = MeasurandItem(M.VOLTAGE, Phase.L1)
    data.add_sampled(sampled(T0, ReadingContext.TRANSACTION_BEGIN, (ENERGY, 10.4), (SOC, 20.04)))
    data.add_aligned(sampled(T0 + timedelta(minutes=15), ReadingContext.SAMPLE_CLOCK, (voltage, 231.26)))
    data.add_sampled(sampled(T0 + timedelta(minutes=20), ReadingContext.TRANSACTION_END, (ENERGY, 9000.6)))
    values = data.values()
    assert values is not None
    payload = encode(
        StopTransactionRequest(
            meter_stop=register_wh(9000.6),
            timestamp=T0 + timedelta(minutes=20),
            transaction_id=7,
            transaction_data=values,
        )
    )
    assert errors("StopTransaction", "req", payload) == []
    assert payload["meterStop"] == 9001
    assert payload["transactionData"][-1]["sampledValue"][0]["value"] == "9001"
