"""Browses for an mDNS service type with python-zeroconf, the library the original advertises with.

Usage: mdns_browse.py INTERFACE_ADDRESS SERVICE_TYPE SECONDS

Prints one JSON object per line, flushed at once:
- {"event": "found", "name", "type", "port", "server", "addresses", "properties", "health"} for each service
  resolved ("health" is the status of GET <api_path>/health at its first address and port, or an error);
- {"event": "removed", "name"} when a found service says goodbye;
- {"event": "done", "found": N} when SECONDS have passed, or once every found service is removed.

Browses on INTERFACE_ADDRESS only (IPv4). The tests run it inside a network namespace of their own.
"""

import json
import queue
import sys
import time
import urllib.request

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf


def emit(**fields):
    """Prints one event line and flushes it, so the test sees it while this keeps browsing."""
    print(json.dumps(fields), flush=True)


def health(address, port, api_path):
    """The status of the service's health check, or the error that prevented one."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{api_path}/health", timeout=5) as answer:
            return answer.status
    except Exception as error:  # noqa: BLE001 - reported to the test, which decides
        return repr(error)


def describe(zc, service_type, name):
    """The resolved service as a "found" event, or None when it cannot be resolved."""
    info = zc.get_service_info(service_type, name, timeout=3000)
    if info is None:
        return None
    properties = {
        key.decode(): None if value is None else value.decode() for key, value in info.properties.items()
    }
    addresses = info.parsed_addresses()
    api_path = properties.get("api_path") or "/api"
    return dict(
        event="found",
        name=info.name,
        type=info.type,
        port=info.port,
        server=info.server,
        addresses=addresses,
        properties=properties,
        health=health(addresses[0], info.port, api_path) if addresses else "no address",
    )


def main():
    interface, service_type, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline = time.monotonic() + seconds
    changes = queue.Queue()
    zc = Zeroconf(interfaces=[interface], ip_version=IPVersion.V4Only)
    # Handlers run on zeroconf's event loop, where resolving would block it: they only queue the change.
    ServiceBrowser(zc, service_type, handlers=[lambda **change: changes.put(change)])
    live = set()
    found = 0
    try:
        while time.monotonic() < deadline and not (found and not live):
            try:
                change = changes.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            name = change["name"]
            if change["state_change"] is ServiceStateChange.Added and name not in live:
                event = describe(zc, service_type, name)
                if event is not None:
                    live.add(name)
                    found += 1
                    emit(**event)
            elif change["state_change"] is ServiceStateChange.Removed and name in live:
                live.discard(name)
                emit(event="removed", name=name)
    finally:
        zc.close()
    emit(event="done", found=found)


if __name__ == "__main__":
    main()
