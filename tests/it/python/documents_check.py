"""Drives the dashboard's Documents panel end to end with headless Chromium (selenium): uploads through the
file input and through a drop, each followed to its end; the history with its chunks and a removal; a refused
file; an identical file sent again, refused, then forced.

Usage: documents_check.py BASE_URL API_KEY SCREENSHOT_DIR FILES_DIR

BASE_URL is a server over a fresh store that requires API_KEY. FILES_DIR holds notes.md (a few KB of markdown
that names PostgreSQL), report.pdf (two pages) and tool.exe (junk). It reuses dashboard_check.py's helpers; each
step is a check that prints one line, the first failure prints the browser console, saves
SCREENSHOT_DIR/documents-failure.png and exits 1. The panel's screenshot is saved as
SCREENSHOT_DIR/panel-documents.png.
"""

import os
import sys

import dashboard_check as ui
from dashboard_check import api, check, click, find, present, visible

SHOTS, FILES = sys.argv[3], sys.argv[4]
ui.SCREENSHOT = os.path.join(SHOTS, "documents-failure.png")
RUN = ui.RUN
DROPPED = (f"Notes dropped onto the documents panel (documents run {RUN}). The lighthouse keeper of Brest "
           "repaints the lantern room every spring, and logs the hours of each storm in a red notebook.")

# Records each state a row of the uploads list goes through (status, progress, whether it has its bar): the
# rows are replaced as an upload moves, so polling them from here could miss the short early states.
RECORD_STATES = """
window.__docStates = {};
new MutationObserver(() => {
  for (const row of document.querySelectorAll('[data-testid="doc-upload"]')) {
    const seen = (window.__docStates[row.dataset.uploadId] ||= []);
    const now = `${row.dataset.status}:${row.dataset.progress}:${row.querySelector('progress') ? 'bar' : 'none'}`;
    if (seen[seen.length - 1] !== now) seen.push(now);
  }
}).observe(document.getElementById('doc-uploads'), { childList: true, subtree: true });
"""

# Drops a file built in the page on the drop zone, as a drag from the desktop would: dragenter, then drop.
DROP = """
const [name, text] = arguments;
const zone = document.getElementById('doc-drop');
const files = new DataTransfer();
files.items.add(new File([text], name, { type: 'text/plain' }));
zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: files, bubbles: true, cancelable: true }));
window.__dragging = zone.classList.contains('dragging');
zone.dispatchEvent(new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }));
"""


def upload(id_, inner=""):
    """The selector of a row of the uploads list, or of something inside it."""
    return f'[data-testid="doc-upload"][data-upload-id="{id_}"]' + (f" {inner}" if inner else "")


def history(id_, inner=""):
    """The selector of a row of the history, or of something inside it."""
    return f'[data-testid="doc-history-row"][data-upload-id="{id_}"]' + (f" {inner}" if inner else "")


def attr(css, name):
    return find(css).get_attribute(name)


def upload_ids():
    return {row.get_attribute("data-upload-id") for row in present('[data-testid="doc-upload"]')}


def choose(name):
    """Chooses FILES_DIR/name in the file input, which uploads it at once; the upload ids shown before."""
    before = upload_ids()
    find("#doc-file").send_keys(os.path.join(FILES, name))
    return before


def new_upload(name, before):
    """Waits for the row of a new upload of `name`, with its progress bar; its upload id."""
    def appeared(_):
        rows = [row for row in present(f'[data-testid="doc-upload"][data-filename="{name}"]')
                if row.get_attribute("data-upload-id") not in before]
        return (rows and rows[0].find_elements(ui.By.CSS_SELECTOR, "progress")
                and rows[0].get_attribute("data-upload-id"))

    return check(f"a row with a progress bar shows the upload of {name}", appeared)


def states(id_):
    return ui.driver.execute_script("return window.__docStates[arguments[0]] || [];", id_)


def completed(name, id_):
    """The upload went from queued or processing to completed, and its row says what was stored."""
    check(f"{name} is completed, its bar full and its chunks counted",
          lambda d: attr(upload(id_), "data-status") == "completed"
          and attr(upload(id_, "progress"), "value") == "100"
          and "stored" in find(upload(id_, '[data-testid="doc-upload-result"]')).text)
    seen = states(id_)
    check(f"{name} showed its progress while it ran, then its end",
          lambda d: seen and seen[0].split(":")[0] in ("queued", "processing") and seen[0].endswith(":bar")
          and seen[-1] == "completed:100:bar")
    status = api("GET", f"/api/documents/status/{id_}")
    check(f"the row of {name} matches its status",
          lambda d: status["status"] == "completed"
          and attr(upload(id_), "data-chunks-stored") == str(status["chunks_stored"])
          and attr(upload(id_), "data-duplicates") == str(status["duplicates"]))
    return status


def listed(name, id_, status):
    """The history lists the upload: file, status, chunks, when and who."""
    def row(_):
        cells = find(history(id_)).find_elements(ui.By.TAG_NAME, "td")
        return (cells[0].text.startswith(name) and attr(history(id_), "data-status") == status["status"]
                and cells[1].text.startswith(status["status"])
                and cells[2].text.startswith(str(status["chunks_stored"]))
                and cells[3].find_elements(ui.By.TAG_NAME, "time") and cells[4].text == status["actor"])

    check(f"the history lists {name} with its status, chunks, time and who uploaded it", row)


def show_chunks(name, id_, status):
    """The Chunks button shows the upload's chunks, in order; their elements, once the dialog is open."""
    click(history(id_, '[data-testid="doc-chunks-btn"]'))
    check(f"Chunks shows the {status['chunks_stored']} chunks of {name}",
          lambda d: ui.dialog_open("doc-chunks-dialog") and attr("#doc-chunks-dialog", "data-upload-id") == id_
          and find("#doc-chunks-file").text == name
          and len(present('[data-testid="doc-chunk"]')) == status["chunks_stored"] > 0)
    indexes = [int(c.get_attribute("data-index")) for c in present('[data-testid="doc-chunk"]')]
    check("the chunks are in the file's order", lambda d: indexes == sorted(indexes))
    return present('[data-testid="doc-chunk"]')


def close_chunks():
    click("#doc-chunks-close")
    check("the chunks dialog closes", lambda d: not ui.dialog_open("doc-chunks-dialog"))


def history_names():
    return [u["filename"] for u in api("GET", "/api/documents/history")["uploads"]]


def first_upload():
    """notes.md through the file input: progress, completed, listed, its chunks."""
    check("the documents panel shows, with its file input labelled, and no upload yet",
          lambda d: visible("#documents-panel") and visible("#doc-file")
          and d.execute_script("return document.getElementById('doc-file').labels.length") == 1
          and present('[data-testid="doc-history-empty"]'))
    ui.driver.execute_script(RECORD_STATES)
    ui.type_into("#doc-tags", "handbook, documents-check")
    notes = new_upload("notes.md", choose("notes.md"))
    status = completed("notes.md", notes)
    check("notes.md stored chunks, with the tags given", lambda d: status["chunks_stored"] > 0
          and {"handbook", "documents-check"} <= set(status["tags"]))
    listed("notes.md", notes, status)
    chunks = show_chunks("notes.md", notes, status)
    check("its chunks hold the file's text", lambda d: any("PostgreSQL" in c.text for c in chunks))
    close_chunks()
    return notes, status


def pdf_upload():
    report = new_upload("report.pdf", choose("report.pdf"))
    status = completed("report.pdf", report)
    check("report.pdf shows its two pages", lambda d: status["pages"] == 2 and attr(upload(report), "data-pages") == "2"
          and "2 pages" in find(upload(report, '[data-testid="doc-upload-result"]')).text)
    listed("report.pdf", report, status)
    chunks = show_chunks("report.pdf", report, status)
    check("each chunk of the PDF names its page",
          lambda d: {c.get_attribute("data-page") for c in chunks} == {"1", "2"})
    close_chunks()


def refused_file():
    """tool.exe is answered 400: its detail shows by the drop zone, and nothing is added."""
    before_rows = len(present('[data-testid="doc-history-row"]'))
    before = choose("tool.exe")
    check("the refusal of tool.exe is shown by the drop zone, with the server's detail",
          lambda d: visible("#doc-error")
          and attr('[data-testid="doc-error-item"]', "data-filename") == "tool.exe"
          and attr('[data-testid="doc-error-item"]', "data-status") == "400"
          and "Unsupported file type for tool.exe: .exe" in find("#doc-error").text)
    check("nothing of tool.exe is added: no upload row, not in the history",
          lambda d: upload_ids() == before and len(present('[data-testid="doc-history-row"]')) == before_rows
          and not present('[data-testid="doc-history-row"][data-filename="tool.exe"]')
          and "tool.exe" not in history_names())


def same_file_again(notes, first):
    """notes.md again is refused as ingested before; forced, it goes in with its chunks as duplicates."""
    again = new_upload("notes.md", choose("notes.md"))
    check("the next upload clears the refusal", lambda d: not visible("#doc-error"))
    check("notes.md sent again fails: ingested before, as the first upload, unless forced",
          lambda d: attr(upload(again), "data-status") == "failed"
          and all(word in find(upload(again, '[data-testid="doc-upload-error"]')).text
                  for word in ("ingested before", notes, "force=true")))
    check("the history lists the failure with its error",
          lambda d: attr(history(again), "data-status") == "failed"
          and "ingested before" in find(history(again, '[data-testid="doc-history-error"]')).text
          and not present(history(again, '[data-testid="doc-remove"]')))
    click("#doc-force")
    forced = new_upload("notes.md", choose("notes.md"))
    status = completed("notes.md forced", forced)
    check("forced, it is ingested again: its chunks are duplicates of the first upload's",
          lambda d: status["chunks_stored"] == 0 and status["duplicates"] == first["chunks_stored"]
          and "duplicate" in find(upload(forced, '[data-testid="doc-upload-result"]')).text)
    click("#doc-force")
    check("the force box is unticked again", lambda d: not find("#doc-force").is_selected())


def removal(notes, first):
    """Remove asks first; confirmed, the upload shows removed, in the page and in the API."""
    click(history(notes, '[data-testid="doc-remove"]'))
    check("Remove asks for confirmation in the page, naming the file",
          lambda d: ui.dialog_open("confirm-dialog") and "notes.md" in find("#confirm-message").text)
    click("#confirm-cancel")
    check("cancel keeps it", lambda d: not ui.dialog_open("confirm-dialog")
          and attr(history(notes), "data-status") == "completed")
    click(history(notes, '[data-testid="doc-remove"]'))
    check("the confirmation opens again", lambda d: ui.dialog_open("confirm-dialog"))
    click("#confirm-ok")
    check("the history row shows notes.md removed, its chunks deleted, with no action left",
          lambda d: attr(history(notes), "data-status") == "removed"
          and find(history(notes, '[data-testid="doc-history-chunks"]')).text == f"{first['chunks_stored']} deleted"
          and not present(history(notes, "button")))
    check("its upload row says removed too", lambda d: attr(upload(notes), "data-status") == "removed"
          and "removed" in find(upload(notes, '[data-testid="doc-upload-result"]')).text)
    status = api("GET", f"/api/documents/status/{notes}")
    check("the status route says removed", lambda d: status["status"] == "removed"
          and status["chunks_deleted"] == first["chunks_stored"])


def dropped_file():
    """A file dropped on the zone is uploaded like a chosen one."""
    before = upload_ids()
    ui.driver.execute_script(DROP, "dropped.txt", DROPPED)
    check("dragging files over the zone highlights it",
          lambda d: d.execute_script("return window.__dragging === true;"))
    dropped = new_upload("dropped.txt", before)
    check("the drop ended the highlight", lambda d: "dragging" not in attr("#doc-drop", "class"))
    status = completed("dropped.txt", dropped)
    check("dropped.txt stored its chunk", lambda d: status["chunks_stored"] >= 1)
    listed("dropped.txt", dropped, status)


def no_console_errors():
    # The 400 is tool.exe's refusal, expected.
    ui.check_no_console_errors("the page logged no other error",
                               lambda message: "/api/documents/upload" in message and "status of 400" in message)


def shot():
    """Saves a screenshot of the whole panel: the window grows to its height first."""
    height = ui.driver.execute_script("return document.getElementById('documents-panel').offsetHeight;")
    ui.driver.set_window_size(1400, max(1000, height + 320))
    ui.driver.execute_script("document.getElementById('notice').hidden = true;"
                             "arguments[0].scrollIntoView({block: 'start'});", find("#documents-panel"))
    path = os.path.join(SHOTS, "panel-documents.png")
    ui.driver.save_screenshot(path)
    print(f"ok   screenshot of documents saved to {path}")


def main():
    ui.open_unlocked()
    notes, first = first_upload()
    pdf_upload()
    refused_file()
    same_file_again(notes, first)
    removal(notes, first)
    dropped_file()
    no_console_errors()
    shot()
    ui.driver.quit()
    print(f"{ui.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
