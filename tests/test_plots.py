"""Plots render under a non-interactive backend and stay readable at tenant scale."""

from __future__ import annotations

import io

import matplotlib
import pytest
from matplotlib.figure import Figure

import simbatch
from simbatch import plots
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
