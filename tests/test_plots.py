"""Plots render under a non-interactive backend and stay readable at tenant scale."""

from __future__ import annotations

import io
import re

import matplotlib
import matplotlib.dates
import pytest
from matplotlib.figure import Figure

import simbatch
from simbatch.present import plots
from tests.conftest import SCENARIOS

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tenant() -> simbatch.Result:
    return simbatch.simulate(SCENARIOS / "tenant-week.yaml", seed=1)


def large() -> simbatch.Result:
    servers = {f"AOS{i:02d}": {"threads": 8} for i in range(50)}
    doc = {"start": "2026-01-05 00:00", "horizon": "2d", "polling": "1m", "servers": servers,
           "jobs": {"Load": {"arrivals": {"interval": {"exponential": "15s"}},
                             "deadline": "30m",
                             "tasks": {"Work": {"duration": {"exponential": "20m"}}}}}}
    return simbatch.simulate(doc, seed=2)


def render(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    return buffer.getvalue()


@pytest.mark.parametrize("draw", [plots.gantt, plots.utilization_heatmap, plots.wait_cdf,
                                  plots.backlog, plots.job_timelines])
def test_each_plot_renders(tenant: simbatch.Result, draw) -> None:  # type: ignore[no-untyped-def]
    fig = draw(tenant)
    assert isinstance(fig, Figure)
    png = render(fig)
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    assert fig.axes[0].get_title()


def test_plots_stay_readable_with_50_servers_and_10000_tasks() -> None:
    result = large()
    assert len(result.tasks) > 10_000
    for draw in (plots.gantt, plots.utilization_heatmap, plots.wait_cdf, plots.backlog,
                 plots.job_timelines):
        fig = draw(result)
        width, height = fig.get_size_inches()
        assert height <= 30 and width <= 12
        render(fig)
    # the heatmap has one row per server and one column per hour
    image = plots.utilization_heatmap(result).axes[0].images[0]
    assert image.get_array().shape == (50, 24)
    # thinned curves: no line keeps more than MAX_POINTS points
    for line in plots.wait_cdf(result).axes[0].get_lines():
        assert len(line.get_xdata()) <= plots.MAX_POINTS


def amsterdam_night() -> simbatch.Result:
    # Nightly is due 22:00 local (21:00 UTC) with a 06:00 deadline and runs 9 h: 3 h late.
    doc = {"name": "Amsterdam night", "start": "2026-01-05 18:00",
           "timezone": "Europe/Amsterdam", "horizon": "1d", "polling": 0,
           "scheduling": "priority", "servers": {"AOS1": {"threads": 2}},
           "jobs": {"Nightly": {"start": "2026-01-05 22:00", "deadline": "06:00",
                                "tasks": {"Plan": {"duration": "9h"}}},
                    "Daytime": {"start": "2026-01-06 10:00",
                                "tasks": {"T": {"duration": "1h"}}}}}
    return simbatch.simulate(doc)


def local(number: float) -> str:
    return plots._time(number).tz_convert("Europe/Amsterdam").strftime("%H:%M")


def test_gantt_axis_is_clock_time_in_the_scenario_zone() -> None:
    fig = plots.gantt(amsterdam_night())
    render(fig)
    ax = fig.axes[0]
    formatter = ax.xaxis.get_major_formatter()
    assert isinstance(formatter, matplotlib.dates.DateFormatter)
    assert str(formatter.tz) == "Europe/Amsterdam"
    assert isinstance(ax.xaxis.get_major_locator(), matplotlib.dates.AutoDateLocator)
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"\d\d:\d\d", text) for text in labels)
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert [local(t) for t in ticks] == labels[:len(ticks)]  # local clock, not UTC
    assert ax.get_xlabel().startswith("clock time (Europe/Amsterdam), Mon 05 Jan to Tue 06 Jan")
    assert "hours after" not in ax.get_xlabel()


def test_gantt_default_window_is_around_the_latest_deadline() -> None:
    result = amsterdam_night()
    begin, finish = plots.default_window(result)
    # from the run's due time to past its end (07:00) by a tenth of the span
    assert f"{begin:%H:%M} {finish:%H:%M}" == "22:00 07:54"
    ax = plots.gantt(result).axes[0]
    assert (local(ax.get_xlim()[0]), local(ax.get_xlim()[1])) == ("22:00", "07:54")
    assert any(line.get_label() == "deadline 06:00 (Nightly)" for line in ax.get_lines())


def test_gantt_default_window_without_deadlines_is_the_busiest_night() -> None:
    doc = {"start": "2026-01-05 12:00", "horizon": "2d", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 4}},
           "jobs": {"Light": {"start": "2026-01-05 20:00", "tasks": {"T": {"duration": "1h"}}},
                    "Heavy": {"start": "2026-01-06 23:00",
                              "tasks": {f"T{i}": {"duration": "3h"} for i in range(4)}}}}
    begin, finish = plots.default_window(simbatch.simulate(doc))
    assert f"{begin:%d %H:%M} {finish:%d %H:%M}" == "06 18:00 07 08:00"


def test_legends_sit_beside_the_bars() -> None:
    for fig in (plots.gantt(amsterdam_night()), plots.job_timelines(amsterdam_night())):
        render(fig)
        ax = fig.axes[0]
        legend = ax.get_legend()
        assert legend is not None
        assert legend.get_window_extent().x0 >= ax.get_window_extent().x1


def test_job_timelines_colour_only_the_late_part() -> None:
    ax = plots.job_timelines(amsterdam_night()).axes[0]
    red = [line for line in ax.get_lines() if line.get_color() == "C3" and len(
        line.get_xdata())]
    [late] = red
    start, end = late.get_xdata()
    assert (local(start), local(end)) == ("06:00", "07:00")  # deadline to end, not due to end
    blue = [line for line in ax.get_lines() if line.get_color() == "C0" and len(
        line.get_xdata())]
    assert (local(blue[0].get_xdata()[0]), local(blue[0].get_xdata()[1])) == ("22:00", "06:00")
    assert isinstance(ax.xaxis.get_major_formatter(), matplotlib.dates.DateFormatter)


def test_job_timelines_draw_a_failed_run_as_failed_even_when_it_ended_in_time() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "2h", "polling": 0,
           "servers": {"S": {"threads": 1}},
           "jobs": {"Night": {"deadline": "1h", "tasks": {"T": {"duration": "10m",
                                                                 "fail": 1}}}}}
    ax = plots.job_timelines(simbatch.simulate(doc)).axes[0]
    drawn = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert [line.get_color() for line in drawn] == ["C4"]  # not blue "in time"
    assert "failed (the job ended in Error)" in [t.get_text() for t in ax.get_legend().texts]


def test_backlog_has_an_hour_of_day_profile_and_cdf_states_its_scale(
        tenant: simbatch.Result) -> None:
    fig = plots.backlog(tenant)
    curve, profile = fig.axes[:2]
    assert curve.get_xlabel().startswith("clock time (")
    assert profile.get_xlabel().startswith("hour of the day (")
    assert profile.get_lines() and max(len(line.get_xdata()) for line in
                                       profile.get_lines()) <= 24
    by_hour = simbatch.results.metrics.backlog_by_hour(tenant)
    assert set(by_hour.hour) <= set(range(24)) and (by_hour.waiting_mean >= 0).all()
    assert (by_hour.waiting_max >= by_hour.waiting_mean - 1e-9).all()
    assert "symmetric log scale" in plots.wait_cdf(tenant).axes[0].get_xlabel()


def test_backlog_by_hour_matches_a_hand_computed_case() -> None:
    # one thread, two 30-minute tasks ready at 00:00: one waits for 30 minutes
    doc = {"start": "2026-01-05 00:00", "horizon": "2h", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 1}},
           "jobs": {"J": {"tasks": {"X": {"duration": "30m"}, "Y": {"duration": "30m"}}}}}
    rows = simbatch.results.metrics.backlog_by_hour(simbatch.simulate(doc)).set_index("hour")
    assert rows.loc[0, "waiting_mean"] == pytest.approx(0.5)
    assert rows.loc[0, "waiting_max"] == 1 and rows.loc[1, "waiting_max"] == 0


def test_the_back_test_plot_draws_from_plain_data() -> None:
    import pandas as pd

    hourly = pd.DataFrame({
        "group": ["all"] * 4 + ["Batch"] * 2, "hour": [22, 23, 22, 23, 22, 22],
        "metric": ["wait_mean", "wait_mean", "wait_p95", "wait_p95", "wait_mean", "wait_p95"],
        "actual": [60.0, 120.0, 300.0, 600.0, 30.0, 90.0],
        "simulated": [90.0, 120.0, 240.0, 660.0, 45.0, 60.0],
        "simulated_low": [60.0, 100.0, 200.0, 600.0, 30.0, 40.0],
        "simulated_high": [120.0, 140.0, 280.0, 720.0, 60.0, 80.0]})
    fig = plots.backtest_hourly_waits(hourly, mode="calibrated", scenario="Night",
                                      timezone="Europe/Berlin")
    ax = fig.axes[0]
    assert ax.get_title() == "Back-test (calibrated) on Night: job waits per hour, all"
    assert "Europe/Berlin" in ax.get_xlabel()
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "actual mean", "simulated mean", "actual p95", "simulated p95"]
    assert list(lines[0].get_xdata()) == [22, 23]
    assert list(lines[3].get_ydata()) == [4.0, 11.0]  # minutes
    assert len(ax.collections) == 1  # the simulated mean's band
    one = plots.backtest_hourly_waits(hourly, mode="replay", scenario="Night",
                                      timezone="UTC", group="Batch")
    assert [list(line.get_xdata()) for line in one.axes[0].get_lines()] == [[22]] * 4
    render(one)


def test_the_present_wing_imports_nothing_downstream() -> None:
    """Data flows results -> present; experiments, planning, history and the CLI call it."""
    import ast
    from pathlib import Path

    folder = Path(plots.__file__).parent
    downstream = ("simbatch.experiments", "simbatch.planning", "simbatch.history",
                  "simbatch.cli")
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name != "simbatch", f"{path.name} imports the package front"
                assert not name.startswith(downstream), f"{path.name} imports {name}"


# ---- names are drawn literally, never as mathtext ------------------------------------------

DOLLARS = "Post $ invoices $ adjustments"
BROKEN = "bad $\\foo{$ name"
MATH = {"name": BROKEN, "start": "2026-01-05 22:00", "horizon": "3h", "polling": 0,
        "scheduling": "priority", "servers": {"A$1$": {"threads": 1}},
        "groups": {DOLLARS: {}, BROKEN: {}},
        "jobs": {DOLLARS: {"group": BROKEN, "deadline": "30m",
                           "tasks": {BROKEN: {"duration": "45m"}}},
                 BROKEN: {"group": DOLLARS, "recurrence": {"every": "1h"},
                          "tasks": {DOLLARS: {"duration": "20m"}}}}}
"""A scenario whose names matplotlib would read as mathtext (the second one cannot parse)."""


def texts(fig: Figure) -> dict[str, bool]:
    """Every text of a drawn figure and whether matplotlib would parse it as mathtext."""
    from matplotlib.text import Text

    return {t.get_text(): t.get_parse_math() for t in fig.findobj(Text)
            if isinstance(t, Text) and t.get_text()}


def test_a_mathtext_name_breaks_a_plain_matplotlib_figure() -> None:
    fig = Figure()
    fig.add_subplot().set_title(BROKEN)
    with pytest.raises(ValueError, match="Unknown symbol"):
        render(fig)  # why the plots draw names literally


@pytest.mark.parametrize(("draw", "shown"), [
    (plots.gantt, {f"{BROKEN}: attempts by server and thread", "A$1$ #1", DOLLARS, BROKEN,
                   f"deadline 22:30 ({DOLLARS})"}),
    (plots.utilization_heatmap, {"A$1$"}),
    (plots.wait_cdf, {f"{BROKEN}: how long work waits", f"{DOLLARS} (2)", f"{BROKEN} (1)"}),
    (plots.backlog, {f"{BROKEN}: backlog per group", DOLLARS, BROKEN}),
    (plots.job_timelines, {f"{DOLLARS} #1", f"{BROKEN}: runs from due to end (red: the part"
                           " past the deadline)"}),
])
def test_names_are_drawn_literally(draw, shown: set[str]) -> None:  # type: ignore[no-untyped-def]
    result = simbatch.simulate(MATH)
    fig = draw(result)
    assert render(fig).startswith(b"\x89PNG")
    drawn = texts(fig)
    assert shown <= set(drawn)
    assert {text for text, math in drawn.items() if "$" in text and math} == set()


def test_back_test_and_plan_plots_draw_names_literally() -> None:
    from simbatch.history.backtest.replay import backtest
    from simbatch.history.read import History

    result = simbatch.simulate(MATH)
    tables = result.to_fo_history()
    history = History.from_tables(tables["BatchJobHistory"], tables["BatchHistory"])
    test = backtest(history, {key: value for key, value in MATH.items() if key != "jobs"})
    fig = test.plot()
    render(fig)
    assert f"Back-test (replay) on {BROKEN}: job waits per hour, all" in texts(fig)
    found = simbatch.plan(MATH, {"servers.A$1$.threads": range(1, 3)},
                          [f"wait_mean <= 2h for {BROKEN}"], replications=2, seed=1)
    fig = found.plot()
    render(fig)
    assert not any(math for text, math in texts(fig).items() if "$" in text)
    assert any(BROKEN in text for text in texts(fig))


def test_the_report_command_draws_mathtext_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from simbatch.cli.main import main

    scenario = tmp_path / "dollars.yaml"
    scenario.write_text(yaml.safe_dump(MATH), encoding="utf-8")
    assert main(["report", str(scenario), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 5
    assert f'alt="{BROKEN}: utilization' in page
