"""Files attached to the report (PDF embedded files), streamed from disk.

Each file becomes an ``/EmbeddedFile`` stream (Flate-compressed) named in the document's
``/EmbeddedFiles`` name tree, so any PDF reader lists it (``pdfdetach -list``) and saves it
(``pdfdetach -saveall``) byte for byte. They are added in the same incremental update as
the examiner's signature, before it is computed: the signature covers them like every other
byte of the file.

A file is compressed into an anonymous temporary file first (its compressed length must
precede its bytes) and copied into the PDF as the PDF is written, so neither the file nor
its compressed form is ever whole in memory.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, FileSpec, embed_file
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from custody.report.inventory import AnnexFile

_CHUNK = 1 << 20


class _StreamedFile(EmbeddedFileObject):
    """An embedded file stream whose Flate-compressed bytes are copied from a file as the
    PDF is written."""

    def __init__(
        self,
        writer: BasePdfFileWriter,
        compressed: IO[bytes],
        length: int,
        size: int,
        mime: str,
        when: dt.datetime | None,
    ) -> None:
        super().__init__(writer, encoded_data=b"", mime_type=mime)
        self._compressed = compressed
        self._length = length
        self[generic.NameObject("/Filter")] = generic.NameObject("/FlateDecode")
        params = generic.DictionaryObject(  # type: ignore[no-untyped-call]
            {generic.NameObject("/Size"): generic.NumberObject(size)}  # type: ignore[no-untyped-call]
        )
        if when is not None:
            params[generic.NameObject("/ModDate")] = generic.pdf_date(when)
        self[generic.NameObject("/Params")] = params

    def write_to_stream(self, stream: Any, handler: Any = None, container_ref: Any = None) -> None:
        self[generic.NameObject("/Length")] = generic.NumberObject(  # type: ignore[no-untyped-call]
            self._length
        )
        generic.DictionaryObject.write_to_stream(self, stream, handler, container_ref)
        del self["/Length"]
        stream.write(b"\nstream\n")
        self._compressed.seek(0)
        while chunk := self._compressed.read(_CHUNK):
            stream.write(chunk)
        stream.write(b"\nendstream")


def _compress(path: Path, into: IO[bytes]) -> int:
    """Flate-compress the file at ``path`` into ``into``; the compressed length."""
    z = zlib.compressobj(6)
    length = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            out = z.compress(chunk)
            into.write(out)
            length += len(out)
    out = z.flush()
    into.write(out)
    return length + len(out)


@contextmanager
def attached(
    writer: BasePdfFileWriter,
    files: Sequence[AnnexFile],
    *,
    when: dt.datetime | None = None,
    scratch: Path | None = None,
) -> Iterator[None]:
    """Add ``files`` to ``writer`` as embedded files; keep the context open until the PDF has
    been written (the compressed copies live in anonymous temporary files in ``scratch``,
    the system's temporary directory by default, until then)."""
    with ExitStack() as stack:
        for f in sorted(files, key=lambda f: f.name):  # a name tree is sorted by name
            tmp = stack.enter_context(tempfile.TemporaryFile(dir=scratch))
            length = _compress(f.path, tmp)
            stream = _StreamedFile(writer, tmp, length, f.size, f.mime, when)
            embed_file(
                writer,
                FileSpec(
                    file_spec_string=f.name,
                    file_name=f.name,
                    embedded_data=stream,
                    description=f"{f.description}; {f.rows:,} rows; SHA-256 {f.sha256}",
                ),
            )
        yield
