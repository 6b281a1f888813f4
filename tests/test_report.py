"""The HTML what-if report: contents, self-containment, and a check in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import simbatch
from simbatch.cli import main
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
    assert re.search(r"\d+\.\d \[-?\d[\d,.]*, -?\d[\d,.]*\]", page)  # intervals
    assert "affinity strands capacity" in page  # the dedicated variant's finding


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
    found = " ".join(simbatch.report.findings(simbatch.simulate(doc)))
    assert "Integration piles up:" in found and "still waited at the horizon" in found
    assert "affinity strands capacity" in found  # B idles while Integration queues on A
    assert "runs of Posting ended in Error" in found
    assert "Posting drifts:" in found
    assert "Posting missed its deadline" in found
