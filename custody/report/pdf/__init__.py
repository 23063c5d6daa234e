"""The custody report as a PDF: one module per group of sections, in the order a court and a
lawyer read them (:mod:`.document` puts them together), and the pieces they are drawn with.

The content comes from :class:`~custody.report.model.ReportModel`; these modules only lay it
out (reportlab platypus). The text states facts and how they can be checked; it gives no
legal advice.
"""

from custody.report.pdf.document import render_model

__all__ = ["render_model"]
