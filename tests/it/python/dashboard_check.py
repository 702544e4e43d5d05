"""Drives the browser dashboard end to end with headless Chromium (selenium).

Usage: dashboard_check.py BASE_URL API_KEY SCREENSHOT_PATH

The server must require API_KEY. Every step is a check that prints one line; the first failure
prints the browser console, saves the screenshot and exits 1. Waits are explicit (at most 15 s each).
"""

import hashlib
import json
import re
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE_URL, API_KEY, SCREENSHOT = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
WAIT_S = 15
RUN = f"{time.time_ns():x}"  # makes the contents unique, so reruns on one store do not hit duplicates
FIRST = f"The billing service moved to PostgreSQL 16 for its ledger tables (dashboard run {RUN})."
# Markup in content is untrusted: it must show as text and never run.
SECOND = f"Deploys go blue-green on <b>Fridays</b><img src=x onerror=window.__xss=1> (dashboard run {RUN})."
RETRIED = (StaleElementReferenceException, ElementClickInterceptedException, ElementNotInteractableException)

passed = 0
driver = None


def content_hash(content):
    return hashlib.sha256(content.strip().lower().encode()).hexdigest()


def fail(what, detail):
    print(f"FAIL {what}: {detail}")
    if driver is not None:
        print("--- browser console ---")
        for entry in driver.get_log("browser"):
            print(f"{entry['level']} {entry['message']}")
        driver.save_screenshot(SCREENSHOT)
        print(f"screenshot: {SCREENSHOT}")
        driver.quit()
    sys.exit(1)


def check(what, predicate):
    """Waits until predicate(driver) is truthy; prints one line; returns its value."""
    global passed
    try:
        value = WebDriverWait(driver, WAIT_S, ignored_exceptions=RETRIED).until(predicate)
    except TimeoutException:
        fail(what, f"not true after {WAIT_S} s")
    except AssertionError as error:
        fail(what, str(error))
    passed += 1
    print(f"ok   {what}")
    return value


def find(css):
    return driver.find_element(By.CSS_SELECTOR, css)


def present(css):
    return driver.find_elements(By.CSS_SELECTOR, css)


def visible(css):
    return [e for e in present(css) if e.is_displayed()]


def click(css):
    """Clicks once the element exists and takes the click (the list re-renders on live events)."""
    def attempt(_):
        element = find(css)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()
        return True

    WebDriverWait(driver, WAIT_S, ignored_exceptions=RETRIED).until(attempt)


def type_into(css, text):
    field = find(css)
    field.clear()
    field.send_keys(text)


def search(mode, query):
    Select(find("#search-mode")).select_by_value(mode)
    type_into("#search-query", query)
    click("#search-submit")


def card(hash_, inner=""):
    """The selector of a memory's card, or of something inside it."""
    return f'[data-testid="memory-card"][data-hash="{hash_}"]' + (f" {inner}" if inner else "")


def feed_item(kind, hash_):
    return f'[data-testid="feed-item"][data-kind="{kind}"][data-hash="{hash_}"]'


def history_event(kind):
    return f'[data-testid="history-event"][data-kind="{kind}"]'


def dialog_open(id_):
    return find(f"#{id_}").get_attribute("open") is not None


def notice(kind):
    box = find("#notice")
    return box.is_displayed() and box.get_attribute("data-kind") == kind and box.text


def chips(hash_):
    return [chip.text for chip in present(card(hash_, '[data-testid="tag-chip"]'))]


def stat(name):
    text = find(f'[data-testid="stat-{name}"]').text.replace(",", "")
    return int(text) if text.isdigit() else None


def console_errors(expected=lambda message: False):
    """The browser console's errors since the last read, but the 401s (how the page learns it needs the key)
    and those `expected` accepts."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and "status of 401" not in e["message"] and not expected(e["message"])]


def check_no_console_errors(what="the page logged no error", expected=lambda message: False):
    """A check that the console holds no error (see console_errors)."""
    def clean(_):
        errors = console_errors(expected)
        assert not errors, f"the console has errors: {errors}"
        return True

    check(what, clean)


def api(method, path, body=None):
    request = urllib.request.Request(
        BASE_URL + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.loads(response.read())


def start_browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def open_unlocked():
    """Starts the browser on the dashboard and unlocks it (see unlock)."""
    global driver
    driver = start_browser()
    unlock(BASE_URL)


def unlock(url):
    """Opens the dashboard at `url`, gives it the key when it asks, then waits for the live stream."""
    driver.get(url + "/")
    check("the page asks for the API key", lambda d: dialog_open("auth-dialog") and visible("#api-key-input"))
    type_into("#api-key-input", API_KEY)
    click("#api-key-submit")
    check("the key is accepted and the live stream connects",
          lambda d: not dialog_open("auth-dialog") and find("#sse-status").get_attribute("data-state") == "live")


def main():
    global driver
    driver = start_browser()
    first, second = content_hash(FIRST), content_hash(SECOND)

    driver.get(BASE_URL + "/")
    check("the page asks for the API key", lambda d: dialog_open("auth-dialog") and visible("#api-key-input"))
    type_into("#api-key-input", API_KEY)
    click("#api-key-submit")
    check("the key is accepted and the form closes", lambda d: not dialog_open("auth-dialog"))
    check("the live stream connects", lambda d: find("#sse-status").get_attribute("data-state") == "live")
    check("the forget-key button shows", lambda d: find("#forget-key").is_displayed())

    type_into("#store-content", FIRST)
    type_into("#store-tags", "dashboard-test, database")
    type_into("#store-type", "decision")
    click("#store-submit")
    check("storing through the form says it stored", lambda d: "Stored" in (notice("success") or ""))
    check("the stored memory is in the list", lambda d: FIRST in find(card(first)).text)

    type_into("#store-content", FIRST)
    click("#store-submit")
    check("storing it again shows a duplicate notice", lambda d: "Duplicate" in (notice("warn") or ""))
    type_into("#store-content", "")

    search("semantic", "which database does billing use")
    check("semantic search finds the memory",
          lambda d: find("#list-title").text == "Search results" and present(card(first)))
    score = card(first, '[data-testid="memory-score"]')
    check("the result shows its score and relevance reason",
          lambda d: re.match(r"0\.\d{3}\s+Semantic similarity", find(score).text))
    search("keyword", RUN)
    check("keyword search finds it by a word of its text",
          lambda d: "keyword" in find("#list-summary").text and present(card(first)))
    click("#search-clear")
    check("back to the list", lambda d: find("#list-title").text == "Memories" and present(card(first)))

    click(card(first, '[data-testid="edit-btn"]'))
    check("the edit dialog opens", lambda d: dialog_open("edit-dialog"))
    type_into("#edit-tags", "dashboard-test, database, edited")
    click("#edit-save")
    check("the edited tags show on the card", lambda d: "edited" in chips(first))

    click(card(first, '[data-testid="history-btn"]'))
    check("the history lists a stored event",
          lambda d: dialog_open("history-dialog") and present(history_event("stored")))
    check("the history lists an updated event naming the new tag",
          lambda d: "edited" in find(history_event("updated")).text)
    click("#history-close")
    check("the history closes", lambda d: not dialog_open("history-dialog"))

    driver.execute_script("window.__noReload = true;")
    api("POST", "/api/memories", {"content": SECOND, "tags": ["dashboard-test", "ops"], "memory_type": "note"})
    check("a memory stored over HTTP appears without a reload", lambda d: present(card(second)))
    check("the page was not reloaded", lambda d: d.execute_script("return window.__noReload === true;"))
    check("markup in content shows as text and does not run",
          lambda d: "<b>Fridays</b><img" in find(card(second)).text
          and not present(card(second, "img")) and not present(card(second, "b"))
          and d.execute_script("return window.__xss === undefined;"))
    check("the live feed shows the new memory", lambda d: present(feed_item("memory_stored", second)))

    click(card(second, '[data-testid="tag-chip"]:last-child'))
    check("clicking a tag filters the list by it",
          lambda d: find("#filter-tags").get_attribute("value") == "ops"
          and present(card(second)) and not present(card(first)))
    click("#filter-reset")
    check("resetting the filter shows both again", lambda d: present(card(first)) and present(card(second)))

    api("POST", f"/api/memories/{first}/relations",
        {"target_hash": second, "relationship_type": "causes", "similarity": 0.8, "reason": "dashboard test"})
    click(card(first, '[data-testid="history-btn"]'))
    relation = f'[data-testid="relation"][data-other="{second}"]'
    check("the history shows the memory's relation: its type, which way, its reason",
          lambda d: dialog_open("history-dialog") and "→ causes" in find(relation).text
          and "dashboard test" in find(relation).text)
    check("the history lists the related event", lambda d: "causes" in find(history_event("related")).text)
    check("the small graph draws both memories and the relation",
          lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="graph-node"]')) == 2
          and present('[data-testid="graph-edge"][data-type="causes"]'))
    click(relation + ' [data-testid="relation-open"]')
    check("following the relation opens the other memory's history, which shows it from its end",
          lambda d: find("#history-hash").get_attribute("title") == second
          and "← causes" in find(f'[data-testid="relation"][data-other="{first}"]').text)
    click("#history-close")

    click(card(first, '[data-testid="delete-btn"]'))
    check("delete asks for confirmation in the page",
          lambda d: dialog_open("confirm-dialog") and FIRST[:40] in find("#confirm-message").text)
    click("#confirm-cancel")
    check("cancel keeps the memory", lambda d: not dialog_open("confirm-dialog") and present(card(first)))
    click(card(first, '[data-testid="delete-btn"]'))
    check("the confirmation opens again", lambda d: dialog_open("confirm-dialog"))
    click("#confirm-ok")
    check("the deleted memory disappears from the list", lambda d: not present(card(first)))

    click(feed_item("memory_deleted", first) + ' [data-testid="feed-history"]')
    check("the history of the deleted memory offers a restore",
          lambda d: dialog_open("history-dialog") and present(history_event("deleted"))
          and find("#history-restore").is_displayed())
    click("#history-restore")
    check("the restored memory is back in the list", lambda d: present(card(first)))
    click("#history-close")

    api("POST", f"/api/memories/{second}/redact", {"reason": "dashboard test"})
    check("a redaction removes the memory from the list", lambda d: not present(card(second)))
    click(feed_item("memory_redacted", second) + ' [data-testid="feed-history"]')
    check("the history of a redacted memory shows the tombstone and the erased events, and no restore",
          lambda d: dialog_open("history-dialog") and present(history_event("redacted"))
          and "erased by a later redaction" in find(history_event("stored")).text
          and "redacted" in find("#history-state").text and not find("#history-restore").is_displayed())
    click("#history-close")

    check("the stats panel shows the memory count", lambda d: (stat("total_memories") or 0) >= 1)
    check("the growth chart is drawn", lambda d: present('[data-testid="growth-svg"] rect.bar'))
    check("the tag chart lists the test tag", lambda d: "dashboard-test" in find('[data-testid="tags-svg"]').text)

    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(SCREENSHOT)
    print(f"ok   screenshot saved to {SCREENSHOT}")
    driver.quit()
    print(f"{passed} passed, 0 failed")


if __name__ == "__main__":
    main()
