"""Calls released at the same instant from threads of their own: how the tests show a guard is race-safe."""
from __future__ import annotations

import threading

from django.db import connection


def race(calls, *, join: float = 120) -> tuple[list, list]:
    """Run every call in its own thread, all released at once by one barrier: (results, exceptions).

    Each thread closes its own database connection at the end. Fails if a thread is still running after
    ``join`` seconds (a call that hangs is a failure, not a result).
    """
    start = threading.Barrier(len(calls))
    results, errors, lock = [], [], threading.Lock()

    def run(call):
        try:
            start.wait()
            result = call()
            with lock:
                results.append(result)
        except Exception as exc:  # noqa: BLE001 - each refusal is counted and checked by the test
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(join)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"a raced call was still running after {join} s")
    return results, errors
