"""The HTML what-if report: contents, self-containment, and a check in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import simbatch
from simbatch.cli.main import main
from tests.conftest import SCENARIOS

PAIR = [SCENARIOS / "tenant-week.yaml", SCENARIOS / "tenant-week-dedicated-integration.yaml"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", *map(str, PAIR), "-n", "2", "--out", str(out)]) == 0
    return out


def test_report_contains_each_scenarios_figures(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    for path in PAIR:
        result = simbatch.simulate(path, seed=0)
        assert f"<h2>{path.stem}</h2>" in page
        assert f"{len(result.jobs):,}" in page  # job runs in the key figures
        for group in result.summary().group:
            assert f"<td>{group}</td>" in page
    assert "Differences from tenant-week" in page
    clock = r"-?(\d+d )?\d+:\d\d:\d\d"
    assert re.search(rf"{clock} \[{clock}, {clock}\]", page)  # intervals, in h:mm:ss
    assert "Affinity strands capacity in 2 groups" in page  # the dedicated variant's finding


def test_report_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert page.count("data:image/png;base64,") == 10  # five plots for each scenario


def chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_report_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    found = chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium and chromium-driver")
        pytest.skip("chromium and chromedriver are not installed here")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,2000",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        driver.get(report.as_uri())
        # 1. it loads with no console error
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        # 2. every image has rendered
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 10
        assert all(done and width > 0 for done, width in images)
        # 3. a screenshot is not blank
        shot = tmp_path / "shot.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    from matplotlib import image

    pixels = image.imread(shot)
    assert pixels.shape[0] > 500 and pixels.std() > 0.05
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50


def test_findings_name_the_pitfalls_with_numbers() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "6h", "polling": "1m",
           "scheduling": "affinity", "servers": {"A": {"threads": 1}, "B": {"threads": 4}},
           "groups": {"Integration": {"servers": ["A"]}, "default": {"servers": ["B"]}},
           "jobs": {
               "Import": {"group": "Integration", "arrivals": {"interval": "2m"},
                          "tasks": {"Read": {"duration": "5m"}}},
               "Posting": {"recurrence": {"every": "1h", "anchor": "end"}, "deadline": "20m",
                           "tasks": {"Post": {"duration": "30m", "fail": 1}}}}}
    found = simbatch.present.report.findings(simbatch.simulate(doc))
    kinds = [f.split(" in ")[0].split(":")[0] for f in found]
    assert kinds == ["Affinity strands capacity", "Piling up", "1 job left runs",
                     "Drifting schedules",
                     "Missed deadlines"]
    text = " ".join(found)
    # B idles while Integration queues on A, and the suggestion says which server to add
    assert "Integration: 100% of its" in text and "while B was 100% idle" in text
    assert "bind Integration to B as well (groups.Integration.servers: [A, B])" in text
    assert "Integration (107 waiting at Mon 05:56, 107 still waiting at the horizon)" in text
    assert "1 job left runs in Error: Posting (4);" in text
    assert "Drifting schedules in 1 job" in text and "Posting (1:30:32 off its slots" in text
    assert "Missed deadlines in 1 job: Posting (4 of 4 judged runs, by up to 0:10:32)" in text


def test_findings_are_grouped_by_kind() -> None:
    # three jobs fail a different number of times; one finding names them all, worst first
    doc = {"start": "2026-01-05 00:00", "horizon": "6h", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 8}},
           "jobs": {name: {"recurrence": {"every": every},
                           "tasks": {"T": {"duration": "1m", "fail": 1}}}
                    for name, every in (("C", "6h"), ("A", "15m"), ("B", "3h"))}}
    found = simbatch.present.report.findings(simbatch.simulate(doc))
    assert found == ["3 jobs left runs in Error: A (24), B (2), C (1); failed jobs left in"
                     " Error mean downstream work misses its data."]


def test_findings_flag_long_waits_nothing_else_explains() -> None:
    # one thread, six 10-minute tasks at once: the queue drains, nothing is stranded
    doc = {"start": "2026-01-05 00:00", "horizon": "6h", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 1}},
           "jobs": {"J": {"tasks": {f"T{i}": {"duration": "10m"} for i in range(6)}}}}
    [found] = simbatch.present.report.findings(simbatch.simulate(doc))
    assert found == ("Long waits in 1 group: default: p95 0:47:30, mean 0:25:00 over 6"
                     " attempts (100% every thread busy). Suggestion: default: add threads"
                     " to its servers, or move heavy work apart in time.")


def test_report_deadline_section_on_an_open_run(tmp_path: Path) -> None:
    # Nightly is still running at the horizon, before its 06:00 deadline: undetermined.
    # Quick misses its 30m deadline. The page must not say every run met its deadline.
    doc = {"name": "Open night", "start": "2026-01-05 22:00", "horizon": "6h",
           "polling": 0, "scheduling": "priority", "servers": {"A": {"threads": 2}},
           "jobs": {"Nightly": {"deadline": "06:00", "tasks": {"T": {"duration": "7h"}}},
                    "Quick": {"deadline": "30m", "tasks": {"T": {"duration": "45m"}}}}}
    result = simbatch.simulate(doc)
    page = simbatch.write_report({"night": result}, tmp_path / "r.html").read_text()
    assert "Every run met its deadline" not in page
    assert "<h3>Deadlines missed: 1 of 1 judged runs (100.0%), 1 undetermined</h3>" in page
    assert "<td>Tue 2026-01-06 06:00</td>" in page  # Nightly's deadline, in clock time
    assert "<td>undetermined</td>" in page and "open at the horizon" in page
    assert "Undetermined deadlines in 1 job" in page and "Nightly (1)" in page
    figures = simbatch.present.report.key_figures({"night": result}).set_index("figure")["night"]
    assert figures["deadline misses"] == "1 of 1 judged runs (100.0%), 1 undetermined"
