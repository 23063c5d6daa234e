"""``chainproof keys`` as an examiner meets it: first use with and without a terminal,
replacing an identity, showing it without the passphrase, and what a wrong passphrase says.

Terminal tests run the CLI on a real pseudo-terminal (its controlling terminal, stdin, stdout
and stderr), so ``input`` and ``getpass`` read from a tty as they would for a person.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custody.record.keys import Identity, create_identity, load_identity, save_identity
from tests.conftest import PASSPHRASE

CLI = [sys.executable, "-m", "app"]
REPO = Path(__file__).resolve().parents[2]
IDENTITY_VARS = ("CHAINPROOF_NAME", "CHAINPROOF_ORG", "CHAINPROOF_EMAIL")
ANN = {
    "CHAINPROOF_NAME": "Ann Example",
    "CHAINPROOF_ORG": "Example Forensics Lab",
    "CHAINPROOF_EMAIL": "ann@lab.example",
}
NEW_PASSPHRASE = "a different passphrase for the new key"


def environ(**changes: str | None) -> dict[str, str]:
    """This test's environment (its CHAINPROOF_HOME, PASSPHRASE) without identity variables,
    with ``changes`` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARS}
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI without a terminal: stdin from /dev/null."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env or environ(),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def in_terminal(
    args: list[str], answers: list[tuple[str, str]], env: dict[str, str]
) -> tuple[int, str]:
    """Run ``chainproof ARGS`` on a new pseudo-terminal; for each (prompt, answer) wait for
    the prompt and type the answer. Returns the exit status and everything the terminal
    showed (typed text included where the terminal echoes it)."""
    master, slave = os.openpty()
    cmd = [*CLI, *args]
    setsid = shutil.which("setsid")
    if setsid:  # the pty becomes the controlling terminal: getpass opens /dev/tty
        cmd = [setsid, "--ctty", *cmd]
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=not setsid
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 120

    def read() -> bool:
        nonlocal shown
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            proc.kill()
            raise AssertionError(f"the terminal waited too long; it showed:\n{shown.decode()}")
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            return False
        shown += data
        return bool(data)

    try:
        at = 0
        for prompt, answer in answers:
            while prompt.encode() not in shown[at:]:
                if not read():
                    raise AssertionError(f"no prompt {prompt!r}; the terminal showed:\n{shown!r}")
            at = shown.index(prompt.encode(), at) + len(prompt)
            os.write(master, answer.encode() + b"\n")
        while read():
            pass
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n")


def shown_identity(env: dict[str, str] | None = None) -> dict[str, object]:
    out = cli("keys", "show", "--json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def ann(chainproof_home: Path) -> Path:
    """Ann's identity made with ``keys init`` from the environment, with PASSPHRASE."""
    made = cli("keys", "init", env=environ(**ANN))
    assert made.returncode == 0, made.stderr
    return chainproof_home / "identity.p12"


# --- first use without a terminal --------------------------------------------------------


def test_init_without_a_terminal_names_everything_missing(chainproof_home: Path) -> None:
    out = cli("keys", "init", env=environ(CHAINPROOF_PASSPHRASE=None))
    assert out.returncode == 2
    assert out.stderr == (
        "chainproof: keys init needs, without a terminal: --name or CHAINPROOF_NAME, "
        "--org or CHAINPROOF_ORG, --email or CHAINPROOF_EMAIL, "
        "a passphrase (CHAINPROOF_PASSPHRASE or --passphrase-fd N)\n"
    )
    out = cli("keys", "init", "--name", "Ann Example", env=environ(CHAINPROOF_ORG="Lab"))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "chainproof: keys init needs, without a terminal: --email or CHAINPROOF_EMAIL"
    ]
    assert list(chainproof_home.iterdir()) == []


def test_init_takes_names_from_the_environment_and_flags_win(chainproof_home: Path) -> None:
    made = cli("keys", "init", env=environ(**ANN))
    assert made.returncode == 0, made.stderr
    assert "Created identity for Ann Example <ann@lab.example> (Example Forensics Lab)" in (
        made.stdout
    )
    shown = shown_identity()
    assert (shown["name"], shown["organisation"], shown["email"]) == (
        "Ann Example",
        "Example Forensics Lab",
        "ann@lab.example",
    )
    identity = load_identity(chainproof_home / "identity.p12", PASSPHRASE.encode())
    assert identity.fingerprint == shown["fingerprint_sha256"]
    other = chainproof_home / "other"
    env = environ(**ANN, CHAINPROOF_HOME=str(other))
    made = cli("keys", "init", "--name", "Ann B. Example", env=env)
    assert made.returncode == 0, made.stderr
    assert shown_identity(env)["name"] == "Ann B. Example"


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("CHAINPROOF_ORG", "Unspecified", "CHAINPROOF_ORG: 'Unspecified' is a placeholder"),
        ("CHAINPROOF_NAME", "  ", "CHAINPROOF_NAME: it is empty"),
        ("CHAINPROOF_NAME", "NAME", "'NAME' is a placeholder, not a real name"),
        ("CHAINPROOF_EMAIL", "root@localhost", "'root@localhost' is not an e-mail address"),
        ("CHAINPROOF_EMAIL", "ann example.org", "is not an e-mail address"),
        ("CHAINPROOF_NAME", "A" * 65, "longer than 64 characters"),
    ],
)
def test_init_refuses_placeholders_and_malformed_values(
    chainproof_home: Path, var: str, value: str, says: str
) -> None:
    env = environ(**ANN)
    env[var] = value
    if not value.strip():  # an empty variable counts as missing: the flag is then checked
        flag = {"CHAINPROOF_NAME": "--name"}[var]
        out = cli("keys", "init", flag, value, env=env)
        says = says.replace(var, flag)
    else:
        out = cli("keys", "init", env=env)
    assert out.returncode == 2 and says in out.stderr, out.stderr
    assert len(out.stderr.splitlines()) == 1
    assert not (chainproof_home / "identity.p12").exists()


def test_a_weak_passphrase_is_refused_for_a_new_identity_only(
    chainproof_home: Path, alice_identity: Identity, tmp_path: Path
) -> None:
    for weak in ("x", "short pass", "aaaaaaaaaaaaaaaa"):
        out = cli("keys", "init", env=environ(**ANN, CHAINPROOF_PASSPHRASE=weak))
        assert out.returncode == 2, out
        assert out.stderr.startswith("chainproof: the new passphrase is too weak (")
        assert not (chainproof_home / "identity.p12").exists()
    # an organisation's file is re-encrypted: its new passphrase is checked too
    org_file = tmp_path / "org.p12"
    save_identity(alice_identity, org_file, b"org")
    out = cli(
        "keys",
        "import",
        str(org_file),
        env=environ(CHAINPROOF_IMPORT_PASSPHRASE="org", CHAINPROOF_PASSPHRASE="weak"),
    )
    assert out.returncode == 2 and "too weak" in out.stderr
    assert not (chainproof_home / "identity.p12").exists()
    # an existing identity with a weak passphrase still opens and signs
    save_identity(alice_identity, chainproof_home / "identity.p12", b"pw")
    weak_env = environ(CHAINPROOF_PASSPHRASE="pw")
    out = cli("keys", "show", "--unlock", env=weak_env)
    assert out.returncode == 0 and "Alice Examiner" in out.stdout, out.stderr
    out = cli("case", "new", str(tmp_path / "case"), "--title", "weak but old", env=weak_env)
    assert out.returncode == 0, out.stderr


# --- replacing an identity ---------------------------------------------------------------


def test_init_on_an_existing_identity_says_how_to_use_it(ann: Path) -> None:
    before = ann.read_bytes()
    out = cli("keys", "init", env=environ(**ANN))
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert "already exists" in line and "keep using it" in line and "keys show" in line
    assert "(Ann Example <ann@lab.example>, Example Forensics Lab, certificate SHA-256 " in line
    assert "--force" in line and "dated backup" in line
    assert ann.read_bytes() == before


def test_force_without_a_terminal_needs_yes(ann: Path) -> None:
    before = ann.read_bytes()
    env = environ(**ANN, CHAINPROOF_PASSPHRASE=NEW_PASSPHRASE)
    for command in (["keys", "init", "--force"], ["keys", "import", str(ann), "--force"]):
        out = cli(*command, env=env)
        assert out.returncode == 2, out
        assert "--yes" in out.stderr and len(out.stderr.splitlines()) == 1
    assert ann.read_bytes() == before
    assert sorted(p.name for p in ann.parent.iterdir()) == ["identity.p12", "identity.pem"]


def test_force_yes_keeps_a_dated_backup_that_opens_with_the_old_passphrase(ann: Path) -> None:
    old = load_identity(ann, PASSPHRASE.encode())
    env = environ(
        CHAINPROOF_NAME="Bo Brand",
        CHAINPROOF_ORG="Second Lab",
        CHAINPROOF_EMAIL="bo@second.example",
        CHAINPROOF_PASSPHRASE=NEW_PASSPHRASE,
    )
    out = cli("keys", "init", "--force", "--yes", env=env)
    assert out.returncode == 0, out.stderr
    (backup,) = (p for p in ann.parent.glob("identity-backup-*.p12"))
    assert f"Previous identity kept in {backup} (it opens with its old passphrase)" in out.stdout
    assert load_identity(backup, PASSPHRASE.encode()).fingerprint == old.fingerprint
    new = load_identity(ann, NEW_PASSPHRASE.encode())
    assert new.name == "Bo Brand" and new.fingerprint != old.fingerprint
    assert shown_identity()["fingerprint_sha256"] == new.fingerprint
    # a second replacement keeps a second backup: none is overwritten
    out = cli(
        "keys",
        "import",
        str(backup),
        "--force",
        "--yes",
        env=environ(CHAINPROOF_IMPORT_PASSPHRASE=PASSPHRASE, CHAINPROOF_PASSPHRASE=NEW_PASSPHRASE),
    )
    assert out.returncode == 0, out.stderr
    (second,) = (p for p in ann.parent.glob("identity-backup-*.p12") if p != backup)
    assert f"Previous identity kept in {second}" in out.stdout
    assert load_identity(backup, PASSPHRASE.encode()).fingerprint == old.fingerprint
    assert load_identity(second, NEW_PASSPHRASE.encode()).fingerprint == new.fingerprint
    assert shown_identity()["fingerprint_sha256"] == old.fingerprint


def test_if_missing_keeps_an_existing_identity_without_asking(ann: Path) -> None:
    before = ann.read_bytes()
    env = environ(CHAINPROOF_PASSPHRASE=None, CHAINPROOF_NAME="Someone Else")
    out = cli("keys", "init", "--if-missing", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Using the examiner identity at {ann} (Ann Example <")
    assert "are not used" in out.stderr
    assert ann.read_bytes() == before
    out = cli("keys", "init", "--if-missing", "--force", env=env)
    assert out.returncode == 2


# --- keys show and the wrong passphrase ------------------------------------------------


def test_show_needs_no_passphrase(ann: Path) -> None:
    env = environ(CHAINPROOF_PASSPHRASE=None)
    shown = shown_identity(env)
    assert shown["name"] == "Ann Example" and shown["unlocked"] is False
    assert shown["certificate_file"] == str(ann.with_suffix(".pem"))
    out = cli("keys", "show", env=env)
    assert out.returncode == 0 and out.stderr == ""
    assert "name                 Ann Example" in out.stdout
    assert (ann.with_suffix(".pem").stat().st_mode & 0o622) == 0o600  # public, not writable
    assert (ann.stat().st_mode & 0o777) == 0o600
    proc = subprocess.run(
        ["openssl", "x509", "-in", str(ann.with_suffix(".pem")), "-noout", "-subject"],
        capture_output=True,
        text=True,
    )
    assert "Ann Example" in proc.stdout, proc.stderr


def test_an_identity_without_its_pem_is_shown_with_the_passphrase_once(
    alice: Identity, chainproof_home: Path
) -> None:
    """An identity made before identity.pem (or replaced by other means) is opened with
    its passphrase; its identity.pem is written then, and never trusted once stale."""
    no_pass = environ(CHAINPROOF_PASSPHRASE=None)
    out = cli("keys", "show", env=no_pass)
    assert out.returncode == 2 and "identity.pem is missing" in out.stderr
    assert "CHAINPROOF_PASSPHRASE" in out.stderr and len(out.stderr.splitlines()) == 1
    out = cli("keys", "show")
    assert out.returncode == 0 and "Alice Examiner" in out.stdout
    assert "wrote the certificate to" in out.stderr
    assert shown_identity(no_pass)["fingerprint_sha256"] == alice.fingerprint
    # the key file is replaced behind Chainproof's back: the old identity.pem is not shown
    save_identity(
        create_identity("Eve Other", "Elsewhere", "eve@else.example"),
        chainproof_home / "identity.p12",
        PASSPHRASE.encode(),
    )
    out = cli("keys", "show", env=no_pass)
    assert out.returncode == 2 and "Alice" not in out.stdout
    assert shown_identity()["name"] == "Eve Other"


def test_a_wrong_passphrase_gives_no_advice_that_destroys_the_identity(
    ann: Path, tmp_path: Path
) -> None:
    before = ann.read_bytes()
    wrong = environ(CHAINPROOF_PASSPHRASE="not the passphrase at all")
    for command in (
        ["keys", "show", "--unlock"],
        ["case", "new", str(tmp_path / "case"), "--title", "t"],
    ):
        out = cli(*command, env=wrong)
        assert out.returncode == 5, out
        (line,) = out.stderr.splitlines()
        assert line.startswith(f"chainproof: wrong passphrase for {ann}: ")
        assert "--force" not in line and "keys init" not in line and "unchanged" in line
    assert ann.read_bytes() == before
    assert not (tmp_path / "case").exists()


# --- in a terminal -------------------------------------------------------------------------


def test_init_in_a_terminal_asks_for_what_is_missing(chainproof_home: Path) -> None:
    env = environ(CHAINPROOF_PASSPHRASE=None, CHAINPROOF_ORG="Example Forensics Lab")
    code, shown = in_terminal(
        ["keys", "init"],
        [
            ("Your name: ", "Unspecified"),  # a placeholder: asked again
            ("Your name: ", "Ann Example"),
            ("E-mail: ", "ann@lab.example"),
            ("New passphrase: ", "short"),  # weak: asked again
            ("Again: ", "short"),
            ("New passphrase: ", NEW_PASSPHRASE),
            ("Again: ", NEW_PASSPHRASE),
        ],
        env,
    )
    assert code == 0, shown
    assert "Organisation: " not in shown  # given in the environment
    assert "Not usable: 'Unspecified' is a placeholder, not a real name. Try again." in shown
    assert "The new passphrase is too weak (shorter than 12 characters)" in shown
    assert NEW_PASSPHRASE not in shown and "short\n" not in shown  # not echoed
    assert "Created identity for Ann Example <ann@lab.example> (Example Forensics Lab)" in shown
    identity = load_identity(chainproof_home / "identity.p12", NEW_PASSPHRASE.encode())
    assert identity.organisation == "Example Forensics Lab"


def test_init_in_a_terminal_stops_when_the_passphrases_differ_three_times(
    chainproof_home: Path,
) -> None:
    answers = [
        ("Your name: ", "Ann Example"),
        ("Organisation: ", "Lab"),
        ("E-mail: ", "a@b.example"),
    ]
    for n in range(3):
        answers += [("New passphrase: ", f"first passphrase {n}"), ("Again: ", "second one")]
    code, shown = in_terminal(["keys", "init"], answers, environ(CHAINPROOF_PASSPHRASE=None))
    assert code == 2 and "chainproof: the two passphrases differ" in shown, shown
    assert not (chainproof_home / "identity.p12").exists()


def test_force_in_a_terminal_asks_to_type_yes(ann: Path) -> None:
    old = load_identity(ann, PASSPHRASE.encode())
    before = ann.read_bytes()
    env = environ(**ANN, CHAINPROOF_PASSPHRASE=NEW_PASSPHRASE)
    code, shown = in_terminal(["keys", "init", "--force"], [("Type yes to replace it: ", "y")], env)
    assert code == 2 and "was not replaced" in shown, shown
    assert "This replaces your examiner identity at" in shown and "Ann Example" in shown
    assert ann.read_bytes() == before and not list(ann.parent.glob("identity-backup-*"))
    code, shown = in_terminal(
        ["keys", "init", "--force"], [("Type yes to replace it: ", "yes")], env
    )
    assert code == 0, shown
    (backup,) = ann.parent.glob("identity-backup-*.p12")
    assert f"Previous identity kept in {backup}" in shown
    assert load_identity(backup, PASSPHRASE.encode()).fingerprint == old.fingerprint
    assert load_identity(ann, NEW_PASSPHRASE.encode()).fingerprint != old.fingerprint


# --- scripts/collect-this-machine.sh ----------------------------------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """The script in a copy of the repository's layout whose setup.sh does nothing (the
    real one installs packages): only its own decisions are tested here."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "collect-this-machine.sh", root / "scripts")
    (root / "scripts" / "setup.sh").write_text("#!/bin/sh\nexit 0\n")
    (root / "scripts" / "setup.sh").chmod(0o755)
    (root / ".venv").symlink_to(REPO / ".venv")
    return root / "scripts" / "collect-this-machine.sh"


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    case = script.parent.parent / "cases" / "this-host"
    return subprocess.run(
        [str(script), str(case)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def test_script_without_a_terminal_or_identity_variables_stops_before_collecting(
    script: Path, chainproof_home: Path
) -> None:
    out = run_script(script, environ())
    assert out.returncode == 2, out
    assert "CHAINPROOF_NAME" in out.stderr and "CHAINPROOF_EMAIL" in out.stderr
    assert "Unspecified" not in out.stderr + out.stdout
    assert not (script.parent.parent / "cases").exists()
    assert list(chainproof_home.iterdir()) == []


def test_script_with_a_wrong_passphrase_keeps_the_identity(script: Path, ann: Path) -> None:
    before = ann.read_bytes()
    out = run_script(script, environ(**ANN, CHAINPROOF_PASSPHRASE="not the passphrase at all"))
    assert out.returncode == 5, out
    assert f"Using the examiner identity at {ann} (Ann Example" in out.stdout
    assert "chainproof: wrong passphrase for" in out.stderr
    assert "--force" not in out.stderr
    assert ann.read_bytes() == before
    assert not (script.parent.parent / "cases").exists()


@pytest.mark.parametrize("typed", ["/", ".", ""])
def test_a_path_that_names_no_file_has_no_certificate(typed: str) -> None:
    """A path being typed into a dialog ("/" first) names no identity file yet."""
    from app.desktop_actions import certificate_holder
    from app.identity import public_certificate

    assert public_certificate(Path(typed)) is None
    assert certificate_holder(Path(typed)) is None
