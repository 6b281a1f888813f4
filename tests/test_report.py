"""The HTML what-if report: contents, self-containment, and a check in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
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


def open_chromium(tmp_path: Path) -> Any:
    """A headless Debian chromium under selenium, with a fresh profile and no background
    traffic (skipped where it is not installed, failed on CI)."""
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
    return webdriver.Chrome(service=Service(found[1]), options=options)


def test_report_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    driver = open_chromium(tmp_path)
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
    # every Posting run ends in Error (fail: 1): a failed night is a miss, never a met one
    assert ("Missed deadlines in 1 job: Posting (4 of 4 judged runs failed: the job ended in"
            " Error, so its chain did not complete)") in text


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


def test_report_prints_deadline_spans_in_h_mm_ss(tmp_path: Path) -> None:
    # Late ends 974 s after its 30m deadline: the page reads the summary's seconds columns.
    doc = {"name": "Late night", "start": "2026-01-05 00:00", "horizon": "2h",
           "polling": 0, "scheduling": "priority", "servers": {"A": {"threads": 1}},
           "jobs": {"Late": {"deadline": "30m", "tasks": {"T": {"duration": "46m14s"}}}}}
    page = simbatch.write_report({"night": simbatch.simulate(doc)},
                                 tmp_path / "r.html").read_text()
    assert "days" not in page
    # the summary's row: judged, missed, failed, miss share, undetermined, lateness p50,
    # p95, smallest margin, latest finish after due
    assert re.search(r"<td>Late</td>\s*<td>1</td>\s*<td>1</td>\s*<td>0</td>\s*"
                     r"<td>100.0%</td>\s*<td>0</td>\s*<td>0:16:14</td>\s*<td>0:16:14</td>\s*"
                     r"<td>-0:16:14</td>\s*<td>0:46:14 after due \(Mon 00:46\)</td>", page)


# ---- pages from templates: names are escaped, one layout ----------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE = {"name": SCRIPT, "start": "2026-01-05 22:00", "horizon": "6h", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 1}},
           "groups": {SCRIPT: {}, IMG: {}},
           "jobs": {SCRIPT: {"group": IMG, "deadline": "30m",
                             "tasks": {"T": {"duration": "45m"}}},
                    IMG: {"group": SCRIPT, "recurrence": {"every": "1h"},
                          "tasks": {IMG: {"duration": "20m", "fail": 1}}}}}
"""Jobs, groups, a task and the scenario named to break out of HTML."""


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_a_safe_page(page: str) -> None:
    """One page from the base layout, in which the hostile names are text, never tags."""
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1 and page.count("</html>") == 1
    assert page.count("<body>") == 1 and page.count("<style>") == 1
    assert SCRIPT not in page and IMG not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    parser = _Tags()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert names.count("html") == 1 and "script" not in names
    assert not any("onerror" in attrs for _, attrs in parser.tags)
    assert all(attrs.get("src", "").startswith("data:image/png;base64,")
               for tag, attrs in parser.tags if tag == "img")


def test_the_what_if_page_escapes_names(tmp_path: Path) -> None:
    result = simbatch.simulate(HOSTILE)
    assert set(result.summary().group) == {SCRIPT, IMG}
    page = simbatch.write_report({IMG: result, SCRIPT: result},
                                 tmp_path / "r.html").read_text(encoding="utf-8")
    assert_a_safe_page(page)
    assert "<h2>&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</h2>" in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page  # a group, a job


def test_the_back_test_page_escapes_names(tmp_path: Path) -> None:
    from simbatch.history.backtest.replay import backtest
    from simbatch.history.read import History
    from simbatch.present.backtest_report import backtest_page

    tables = simbatch.simulate(HOSTILE).to_fo_history()
    history = History.from_tables(tables["BatchJobHistory"], tables["BatchHistory"])
    topology = {key: value for key, value in HOSTILE.items() if key != "jobs"}
    test = backtest(history, topology)
    page = test.write_report(tmp_path / "b.html", IMG).read_text(encoding="utf-8")
    assert_a_safe_page(page)
    # from plain data, with the names in every table and note
    by_group = test.errors("group").replace({"group": {"default": IMG}})
    by_hour = test.errors("hour").replace({"group": {"default": SCRIPT}})
    by_job = by_group.assign(job=SCRIPT)[["job", *by_group.columns]]
    scenario = test.scenario
    page = backtest_page(scenario=scenario.name, start=scenario.start, end=scenario.end,
                         timezone=scenario.timezone, mode="calibrated", graph=SCRIPT,
                         job_runs=len(test.runs), task_runs=len(test.tasks), replications=3,
                         seed=1, notes=[IMG, SCRIPT], by_group=by_group, by_hour=by_hour,
                         by_job=by_job, history=SCRIPT)
    assert_a_safe_page(page)
    assert "<td>&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</td>" in page
    assert "<div class=\"finding\">&lt;script&gt;alert(1)&lt;/script&gt;</div>" in page
    assert "<h2>Daily jobs</h2>" in page


def test_the_plan_page_escapes_names(tmp_path: Path) -> None:
    from simbatch.present.pages import image
    from simbatch.present.plan_report import plan_page

    found = simbatch.plan(HOSTILE, {"servers.A.threads": range(1, 4)},
                          [f"wait_mean <= 1h for {IMG}"], replications=2, seed=1)
    page = found.write_report(tmp_path / "p.html").read_text(encoding="utf-8")
    assert_a_safe_page(page)
    page = plan_page(scenario=found.scenario.name, met=found.met, choice=found.choice,
                     base={"servers.A.threads": 1}, runs=found.runs, budget=found.budget,
                     tried=len(found.evaluations), grid=found.grid, seed=found.seed,
                     confidence=found.confidence, notes=[IMG], estimates=found.estimates,
                     plot=image(found.plot()), replications=2,
                     differences=pd.DataFrame({"metric": ["wait_mean_s"], "key": [SCRIPT],
                                               "mean": [-1.0], "ci_low": [-2.0],
                                               "ci_high": [0.0]}),
                     candidates=found.evaluations)
    assert_a_safe_page(page)
    assert "<h1>Capacity plan: &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in page
    assert "The targets are met: servers.A.threads = " in page
    assert "<h2>Cost against the targets</h2>" in page


def test_the_report_has_one_layout(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1
    assert page.count("<h1>") == 1 and page.count("<style>") == 1


class _Cells(HTMLParser):
    """The header and cell texts of a ``to_html`` table."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("th", "td"):
            self.inside, self.text = True, ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td"):
            self.inside = False
            self.cells.append(self.text.strip())

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"name": ["a", "<b>", None], "n": [1, 2, 3], "ok": [True, False, True],
                  "share": [0.5, 0.25, np.nan], "value": [1.0, 2.0, 3.0],
                  "tiny": [1e-9, 0.5, 1.0], "huge": [1.5e9, 2.0, np.nan],
                  "exact": [0.1234567, -2.5, 100.0],
                  "when": pd.to_datetime(["2026-01-05 22:00", "2026-01-06 01:30", None]
                                         ).tz_localize("Europe/Berlin"),
                  "took": pd.to_timedelta(["5min", "1h", None])}),
    pd.DataFrame({"empty": pd.Series([], dtype=float), "text": pd.Series([], dtype=str)}),
    pd.DataFrame({"group": pd.Categorical(["x", "y", "x"]), "count": pd.array([1, None, 3]),
                  "text": pd.Series(["a", None, "c"], dtype=str),
                  "share": pd.array([0.5, None, 0.125]), "big": [-2.5e7, 1.0, 3.0]}),
])
def test_tables_show_cells_as_pandas_does(frame: pd.DataFrame) -> None:
    from simbatch.present.pages import table

    parsed = _Cells()
    parsed.feed(frame.to_html(index=False, border=0, na_rep="-"))
    shown = table(frame)
    assert [*shown.columns, *(cell for row in shown.rows for cell in row)] == parsed.cells


# ---- numbers people read on the pages (issue 21) ---------------------------------------------

def _tables(page: str) -> list[list[list[str]]]:
    """Each table of a page as rows of cell texts (the header row first)."""
    import html

    return [[[html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]
             for row in re.findall(r"<tr.*?</tr>", table, re.S)]
            for table in re.findall(r"<table.*?</table>", page, re.S)]


RAW = re.compile(r"\d[eE][+-]\d\d|\d\.\d{3,}")
"""A number as a machine writes it: 2.07e+04, 41.666667."""
CLOCK = re.compile(r"-?(?:\d+d )?\d+:\d\d:\d\d")


def test_the_plan_page_shows_each_target_in_its_unit(tmp_path: Path) -> None:
    from simbatch.present.pages import image
    from simbatch.present.plan_report import plan_page

    scenario = {"name": "Units", "start": "2026-01-05 00:00", "horizon": "10h", "polling": 0,
                "servers": {"A": {"threads": 1}},
                "jobs": {"Night": {"deadline": "3h", "tasks": {
                    "T": {"duration": "1h"}, "U": {"duration": "1h"}}}}}
    found = simbatch.plan(scenario, {"servers.A.threads": range(1, 3)},
                          ["wait_mean <= 1h for all", "deadline_miss <= 50% for Night"],
                          replications=2, seed=1)
    differences = pd.DataFrame({"metric": ["wait_mean_s", "deadline_miss"],
                                "key": ["all", "Night"], "mean": [-1800.0, -0.25],
                                "ci_low": [-3600.0, -0.5], "ci_high": [0.0, 0.0]})
    page = plan_page(scenario="Units", met=found.met, choice=found.choice,
                     base={"servers.A.threads": 1}, runs=found.runs, budget=found.budget,
                     tried=len(found.evaluations), grid=found.grid, seed=found.seed,
                     confidence=found.confidence, notes=[], estimates=found.estimates,
                     plot=image(found.plot()), replications=2, differences=differences,
                     candidates=found.evaluations)
    targets, diff, candidates = _tables(page)
    assert targets[0] == ["target", "n", "estimate", "bound", "met"]
    wait, share = targets[1], targets[2]
    assert re.fullmatch(rf"{CLOCK.pattern}( \[{CLOCK.pattern}, {CLOCK.pattern}\])?", wait[2])
    assert CLOCK.fullmatch(wait[3]) and re.fullmatch(r"\d+\.\d%", share[3])
    assert "%" in share[2] and ":" not in share[2]
    assert diff[1:] == [["wait, mean", "all", "-0:30:00 [-1:00:00, 0:00:00]"],
                        ["deadline miss share", "Night", "-25.0% [-50.0%, 0.0%]"]]
    assert "times in h:mm:ss, shares in percent" in page
    header = candidates[0]
    for target in ("wait_mean <= 1h for all", "deadline_miss <= 50% for Night"):
        assert f"{target}: estimate" in header and f"{target}: bound" in header
    assert not any(c.startswith(("mean_", "bound_", "ci_low_")) for c in header)
    bound = header.index("wait_mean <= 1h for all: bound")
    assert all(CLOCK.fullmatch(row[bound]) for row in candidates[1:])
    assert not RAW.search(" ".join(" ".join(r) for t in (targets, diff, candidates) for r in t))
    # the page Plan.write_report writes reads the same way
    written = found.write_report(tmp_path / "p.html").read_text(encoding="utf-8")
    assert _tables(written)[0] == targets


def test_the_back_test_page_shows_times_and_percent(tmp_path: Path) -> None:
    from simbatch.present.backtest_report import error_rows

    frame = pd.DataFrame({
        "group": ["all"], "metric": ["wait_mean"], "actual": [21.73], "simulated": [15.21],
        "error": [-0.3], "abs_error": [6.52], "simulated_low": [9.39],
        "simulated_high": [21.03], "predicted_low": [4.2], "predicted_high": [26.5],
        "within": [True], "n_actual": [1638.0], "n_simulated": [1600.5], "replications": [3]})
    shown = error_rows(frame)
    assert list(shown.columns) == [
        "group", "metric", "actual", "simulated", "error", "abs_error", "simulated (95% CI)",
        "predicted (95% PI)", "within", "n_actual", "n_simulated", "replications"]
    assert shown.iloc[0].tolist() == [
        "all", "wait_mean", "0:00:22", "0:00:15", "-30.0%", "0:00:07", "[0:00:09, 0:00:21]",
        "[0:00:04, 0:00:27]", True, "1,638", "1,601", "3"]


# ---- a script in a name does not run in a browser -----------------------------------------

PWN = "<script>window.__pwned=1</script>"
PWN_IMG = '<img src=x onerror="window.__pwned=2">'
PWNING = {"name": PWN, "start": "2026-01-05 22:00", "horizon": "3h", "polling": 0,
          "scheduling": "priority", "servers": {"A": {"threads": 1}},
          "groups": {PWN_IMG: {}},
          "jobs": {PWN: {"group": PWN_IMG, "deadline": "30m",
                         "tasks": {PWN: {"duration": "45m"}}},
                   PWN_IMG: {"tasks": {"T": {"duration": "20m", "fail": 1}}}}}
"""A scenario, a job, a task and a group whose names would set ``window.__pwned`` if run."""


def test_a_script_in_a_name_does_not_run_in_a_browser(tmp_path: Path) -> None:
    from simbatch.history.backtest.replay import backtest
    from simbatch.history.read import History

    result = simbatch.simulate(PWNING)
    pages = [simbatch.write_report({PWN: result}, tmp_path / "whatif.html")]
    tables = result.to_fo_history()
    history = History.from_tables(tables["BatchJobHistory"], tables["BatchHistory"])
    topology = {key: value for key, value in PWNING.items() if key != "jobs"}
    pages.append(backtest(history, topology).write_report(tmp_path / "backtest.html", PWN))
    found = simbatch.plan(PWNING, {"servers.A.threads": range(1, 3)},
                          [f"wait_mean <= 2h for {PWN_IMG}"], replications=2, seed=1)
    pages.append(found.write_report(tmp_path / "plan.html"))
    driver = open_chromium(tmp_path)
    try:
        for page in pages:
            driver.get(page.as_uri())
            # nothing ran: neither the script element nor the image's onerror
            assert driver.execute_script("return typeof window.__pwned") == "undefined"
            assert driver.execute_script(
                "return document.querySelectorAll('script, body img:not([src^=\"data:\"])')"
                ".length") == 0
            # the names show as text: in the title, the heading and the page's text
            assert PWN in driver.title
            assert PWN in driver.find_element("tag name", "h1").text
            text = driver.find_element("tag name", "body").text
            assert PWN in text and (PWN_IMG in text or page.name == "backtest.html")
            alts = driver.execute_script(
                "return Array.from(document.images).map(i => i.alt)")
            assert any(PWN in alt for alt in alts) or page.name != "whatif.html"
    finally:
        driver.quit()
