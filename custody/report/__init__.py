"""The signed PDF custody report and the CASE/UCO document."""
