"""The dashboard with an OAuth session whose token lacks the admin scope (headless Chromium, selenium):
everything read and written works, and "Forget…" refuses clearly, leaving the memory as it was.

Usage: oauth_dashboard_check.py BASE_URL ACCESS_TOKEN SCREENSHOT_DIR

ACCESS_TOKEN is an OAuth access token with the scopes "read write"; the page is given it where it asks
for the key. Reuses dashboard_check.py's helpers; the first failure saves SCREENSHOT_DIR/oauth-failure.png.
"""

import os
import sys

import dashboard_check as ui
from dashboard_check import api, card, check, click, content_hash, find, type_into

SHOTS = sys.argv[3]
ui.SCREENSHOT = os.path.join(SHOTS, "oauth-failure.png")
CONTENT = f"The release checklist lives in the wiki (oauth run {ui.RUN})."


def main():
    ui.open_unlocked()
    hash_ = content_hash(CONTENT)
    api("POST", "/api/memories", {"content": CONTENT, "tags": ["oauth"]})
    check("an OAuth session lists memories", lambda d: ui.present(card(hash_)))
    click(card(hash_, '[data-testid="forget-btn"]'))
    check("the redaction dialog opens", lambda d: ui.dialog_open("redact-dialog"))
    type_into("#redact-confirm", hash_[:10])
    click("#redact-ok")
    check("without the admin scope the dialog refuses clearly",
          lambda d: find("#redact-error").is_displayed() and "admin scope" in find("#redact-error").text)
    path = os.path.join(SHOTS, "panel-redaction-refused.png")
    ui.driver.save_screenshot(path)
    print(f"ok   screenshot of the refusal saved to {path}")
    assert ui.dialog_open("redact-dialog"), "the dialog stays open"
    click("#redact-cancel")
    memory = api("GET", f"/api/memories/{hash_}")
    assert memory["content"] == CONTENT, memory
    history = api("GET", f"/api/memories/{hash_}/history")["history"]
    assert [e["kind"] for e in history] == ["stored"], history
    print("ok   the memory is untouched: its content is there and its history holds only the store")
    ui.driver.quit()
    print(f"{ui.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
