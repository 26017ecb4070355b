"""Chaos with real processes: 50 charge points charging, the Central System restarted and connections
dropped at random, random power losses, and the whole fleet process killed with SIGKILL and started again
(``chaos_runs.py`` says how and what is checked). The longer version is ``benchmarks/chaos.py``."""

from pathlib import Path

from chaos_runs import ChaosSettings, print_outcome, run_chaos

SETTINGS = ChaosSettings(charge_points=50, seconds=8.0, seed=1606, kills=1)


async def test_chaos_loses_nothing_and_every_message_is_accounted_for(tmp_path: Path) -> None:
    outcome = await run_chaos(tmp_path, SETTINGS)
    print_outcome(outcome)
    summary = outcome.summary
    # It did what it meant to: restarts, drops, a kill, PowerLoss stops, charging with MeterValues.
    assert outcome.restarts == SETTINGS.restarts * (1 + SETTINGS.kills)
    assert outcome.drops > 0
    assert [run.name for run in outcome.runs] == ["busy", "killed 1", "drain"]
    assert summary.stop_reasons.get("PowerLoss", 0) > 0, summary
    assert summary.transactions >= SETTINGS.charge_points, summary
    assert summary.meter_values > 0, summary
    assert {row.run for row in outcome.accounts} == {"busy", "drain"}
