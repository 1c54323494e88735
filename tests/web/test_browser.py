"""The dashboard in a real browser (Debian's chromium, driven by Selenium through Debian's
chromedriver) against a sandbox run: ticker, worker and web processes on the sandbox world."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from contracts import Keys, RunOutcome, TaskName
from process.embedded import free_port
from tests.cli.test_end_to_end import start_sandbox
from tests.support import ROOT, runs, spawn, stop, wait_until

pytestmark = pytest.mark.slow

TOKEN = "browser-test-operator-token"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1500,1200",
]
#: set to a path (docs/dashboard.png) to keep the screenshot the test takes
SCREENSHOT = os.environ.get("DASHBOARD_SCREENSHOT")


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def status_json(env: dict) -> dict[str, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "status", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=60,
    )
    return {s["task"]: s for s in json.loads(out.stdout)["tasks"]}


def page_fields(driver) -> dict[str, dict[str, str]]:
    """Every task row's fields, read in one script (the page refreshes itself under the test)."""
    return driver.execute_script("""
        const rows = {};
        for (const row of document.querySelectorAll("tr[id^=task-]")) {
          const fields = {};
          for (const cell of row.querySelectorAll("[data-field]")) fields[cell.dataset.field] = cell.textContent.trim();
          rows[row.dataset.task] = fields;
        }
        return rows;""")


def test_the_dashboard_against_a_sandbox_run(client, redis_url, tmp_path):
    sandbox, sandbox_env = start_sandbox()
    port = free_port()
    env = {
        **sandbox_env,
        "REDIS_URL": redis_url,
        "RELEASE_ID": "browser",
        "TIME4VPS_MANAGE_ALL": "true",
        "SCHEDULE_GITHUB_SYNC": "2s",
        "SCHEDULE_HEALTH_CHECKER": "3s",
        "SCHEDULE_SERVER_SYNC": "2s",
        "SCHEDULE_RAG_SUMMARIZER": "off",
        "SCHEDULE_PROVISIONER_TRIGGER": "startup",
        "PORT": str(port),
        "WEB_HOST": "127.0.0.1",
        "DASHBOARD_TOKEN": TOKEN,
        "WEB_REFRESH_S": "2",
    }
    logs = tmp_path / "processes.log"
    ticker = spawn("from ticker.__main__ import main; raise SystemExit(main())", env, log=logs)
    worker = spawn("from actors.__main__ import main; raise SystemExit(main())", env, log=logs)
    web = spawn("from scheduler.web.__main__ import main; raise SystemExit(main())", env, log=logs)
    url = f"http://127.0.0.1:{port}/"
    driver = None
    try:
        for task in (TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER):
            wait_until(
                lambda task=task: sum(r.outcome is RunOutcome.SUCCEEDED for r in runs(client, task)) >= 3, timeout=90
            )
        driver = browser()
        driver.get(url)
        assert driver.title == "scheduler"
        assert len(driver.find_elements(By.CSS_SELECTOR, ".timeline .run")) >= 9
        assert {e.get_attribute("data-role") for e in driver.find_elements(By.CSS_SELECTOR, "tr[data-role]")} == {
            "ticker",
            "worker",
            "web",
        }
        driver.find_element(By.CSS_SELECTOR, ".timeline[data-task=github_sync] .run.succeeded").click()
        detail = driver.find_element(By.ID, "run-detail-body").text
        assert "counters:" in detail and "pages" in detail
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        if SCREENSHOT:
            shutil.copy(tmp_path / "dashboard.png", ROOT / SCREENSHOT)

        # freeze the world, then the page's numbers are `scheduler status --json`'s
        stop(ticker)
        stop(worker)
        wait_until(lambda: not any(client.exists(Keys.lock(t)) for t in TaskName), timeout=15)
        driver.get(url)
        status = status_json(env)
        fields = page_fields(driver)
        for task in TaskName:
            shown, expected = fields[task.value], status[task.value]
            last = expected["last_run"]
            assert shown["consecutive_failures"] == str(expected["consecutive_failures"]), task
            assert shown["succeeded"] == str(expected["succeeded"]), task
            assert shown["failed"] == str(expected["failed"]), task
            assert shown["expired"] == str(expected["expired"]), task
            assert shown["missed"] == str(expected["missed"]), task
            skipped = expected["skipped_locked"] + expected["skipped_paused"] + expected["skipped_done"]
            assert shown["skipped"] == str(skipped), task
            assert shown["last_outcome"] == (last["outcome"] if last else "-"), task
            assert shown["lock_holder"] == (expected["lock_holder"] or "-"), task

        # a pause without the token is refused and changes nothing; with it, the task is paused
        driver.find_element(By.CSS_SELECTOR, "button[data-action=pause][data-task=server_sync]").click()
        wait_until(lambda: "refused" in driver.find_element(By.ID, "action-result").text, timeout=10)
        assert "no operator token" in driver.find_element(By.ID, "action-result").text
        assert not client.sismember(Keys.PAUSED, "server_sync") and not status_json(env)["server_sync"]["paused"]
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "button[data-action=pause][data-task=server_sync]").click()
        wait_until(lambda: "server_sync paused" in driver.find_element(By.ID, "action-result").text, timeout=10)
        assert status_json(env)["server_sync"]["paused"] is True
        wait_until(
            lambda: driver.find_element(By.ID, "task-server_sync").get_attribute("data-paused") == "true", timeout=10
        )

        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        refused = [e for e in errors if "/actions/" in e["message"] and "401" in e["message"]]
        # the refused pause's 401 is the one error expected; nothing else may be reported
        assert errors == refused and len(refused) == 1, errors
    finally:
        if driver is not None:
            driver.quit()
        for process in (ticker, worker, web):
            stop(process)
        sandbox.terminate()
        sandbox.wait(10)
