"""Drives the dashboard's consolidation panel end to end with headless Chromium (selenium), against a real
server whose store holds real-looking notes (imported by the Rust test before it starts this): the
schedule's state, a preview that lists every action with why and changes nothing, a run (after a
confirmation) whose archived memories leave the list and show in the panel with their reasons, a memory of
an action opened in its history, and an archived memory brought back.

Usage: consolidation_check.py BASE_URL API_KEY SCREENSHOT_DIR EXPIRED_HASH

EXPIRED_HASH is a memory the monthly run archives as an expired temporary note. It reuses
dashboard_check.py's helpers; each step is a check that prints one line, the first failure prints the
browser console, saves SCREENSHOT_DIR/consolidation-failure.png and exits 1. The panel's screenshot is
saved as SCREENSHOT_DIR/panel-consolidation.png.
"""

import os
import sys
import urllib.error

import dashboard_check as ui
from dashboard_check import api, check, click, find, present, visible

SHOTS, EXPIRED = sys.argv[3], sys.argv[4]
ui.SCREENSHOT = os.path.join(SHOTS, "consolidation-failure.png")


def shot(name):
    """Saves a screenshot of the page scrolled to the consolidation panel."""
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", find("#consolidation-panel"))
    path = os.path.join(SHOTS, f"panel-{name}.png")
    ui.driver.save_screenshot(path)
    print(f"ok   screenshot of {name} saved to {path}")


def last_seq():
    return api("GET", "/api/log?limit=1")["last_seq"]


def actions(kind=None):
    items = present('[data-testid="consolidation-action"]')
    return [a for a in items if kind is None or a.get_attribute("data-action") == kind]


def result():
    box = find("#consolidation-result")
    return box.get_attribute("data-dry-run"), box.text


def archived_items():
    return {i.get_attribute("data-hash"): i for i in present('[data-testid="archived-item"]')}


def memory_exists(hash_):
    try:
        api("GET", f"/api/memories/{hash_}")
        return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


def preview():
    """A preview lists the actions a dry run reports, with their reasons, and appends nothing."""
    check("the panel is shown and says scheduled runs are off",
          lambda d: visible("#consolidation-panel")
          and find("#consolidation-schedule").get_attribute("data-enabled") == "false"
          and "off" in find("#consolidation-schedule").text)
    check("nothing is archived yet",
          lambda d: present('[data-testid="archived-none"]') and find("#archived-count").text == "(0)")
    before = last_seq()
    ui.Select(find("#consolidation-horizon")).select_by_value("monthly")
    click("#consolidation-preview")
    expected = api("POST", "/api/consolidation/trigger", {"time_horizon": "monthly", "dry_run": True})["report"]

    def listed(_):
        dry, text = result()
        return (dry == "true" and text.startswith("Preview of the monthly run")
                and f"would archive {expected['memories_archived']}" in text
                and len(actions()) == len(expected["actions"]) > 0)

    check("the preview says what the run would do and lists each action", listed)
    check("the kinds listed are the report's, in its order",
          lambda d: [a.get_attribute("data-action") for a in actions()] == [a["action"] for a in expected["actions"]])

    def expired_reason(_):
        for item in actions("archive"):
            hashes = [b.get_attribute("data-hash") for b in item.find_elements(ui.By.CSS_SELECTOR, "[data-hash]")]
            if EXPIRED in hashes:
                return "expired_temporary" in item.find_element(ui.By.CSS_SELECTOR, '[data-testid="consolidation-reason"]').text
        return False

    check("the expired note's archive says why", expired_reason)
    check("each summary says its coherence", lambda d: actions("summarise") and all(
        "coherence" in a.find_element(ui.By.CSS_SELECTOR, '[data-testid="consolidation-reason"]').text
        for a in actions("summarise")))
    check("a preview changes nothing", lambda d: last_seq() == before and memory_exists(EXPIRED))


def run():
    """Run now asks first; the run archives, and the panel and the list show it."""
    click("#consolidation-run")
    check("Run now asks for a confirmation", lambda d: ui.dialog_open("confirm-dialog"))
    click("#confirm-ok")
    check("the run's outcome is said, with its events",
          lambda d: result()[0] == "false" and result()[1].startswith("Ran monthly") and "events" in result()[1])
    total = api("GET", "/api/memories/archived?page_size=100")["total"]
    check("the archived memories are listed with their reasons, as the API has them",
          lambda d: total > 0 and len(archived_items()) == total and find("#archived-count").text == f"({total})"
          and "expired_temporary" in archived_items()[EXPIRED].find_element(
              ui.By.CSS_SELECTOR, '[data-testid="archived-reason"]').text)
    check("an archived memory is out of the memory list", lambda d: not present(ui.card(EXPIRED)))
    check("and out of the API", lambda d: not memory_exists(EXPIRED))
    shot("consolidation")


def open_from_action():
    """A memory named by an action opens its history, which shows the run's event."""
    click('[data-testid="consolidation-action"][data-action="summarise"] [data-hash]')
    check("its history opens", lambda d: ui.dialog_open("history-dialog") and present('[data-testid="history-event"]'))
    click("#history-close")
    check("and closes", lambda d: not ui.dialog_open("history-dialog"))


def open_archived():
    """An archived memory opens its history too, which says it is archived."""
    click(f'[data-testid="archived-item"][data-hash="{EXPIRED}"] [data-hash="{EXPIRED}"]')
    check("an archived memory's history opens and says archived",
          lambda d: ui.dialog_open("history-dialog") and find("#history-state").get_attribute("data-state") == "archived"
          and present(ui.history_event("archived")) and not find("#relations").is_displayed())
    click("#history-close")
    check("and closes", lambda d: not ui.dialog_open("history-dialog"))


def bring_back():
    """Bring back: the memory is live again, in the list, and out of the archived ones."""
    click(f'[data-testid="archived-item"][data-hash="{EXPIRED}"] [data-testid="archived-unarchive"]')
    check("it says it brought the memory back", lambda d: "Brought back" in (ui.notice("success") or ""))
    check("the memory is live again", lambda d: memory_exists(EXPIRED))
    check("it left the archived list", lambda d: EXPIRED not in archived_items())
    check("and is in the memory list again", lambda d: present(ui.card(EXPIRED)))
    ui.check_no_console_errors()


def main():
    ui.open_unlocked()
    preview()
    run()
    open_from_action()
    open_archived()
    bring_back()
    ui.driver.quit()
    print(f"{ui.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
