"""What the Python test clients share: counted checks and the service's content hash."""

import hashlib

passed = 0


def check(condition, what):
    """Raises with `what` unless `condition` holds; counts the checks that passed."""
    global passed
    if not condition:
        raise AssertionError(what)
    passed += 1


def summary():
    """The last line a client prints; the Rust side looks for it."""
    return f"{passed} passed, 0 failed"


def sha(content):
    """The content hash: sha256 of the trimmed, lower-cased text."""
    return hashlib.sha256(content.strip().lower().encode()).hexdigest()
