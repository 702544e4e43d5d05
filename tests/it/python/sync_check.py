"""Drives the dashboard's sync panel end to end with headless Chromium (selenium), against a real hybrid
server on the Cloudflare stand-in: the replica's status as `/api/sync/status` gives it, pause and resume,
"Sync now", an event Cloudflare refuses (listed with its reason, then retried), and an outage; then, on a
local-only server, that the panel stays hidden and nothing fails.

Usage: sync_check.py BASE_URL API_KEY SCREENSHOT_DIR STANDIN_URL LOCAL_URL OTHER_DEVICE

BASE_URL is a hybrid server that requires API_KEY and has pulled the events of the device OTHER_DEVICE;
STANDIN_URL is the stand-in (its control API makes faults and the outage); LOCAL_URL is a sqlite_vec server
that requires the same key. It reuses dashboard_check.py's helpers; each step is a check that prints one
line, the first failure prints the browser console, saves SCREENSHOT_DIR/sync-failure.png and exits 1. The
panel's screenshots are saved as SCREENSHOT_DIR/panel-sync.png and panel-sync-outage.png.
"""

import json
import os
import sys
import time
import urllib.request

import dashboard_check as ui
from dashboard_check import api, check, click, content_hash, find, present, visible

SHOTS, STANDIN, LOCAL, OTHER = sys.argv[3], sys.argv[4].rstrip("/"), sys.argv[5].rstrip("/"), sys.argv[6]
ui.SCREENSHOT = os.path.join(SHOTS, "sync-failure.png")
RUN = ui.RUN


def shot(name):
    """Saves a screenshot of the page scrolled to the sync panel."""
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", find("#sync-panel"))
    path = os.path.join(SHOTS, f"panel-{name}.png")
    ui.driver.save_screenshot(path)
    print(f"ok   screenshot of {name} saved to {path}")


def control(path, body):
    """A call to the stand-in's control API."""
    request = urllib.request.Request(STANDIN + path, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=ui.WAIT_S) as response:
        response.read()


def status():
    return api("GET", "/api/sync/status")


def fact(key, attribute=None):
    """The text of the panel's fact `key`, or one of its attributes."""
    element = find(f'[data-testid="sync-{key}"]')
    return element.get_attribute(attribute) if attribute else element.text


def number(key, attribute):
    value = fact(key, attribute)
    return int(value) if value is not None and value.isdigit() else None


def shown_state():
    return find("#sync-panel").get_attribute("data-state")


def pending_shown(count):
    """The panel and the API both say `count` events wait to be pushed."""
    return status()["operations_pending"] == count and number("pending", "data-pending") == count


def store(content):
    api("POST", "/api/memories", {"content": content, "tags": ["sync-panel"]})
    return content_hash(content)


def result(success):
    box = find("#sync-result")
    return box.get_attribute("data-success") == str(success).lower() and box.text


def sync_now():
    """Presses "Sync now" once it can be pressed, and waits for its outcome."""
    check("Sync now can be pressed", lambda d: find("#sync-force").is_enabled())
    click("#sync-force")  # the page drops the last outcome as the click starts the sync
    check("the sync ends", lambda d: find("#sync-result").get_attribute("data-success") is not None
          and find("#sync-force").is_enabled())


def focused():
    return ui.driver.execute_script("return document.activeElement && document.activeElement.id")


def replica():
    """The panel shows what /api/sync/status says: backend, device, checkpoints, devices seen."""
    check("the sync panel is shown on the hybrid store", lambda d: visible("#sync-panel"))
    s = status()
    check("it names the backend and this device",
          lambda d: fact("backend") == s["backend"] == "hybrid" and fact("device") == s["device_id"])

    def numbers_match(_):
        s = status()
        assert s["operations_pending"] == s["log_seq"] - s["pushed_seq"], s
        return (number("pushed", "data-pushed") == s["pushed_seq"] and number("pushed", "data-log") == s["log_seq"]
                and f"#{s['pushed_seq']} of {s['log_seq']}" in fact("pushed")
                and number("pending", "data-pending") == s["operations_pending"])

    check("the pushed checkpoint, the log's end and the pending count match the status", numbers_match)
    check("it is running and Cloudflare is reachable, with no error and no failure",
          lambda d: shown_state() == "running" and fact("reachable", "data-reachable") == "true"
          and fact("last-error") == "none" and present('[data-testid="sync-no-failures"]'))
    check("the last sync is shown", lambda d: status()["last_sync_time"] > 0 and fact("last-sync") != "never")

    def devices(_):
        pulled = status()["devices"]
        rows = {r.get_attribute("data-device"): int(r.get_attribute("data-pulled"))
                for r in present('[data-testid="sync-device-row"]')}
        return OTHER in pulled and rows == pulled and pulled[OTHER] >= 1

    check("the devices seen are listed with how far each was pulled", devices)


def pause_and_resume():
    """Paused, a write stays pending (and shows so); resumed and synced, it is pushed."""
    check("only Pause is offered while running",
          lambda d: visible("#sync-pause") and not visible("#sync-resume"))
    click("#sync-pause")
    check("Pause makes the status say paused, and the panel too",
          lambda d: status()["paused"] is True and shown_state() == "paused" and "Paused" in fact("state"))
    check("Resume replaces Pause and takes the keyboard focus",
          lambda d: visible("#sync-resume") and not visible("#sync-pause") and focused() == "sync-resume")
    store(f"Written while the sync panel had paused replication (sync run {RUN}).")
    check("a write made while paused is pending, in the API and in the panel", lambda d: pending_shown(1))
    time.sleep(1.5)  # five pull intervals: a push that should not happen would have happened by now
    check("and it stays pending", lambda d: pending_shown(1) and "1 event" in fact("pending"))
    click("#sync-resume")
    check("Resume makes the status say running again",
          lambda d: status()["paused"] is False and shown_state() != "paused" and visible("#sync-pause"))
    sync_now()
    check("Sync now says what it did", lambda d: (result(True) or "").startswith("Synced "))
    check("the write is pushed: nothing pending, in the API and in the panel",
          lambda d: pending_shown(0) and number("pushed", "data-pushed") == status()["log_seq"])


def refused_event():
    """An event Cloudflare refuses is listed with the reason; Sync now retries it."""
    # Paused, so that only the forced round's push meets the fault (a pull of the worker's would take it).
    click("#sync-pause")
    check("paused again", lambda d: status()["paused"] is True and visible("#sync-resume"))
    control("/__standin/faults", {"rules": [{"path_contains": "/d1/", "status": 400, "times": 1}]})
    refused = store(f"Cloudflare refuses this one the first time (sync run {RUN}).")
    sync_now()

    def listed(_):
        failures = status()["failures"]
        items = present('[data-testid="sync-failure"]')
        return (len(failures) == 1 and failures[0]["content_hash"] == refused and len(items) == 1
                and items[0].get_attribute("data-hash") == refused
                and int(items[0].get_attribute("data-seq")) == failures[0]["seq"]
                and items[0].find_element(ui.By.CSS_SELECTOR, '[data-testid="sync-failure-reason"]').text
                == failures[0]["message"] and "400" in failures[0]["message"]
                and find('[data-testid="sync-failure-count"]').text == "(1)")

    check("the refused event is listed with Cloudflare's reason", listed)
    click("#sync-resume")
    check("resumed, a recorded failure shows as an error",
          lambda d: status()["status"] == "error" and shown_state() == "error" and "Error" in fact("state"))
    shot("sync")
    sync_now()
    check("Sync now retries it and says it synced it", lambda d: (result(True) or "").startswith("Synced 1 "))
    check("the failure is gone, in the API and in the panel",
          lambda d: status()["operations_failed"] == 0 and present('[data-testid="sync-no-failures"]')
          and shown_state() == "running")


def outage():
    """With Cloudflare away the panel says unreachable, with the error; back, Sync now catches up."""
    control("/__standin/offline", {"offline": True})
    store(f"Written while Cloudflare was away (sync run {RUN}).")

    def unreachable(_):
        s = status()
        return (s["cloudflare_reachable"] is False and s["last_error"] and shown_state() == "error"
                and fact("reachable", "data-reachable") == "false" and fact("reachable") == "unreachable"
                and fact("last-error") == s["last_error"] and number("pending", "data-pending") >= 1)

    check("the panel shows Cloudflare unreachable, the error and what waits", unreachable)
    shot("sync-outage")
    sync_now()
    check("Sync now during the outage says it failed",
          lambda d: (result(False) or "").startswith("Sync failed"))
    control("/__standin/offline", {"offline": False})
    sync_now()
    check("back online, Sync now pushes what waited", lambda d: (result(True) or "").startswith("Synced "))
    check("nothing is pending and Cloudflare is reachable again",
          lambda d: pending_shown(0) and fact("reachable", "data-reachable") == "true" and fact("last-error") == "none")


def local_only():
    """On a sqlite_vec store the panel stays hidden and the page logs no error."""
    ui.driver.get_log("browser")  # drops what the hybrid page logged
    ui.unlock(LOCAL)
    request = urllib.request.Request(LOCAL + "/api/sync/status", headers={"Authorization": f"Bearer {ui.API_KEY}"})
    with urllib.request.urlopen(request, timeout=ui.WAIT_S) as response:
        assert json.loads(response.read())["status"] == "not_hybrid", "the local server is not local-only"
    check("the sync panel read the status and stays hidden",
          lambda d: find("#sync-panel").get_attribute("data-replicating") == "false" and not visible("#sync-panel"))
    ui.check_no_console_errors()


def main():
    ui.open_unlocked()
    replica()
    pause_and_resume()
    refused_event()
    outage()
    local_only()
    ui.driver.quit()
    print(f"{ui.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
