"""Drives the dashboard's trust panels end to end with headless Chromium (selenium): a memory's timeline,
the event log, backups, restore with preview, time travel and redaction from a memory's card.

Usage: trust_check.py BASE_URL API_KEY SCREENSHOT_DIR

The server must require API_KEY (which has the admin scope). It reuses dashboard_check.py's helpers; each
step is a check that prints one line, the first failure prints the browser console, saves
SCREENSHOT_DIR/trust-failure.png and exits 1. Each panel's screenshot is saved as SCREENSHOT_DIR/panel-NAME.png.
Waits are explicit (at most 15 s each).
"""

import os
import sys

import dashboard_check as ui
from selenium.webdriver.common.keys import Keys
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


def log_rows():
    """The log panel's rows as (seq, kind, hash, interface)."""
    return [(int(r.get_attribute("data-seq")), r.get_attribute("data-kind"), r.get_attribute("data-hash"),
             r.get_attribute("data-interface")) for r in present('[data-testid="log-row"]')]


def select(css, value):
    ui.Select(find(css)).select_by_value(value)


def event_log(hash_):
    """The log panel pages the log newest first, filters it, and follows it live."""
    last = api("GET", "/api/log?limit=1")["last_seq"]
    check("the log panel shows the newest events first",
          lambda d: [r[0] for r in log_rows()] == list(range(last, max(0, last - 25), -1)))
    select("#log-kind", "updated")
    check("filtered by kind it shows only the updates",
          lambda d: log_rows() and all(r[1] == "updated" for r in log_rows()))
    select("#log-kind", "")
    type_into("#log-hash", hash_[:12])
    check("filtered by memory it shows that memory's three events",
          lambda d: [(r[1], r[2]) for r in log_rows()] == [("updated", hash_), ("updated", hash_), ("stored", hash_)])
    select("#log-interface", "mcp")
    check("filtered by an interface nobody used it says nothing matches",
          lambda d: not log_rows() and present('[data-testid="log-empty"]'))
    select("#log-interface", "")
    type_into("#log-hash", "")
    for i in range(12):
        api("POST", "/api/memories", {"content": f"Filler memory {i} for paging (trust run {RUN}).", "tags": ["filler"]})
    last = api("GET", "/api/log?limit=1")["last_seq"]
    check("following live, the newest event appears at the top without a reload",
          lambda d: log_rows() and log_rows()[0][0] == last)
    select("#log-page-size", "10")
    check("a page holds ten events", lambda d: [r[0] for r in log_rows()] == list(range(last, last - 10, -1)))
    click("#log-older")
    check("older goes on below the first page",
          lambda d: [r[0] for r in log_rows()] == list(range(last - 10, max(0, last - 20), -1)))
    click("#log-newer")
    check("newer comes back to the newest page", lambda d: log_rows() and log_rows()[0][0] == last)
    shot("event-log", "#log-panel")


def backup_row(filename, inner=""):
    return f'[data-testid="backup-row"][data-filename="{filename}"]' + (f" {inner}" if inner else "")


def backups():
    """A backup made from the page is listed with its manifest's numbers and verifies."""
    status = api("GET", "/api/backup/status")
    check("the schedule and retention in force are shown",
          lambda d: find('[data-testid="backup-schedule"]').text.count("\n") >= 5
          and f"{status['retention_days']} days, at most {status['max_count']} backups"
          in find('[data-testid="backup-retention"]').text
          and status["interval"] in find('[data-testid="backup-schedule"]').text)
    before = {b["filename"] for b in api("GET", "/api/backup/list")["backups"]}
    click("#backup-now")
    made = check("backing up from the page says which file it made",
                 lambda d: (find("#backup-progress").get_attribute("data-filename") or "") not in ("", *before)
                 and find("#backup-progress").get_attribute("data-filename"))
    listed = {b["filename"]: b for b in api("GET", "/api/backup/list")["backups"]}
    assert made in listed, f"{made} is not in the API's list"
    manifest = listed[made]
    cells = lambda: [c.text for c in present(backup_row(made, "td"))]  # noqa: E731
    check("the new backup is listed with its kind, events and memories",
          lambda d: cells()[1] == manifest["kind"] and cells()[3:5] == [f"{manifest['events']:,}", f"{manifest['memories']:,}"])
    check("it is not verified yet", lambda d: find(backup_row(made, '[data-testid="backup-verdict"]')).text
          == "not checked here")
    click(backup_row(made, '[data-testid="backup-verify"]'))
    check("verifying it from the page says it is valid",
          lambda d: find(backup_row(made, '[data-testid="backup-verdict"]')).text == "valid")
    shot("backups", "#backup-panel")
    click("#backup-now")
    check("backing up the unchanged store again writes nothing and names the newest backup",
          lambda d: f"Nothing written since {made}" in find("#backup-progress").text)
    assert len(api("GET", "/api/backup/list")["backups"]) == len(listed), "no second backup"
    return made


def plan_hashes(name):
    return sorted(li.get_attribute("data-hash") for li in present(f'[data-testid="restore-{name}"] li[data-hash]'))


def plan_shown(expected, dry_run):
    """The page's plan has the API's target, lists and counts."""
    box = find("#restore-plan")
    counts = [find(f'[data-testid="restore-count-{n}"]').text for n in ("come-back", "disappear", "change")]
    return (box.is_displayed() and box.get_attribute("data-target-seq") == str(expected["target_seq"])
            and box.get_attribute("data-dry-run") == str(dry_run).lower()
            and plan_hashes("come-back") == sorted(expected["come_back"])
            and plan_hashes("disappear") == sorted(expected["disappear"])
            and plan_hashes("change") == sorted(expected["change"])
            and counts == [f"({len(expected[k])})" for k in ("come_back", "disappear", "change")])


def listed(hash_):
    return bool(present(card(hash_)))


def restore():
    """A restore picked from the log previews what the API's dry run says, applies, and is undone."""
    fillers = [content_hash(f"Filler memory {i} for paging (trust run {RUN}).") for i in range(3)]
    mark = api("GET", "/api/log?limit=1")["last_seq"]
    gone, changed, fresh = fillers[0], fillers[1], f"Stored after the restore point (trust run {RUN})."
    api("DELETE", f"/api/memories/{gone}")
    api("PUT", f"/api/memories/{changed}", {"tags": ["filler", "changed"]})
    fresh = content_hash(api("POST", "/api/memories", {"content": fresh})["memory"]["content"])
    expected = api("POST", "/api/restore", {"to_seq": mark, "dry_run": True})
    assert (expected["come_back"], expected["disappear"], expected["change"]) == ([gone], [fresh], [changed]), expected
    select("#log-page-size", "50")
    row = f'[data-testid="log-row"][data-seq="{mark}"] [data-testid="log-restore-to"]'
    check("the log offers a restore to the event before the changes", lambda d: present(row))
    click(row)
    check("the restore preview equals the API's dry run", lambda d: plan_shown(expected, True))
    check("the preview says what each memory was then",
          lambda d: "Filler memory 0" in find(f'[data-testid="restore-come-back"] li[data-hash="{gone}"]').text)
    shot("restore-preview", "#restore-panel")
    check("before applying, the deleted memory is not listed and the new one is",
          lambda d: not listed(gone) and listed(fresh))
    click("#restore-apply")
    check("applying asks for confirmation", lambda d: ui.dialog_open("confirm-dialog"))
    click("#confirm-ok")
    check("the applied restore is shown with the appended events",
          lambda d: find("#restore-plan").get_attribute("data-dry-run") == "false"
          and "Done: 3 events appended" in find("#restore-summary").text)
    check("applying brings the deleted memory back and removes the new one", lambda d: listed(gone) and not listed(fresh))
    after = api("GET", "/api/log?limit=1")["last_seq"]
    check("the restore's events are in the log panel", lambda d: log_rows() and log_rows()[0][0] == after)
    from_seq = int(find("#restore-plan").get_attribute("data-from-seq"))
    undo = api("POST", "/api/restore", {"to_seq": from_seq, "dry_run": True})
    click("#restore-undo")
    check("undo previews the restore to the event before the restore", lambda d: plan_shown(undo, True))
    click("#restore-apply")
    click("#confirm-ok")
    check("undo brings the store back: the memory is deleted again and the new one is back",
          lambda d: not listed(gone) and listed(fresh))
    tags = api("GET", f"/api/memories/{changed}")["tags"]
    assert tags == ["filler", "changed"], f"the undo gives the update back: {tags}"
    return mark, gone


def travel_slider_to_end_then_back(steps):
    """Moves the time slider with the keyboard, as a person would: to the newest event, then `steps` back."""
    slider = find("#travel-slider")
    slider.send_keys(Keys.END)
    for _ in range(steps):
        slider.send_keys(Keys.ARROW_LEFT)


def time_travel():
    """The slider moved before a delete shows the deleted memory, marked as a past view, with the list, a search
    and the overview of then; back to now it is gone again."""
    content = f"A memory deleted after the point travelled to (trust run {RUN})."
    hash_ = content_hash(content)
    api("POST", "/api/memories", {"content": content, "tags": ["travel"]})
    before_delete = api("GET", "/api/log?limit=1")["last_seq"]
    api("DELETE", f"/api/memories/{hash_}")
    last = before_delete + 1
    then = api("GET", f"/api/memories?as_of={before_delete}&page_size=1")["total"]
    overview = api("GET", f"/api/analytics/overview?as_of={before_delete}")
    check("the deleted memory is not listed now, and the slider reaches the newest event",
          lambda d: not listed(hash_) and find("#travel-slider").get_attribute("max") == str(last))
    travel_slider_to_end_then_back(1)
    check("the slider moved one event back shows a past view of the event before the delete",
          lambda d: visible("#past-banner") and find("#past-banner").get_attribute("data-seq") == str(before_delete)
          and f"event #{before_delete}" in find("#past-text").text)
    check("the past list holds the deleted memory, with the total of then",
          lambda d: listed(hash_) and find("#list-summary").text.startswith(f"{then} total"))
    check("the overview is the one of then", lambda d: ui.stat("total_memories") == overview["total_memories"]
          and find("#stats-panel").get_attribute("data-as-of") == str(before_delete))
    check("the charts, which show today, say so in the past view",
          lambda d: visible('[data-testid="growth-now-note"]') and visible('[data-testid="tags-now-note"]'))
    check("the past is read-only: no store, edit or delete",
          lambda d: not find("#store-submit").is_enabled() and not present(card(hash_, '[data-testid="delete-btn"]'))
          and not present(card(hash_, '[data-testid="edit-btn"]')))
    shot("time-travel", "#past-banner")
    ui.search("keyword", "deleted after the point travelled")
    check("a search in the past finds it too", lambda d: listed(hash_) and "as of event" in find("#list-summary").text)
    click("#search-clear")
    click("#past-now")
    check("back to now the banner goes, the memory is gone and writes are on again",
          lambda d: not visible("#past-banner") and not listed(hash_) and find("#store-submit").is_enabled()
          and not visible('[data-testid="growth-now-note"]'))


def redaction():
    """A redaction from a memory's card, confirmed by typing its short hash, leaves a tombstone and erases the
    content from the timeline."""
    content = f"The door code is 4711-{RUN} (trust run)."
    hash_ = content_hash(content)
    api("POST", "/api/memories", {"content": content, "tags": ["secret"]})
    api("PUT", f"/api/memories/{hash_}", {"tags": ["secret", "door"]})
    check("the memory to forget is listed", lambda d: listed(hash_))
    click(card(hash_, '[data-testid="forget-btn"]'))
    check("the dialog spells out the consequences",
          lambda d: ui.dialog_open("redact-dialog") and "cannot be undone" in find("#redact-dialog").text
          and "every backup" in find("#redact-dialog").text and "admin scope" in find("#redact-dialog").text)
    type_into("#redact-reason", "shared by mistake")
    type_into("#redact-confirm", "not-the-hash")
    check("a wrong confirmation keeps the button off", lambda d: not find("#redact-ok").is_enabled())
    type_into("#redact-confirm", hash_[:10])
    check("typing the short hash turns it on", lambda d: find("#redact-ok").is_enabled())
    shot("redaction", "#redact-dialog")
    click("#redact-ok")
    tombstone = ui.history_event("redacted")
    check("the timeline opens on the tombstone, with the reason",
          lambda d: ui.dialog_open("history-dialog") and present(tombstone)
          and "reason: shared by mistake" in find(tombstone).text)
    check("the content is gone from the timeline", lambda d: "4711" not in find("#history-list").text
          and len(present('[data-testid="history-event"]')) == 3)
    shot("redaction-tombstone", "#history-dialog")
    click("#history-close")
    check("the memory is gone from the list", lambda d: not listed(hash_))
    history = api("GET", f"/api/memories/{hash_}/history")["history"]
    assert history[-1]["kind"] == "redacted" and "4711" not in str(history), history


def main():
    ui.open_unlocked()
    hash_ = timeline()
    event_log(hash_)
    backups()
    restore()
    time_travel()
    redaction()
    ui.driver.quit()
    print(f"{ui.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
