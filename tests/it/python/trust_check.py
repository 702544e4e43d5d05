"""Drives the dashboard's trust panels end to end with headless Chromium (selenium): a memory's timeline,
the event log, backups, restore with preview, time travel and redaction.

Usage: trust_check.py BASE_URL API_KEY SCREENSHOT_DIR

The server must require API_KEY (which has the admin scope). It reuses dashboard_check.py's helpers; each
step is a check that prints one line, the first failure prints the browser console, saves
SCREENSHOT_DIR/trust-failure.png and exits 1. Each panel's screenshot is saved as SCREENSHOT_DIR/panel-NAME.png.
Waits are explicit (at most 15 s each).
"""

import os
import sys

import dashboard_check as ui
from dashboard_check import api, card, check, click, content_hash, find, present, type_into, visible

SHOTS = sys.argv[3]
ui.SCREENSHOT = os.path.join(SHOTS, "trust-failure.png")
RUN = ui.RUN
TIMELINE = f"The on-call rota lives in the ops wiki (trust run {RUN})."


def shot(name, css):
    """Saves a screenshot of the page scrolled to the panel `css`."""
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", find(css))
    path = os.path.join(SHOTS, f"panel-{name}.png")
    ui.driver.save_screenshot(path)
    print(f"ok   screenshot of {name} saved to {path}")


def diffs():
    return present('[data-testid="history-event"][data-kind="updated"] [data-testid="history-diff"]')


def diff_row(index, field):
    return diffs()[index].find_element(ui.By.CSS_SELECTOR, f'tr[data-field="{field}"]').text


def timeline():
    """A memory updated twice shows two diffs, each with the field's value before and after."""
    hash_ = content_hash(TIMELINE)
    api("POST", "/api/memories", {"content": TIMELINE, "tags": ["ops"], "memory_type": "note"})
    api("PUT", f"/api/memories/{hash_}", {"tags": ["ops", "rota"]})
    api("PUT", f"/api/memories/{hash_}", {"memory_type": "reference", "metadata": {"owner": "sre"}})
    check("the memory updated twice is in the list", lambda d: present(card(hash_)))
    click(card(hash_, '[data-testid="history-btn"]'))
    check("its timeline shows two diffs", lambda d: ui.dialog_open("history-dialog") and len(diffs()) == 2)
    check("the first diff shows the tags before and after", lambda d: diff_row(0, "tags") == "tags ops ops, rota")
    check("the second diff shows the type and the metadata before and after",
          lambda d: diff_row(1, "type") == "type note reference"
          and diff_row(1, "metadata.owner") == 'metadata.owner ∅ "sre"')
    check("each event says who, through which interface and which version",
          lambda d: [e.text for e in present('[data-testid="history-who"]')]
          == ["v1 · via http · by api_key", "v2 · via http · by api_key", "v3 · via http · by api_key"])
    shot("timeline", "#history-dialog")
    click("#history-close")
    check("the timeline closes", lambda d: not ui.dialog_open("history-dialog"))
    return hash_


def main():
    ui.driver = ui.start_browser()
    ui.driver.get(ui.BASE_URL + "/")
    check("the page asks for the API key", lambda d: ui.dialog_open("auth-dialog") and visible("#api-key-input"))
    type_into("#api-key-input", ui.API_KEY)
    click("#api-key-submit")
    check("the key is accepted and the live stream connects",
          lambda d: not ui.dialog_open("auth-dialog") and find("#sse-status").get_attribute("data-state") == "live")
    timeline()
    ui.driver.quit()
    print(f"{ui.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
