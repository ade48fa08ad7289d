"""How numbers are shown: the one place the table, the diagram and the
diagnostics format counts and bytes."""

from __future__ import annotations


def si(v: int | float, unit: str = "") -> str:
    """Three significant digits with a decimal prefix, as tables in papers do.

    >>> si(1504878688), si(6998552), si(28_000_000, "B"), si(999)
    ('1.50G', '7.00M', '28.0MB', '999')
    """
    for prefix, scale in (("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6),
                          ("K", 10**3)):
        if v >= scale * 0.9995:
            x = v / scale
            digits = 2 if x < 9.995 else 1 if x < 99.95 else 0
            return f"{x:.{digits}f}{prefix}{unit}"
    return f"{v}{unit}"
