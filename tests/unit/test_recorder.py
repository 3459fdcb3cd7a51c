"""The recorder (topology/recorder.py): batches written once each, none when nothing happened, and the time its
writes took, which the deploy's parts say."""
import time

from topology import labstate, recorder
from topology.engine.executor import Report
from topology.models import LabEvent


def test_it_writes_what_was_reported_and_counts_the_time_its_writes_took(topology, monkeypatch):
    lab = topology.lab
    writes = []
    real = labstate.do_record

    def slow_record(*args):
        writes.append(args)
        time.sleep(0.05)
        real(*args)

    monkeypatch.setattr(recorder.labstate, "do_record", slow_record)
    with recorder.Recorder(lab, "op") as record:
        for i in range(3):
            record(Report(title=f"step {i}", status="ok", index=i, total=3))
    assert list(LabEvent.objects.filter(lab=lab, operation="op").values_list("step", flat=True)) == [
        "step 0", "step 1", "step 2"]
    assert 1 <= len(writes) <= 2 and record.flush_seconds >= 0.05 * len(writes)


def test_an_idle_recorder_writes_and_publishes_nothing(topology, monkeypatch):
    writes = []
    monkeypatch.setattr(recorder, "FLUSH_SECONDS", 0.01)
    monkeypatch.setattr(recorder.labstate, "do_record", lambda *args: writes.append(args))
    with recorder.Recorder(topology.lab, "op"):
        time.sleep(0.2)  # some twenty rounds of the writer with nothing to write
    assert writes == []
