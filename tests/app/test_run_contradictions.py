"""`verify` flags a record whose runs contradict themselves (issue 20, Deliver 2).

What the bug of issue 20 wrote: a "recovered" end signed for a live run, followed by that
run's own entries and its real end; two recoveries of one run, each with an end; an end of
a run that never started. Each is a finding naming the run and the entry.
"""

from __future__ import annotations

from app.verification import verify_case
from custody.record.events import CollectionProblem, RunFinished, RunStarted
from custody.record.keys import Identity


def _ended(run_id: str, status: str, **kw: object) -> RunFinished:
    return RunFinished(
        run_id=run_id, status=status, archive=f"evidence/{run_id}.tar", archive_size=1024, **kw
    )


def test_contradictions_of_a_run_are_findings(collected_case, alice: Identity) -> None:
    case, _, _ = collected_case()
    (case.evidence_dir / "live.tar").write_bytes(bytes(1024))  # an empty tar: its end blocks
    w = case.writer(alice)
    w.append(RunStarted(run_id="live", host="a", profile="none", archive="evidence/live.tar"))
    # Another process "recovers" the live run ...
    recovered = w.append(_ended("live", "recovered", reason="the process stopped"))
    # ... which goes on recording, then ends itself.
    w.append(CollectionProblem(run_id="live", collector="files", kind="error", reason="late"))
    w.flush()
    real_end = w.append(_ended("live", "finished", errors=1))
    # A second recovery of the same run, and the end of a run that never started.
    second = w.append(_ended("live", "recovered"))
    ghost = w.append(_ended("ghost", "recovered"))
    assert recovered and real_end and second and ghost

    report = verify_case(case)
    assert not report.ok
    found = {(f.code, f.seq, f.run_id) for f in report.findings}
    assert ("run.after_end", recovered.seq + 1, "live") in found
    assert ("run.finished_twice", real_end.seq, "live") in found
    assert ("run.finished_twice", second.seq, "live") in found
    assert ("run.unknown", ghost.seq, "ghost") in found
    by_code = {f.code: f for f in report.findings}
    assert f"after its run_finished entry {recovered.seq}" in by_code["run.after_end"].message
    assert f"already ended at entry {recovered.seq}" in by_code["run.finished_twice"].message
    assert "no run_started entry" in by_code["run.unknown"].message
