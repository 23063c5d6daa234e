"""5. Evidence inventory: the artifacts summed up by kind and by place (top rows and the
rest), the symbolic links as links with their targets, what was skipped by what it is, and
the inventory files that list every artifact (their SHA-256, attached to this PDF)."""

from __future__ import annotations

from reportlab.platypus import Flowable, Paragraph

from custody.report.inventory import COLUMN_NOTES, INVENTORY_CSV, INVENTORY_JSONL
from custody.report.model import ReportModel, Tally
from custody.report.pdf.fasttable import Column, FastTable, fill_chars
from custody.report.pdf.page import (
    ANNEXES,
    INVENTORY,
    PORTRAIT_W,
    PROBLEMS,
    body,
    heading,
    subheading,
)
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table
from custody.report.pdf.text import IN_LEDGER, human_bytes, para_text

#: Rows of the tables by kind and by place at most (then one row for the rest).
KINDS_LISTED = 16
PLACES_LISTED = 25
SKIPS_LISTED = 12
SIZE = 6.4
#: What each kind of artifact is, for people.
KIND_TEXT = {
    "file": "a regular file, copied byte for byte with its metadata",
    "symlink": "a symbolic link: the link itself and the path it points to, never followed",
    "directory": "a directory entry (its files are artifacts of their own)",
    "volatile": "a record of the machine's state when collected (processes, network, ...)",
    "command": "the output of a command run on the host",
    "capture": "network packets captured during the run (pcapng, or pcap from tcpdump)",
}


def inventory(m: ReportModel, s: Styles) -> list[Flowable]:
    """The summary tables and the inventory files."""
    story = heading(s, INVENTORY, "Evidence inventory")
    inv = m.inventory
    story.append(
        body(
            s,
            f"{m.artifact_count:,} artifacts ({human_bytes(m.artifact_bytes)}) in "
            f"{len(m.runs)} run(s). This section sums them up; {INVENTORY_CSV} and "
            f"{INVENTORY_JSONL} list every one (Annex A of section {ANNEXES}).",
        )
    )
    if not m.artifact_count:
        story.append(body(s, "No artifact is recorded."))
    story += _annex_files(m, s)
    story.append(subheading(s, f"{INVENTORY}.2 By kind", "inventory-kinds"))
    story.append(_tally_table(s, "Kind", inv.by_kind, KINDS_LISTED, Tally(), kinds=True))
    if inv.changed:
        story.append(
            Paragraph(
                f"{inv.changed:,} artifacts changed while they were read (the column changed "
                "of the inventory says how; they are among the errors and skips of section "
                f"{PROBLEMS} too).",
                s.small,
            )
        )
    story.append(subheading(s, f"{INVENTORY}.3 By place", "inventory-places"))
    story.append(
        Paragraph(
            "The first two directories of each source path (the first part of the archive "
            "member for records without a source file), by number of artifacts.",
            s.small,
        )
    )
    story.append(_tally_table(s, "Place", inv.by_place, PLACES_LISTED, inv.places_over))
    story += _links(m, s)
    story += _skipped(m, s)
    story += _captures(m, s)
    return story


def _annex_files(m: ReportModel, s: Styles) -> list[Flowable]:
    story: list[Flowable] = [subheading(s, f"{INVENTORY}.1 Inventory files", "inventory-files")]
    if not m.annexes:
        story.append(body(s, "No inventory file was made with this report."))
        return story
    rows = [[a.name, f"{a.rows:,}", f"{a.size:,}", a.sha256] for a in m.annexes]
    story.append(
        grid_table(
            s,
            ["File", "Rows", "Bytes", "SHA-256"],
            rows,
            [70, 50, 66, PORTRAIT_W - 186],
            mono=(0, 3),
            lines=2,
        )
    )
    story.append(
        body(
            s,
            "Each lists every artifact, one row each in ledger order, with the same columns: "
            + "; ".join(
                f"<b>{para_text(name)}</b>: {para_text(text)}" for name, text in COLUMN_NOTES
            )
            + f". {INVENTORY_JSONL} holds each value exactly as the ledger records it; "
            f"{INVENTORY_CSV} (RFC 4180) gives the mode in octal and puts an apostrophe before "
            "a text that a spreadsheet would run as a formula. Both are attached to this PDF "
            "(any PDF reader lists them; pdfdetach -saveall custody-report.pdf saves them) and "
            "are files of the bundle, listed in SHA256SUMS; 'chainproof verify BUNDLE' makes "
            "them again from ledger.jsonl and compares every byte.",
        )
    )
    return story


def _tally_table(
    s: Styles,
    title: str,
    tallies: dict[str, Tally],
    limit: int,
    over: Tally,
    *,
    kinds: bool = False,
) -> Flowable:
    ordered = sorted(tallies.items(), key=lambda kv: (-kv[1].count, kv[0]))
    shown, rest = ordered[:limit], ordered[limit:]
    first = [Column(title, 0), Column("Artifacts", 11, "right"), Column("Bytes", 34, "right")]
    if kinds:
        first[0] = Column(title, 14)
        first.append(Column("What it is", 0))
        fill = 3
    else:
        fill = 0
    first[fill] = Column(first[fill].title, fill_chars(first, PORTRAIT_W, SIZE))
    rows = []
    for name, t in shown:
        row = [name, f"{t.count:,}", human_bytes(t.bytes)]
        if kinds:
            row.append(KIND_TEXT.get(name, "as the collector recorded it"))
        rows.append(row)
    others = Tally(
        sum(t.count for _, t in rest) + over.count, sum(t.bytes for _, t in rest) + over.bytes
    )
    if others.count:
        groups = len(rest) + (1 if over.count else 0)
        row = [f"(others: {groups:,} more)", f"{others.count:,}", human_bytes(others.bytes)]
        if kinds:
            row.append("")
        rows.append(row)
    if not rows:
        rows.append(["(none)", "0", "0 B"] + ([""] if kinds else []))
    return FastTable(first, rows, size=SIZE, max_lines=3, where=IN_LEDGER)


def _links(m: ReportModel, s: Styles) -> list[Flowable]:
    inv = m.inventory
    story: list[Flowable] = [subheading(s, f"{INVENTORY}.4 Symbolic links", "inventory-links")]
    if not inv.link_count:
        story.append(body(s, "No symbolic link was collected."))
        return story
    story.append(
        Paragraph(
            f"{inv.link_count:,} symbolic links were collected as links (the link itself, "
            "never followed); the first of them with their targets. Every link is in the "
            "inventory with its target (column link_target).",
            s.small,
        )
    )
    cols = [Column("Seq", 8, "right"), Column("Link", 0), Column("Points to", 0)]
    half = (fill_chars(cols, PORTRAIT_W, SIZE) - 2) // 2
    cols = [Column("Seq", 8, "right"), Column("Link", half), Column("Points to", half)]
    rows = [[str(x.seq), x.path, x.target + (f" ({x.note})" if x.note else "")] for x in inv.links]
    story.append(FastTable(cols, rows, size=SIZE, max_lines=4, where=IN_LEDGER))
    return story


def _skipped(m: ReportModel, s: Styles) -> list[Flowable]:
    skipped = m.inventory.not_collected
    if not skipped:
        return []
    ordered = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [[what, f"{n:,}"] for what, n in ordered[:SKIPS_LISTED]]
    rest = ordered[SKIPS_LISTED:]
    if rest:
        rows.append([f"(others: {len(rest):,} more)", f"{sum(n for _, n in rest):,}"])
    cols = [Column("What it was (from the reason)", 0), Column("Skipped", 11, "right")]
    cols[0] = Column(cols[0].title, fill_chars(cols, PORTRAIT_W, SIZE))
    return [
        subheading(s, f"{INVENTORY}.5 Not collected, by what it was", "inventory-skipped"),
        Paragraph(
            "Entries skipped by design (directories, FIFOs, sockets, devices, ...) are not "
            f"artifacts; section {PROBLEMS} gives their reasons and first examples.",
            s.small,
        ),
        FastTable(cols, rows, size=SIZE, max_lines=3, where=IN_LEDGER),
    ]


def _captures(m: ReportModel, s: Styles) -> list[Flowable]:
    inv = m.inventory
    if not inv.capture_count:
        return []
    shown = len(inv.captures)
    number = 6 if inv.not_collected else 5  # after "Not collected" when there is one
    more = f"; the first {shown} of them" if shown < inv.capture_count else ""
    story: list[Flowable] = [
        subheading(s, f"{INVENTORY}.{number} Packet captures", "inventory-captures"),
        Paragraph(
            f"{inv.capture_count:,} packet capture(s){more}: each taken beside the other "
            "collectors for a set time and hashed while it was written. Duration by the "
            "host's monotonic clock; dropped: packets the kernel could not hand over "
            "(not known for every method). 'chainproof extract' gives the file, which "
            "tcpdump -r and Wireshark read.",
            s.small,
        ),
    ]
    cols = [
        Column("Seq", 8, "right"),
        Column("Member", 0),
        Column("Interfaces, filter", 0),
        Column("Duration", 9, "right"),
        Column("Packets", 10, "right"),
        Column("Dropped", 8, "right"),
        Column("How", 10),
    ]
    half = (fill_chars(cols, PORTRAIT_W, SIZE) - 2) // 2
    cols[1] = Column("Member", half)
    cols[2] = Column("Interfaces, filter", half)
    rows = []
    for c in inv.captures:
        f = c.facts
        where = ", ".join(f.interfaces) + (f"; {f.filter}" if f.filter else "")
        took = f"{c.seconds:,.1f} s" if c.seconds is not None else "?"
        dropped = f"{f.dropped:,}" if f.dropped is not None else "not known"
        how = f.method + (f" {f.tool_version}" if f.tool_version else "")
        rows.append(
            [str(c.seq), c.member, where, took, f"{f.packets:,}", dropped, f"{how}, {f.ended}"]
        )
    story.append(FastTable(cols, rows, size=SIZE, max_lines=4, where=IN_LEDGER))
    digests = [[str(c.seq), human_bytes(c.size), c.sha256] for c in inv.captures]
    story.append(
        FastTable(
            [Column("Seq", 8, "right"), Column("Bytes", 12, "right"), Column("SHA-256", 66)],
            digests,
            size=SIZE,
            max_lines=2,
            where=IN_LEDGER,
        )
    )
    return story
