"""``hrnet-wb sweep``: the model zoo's whole table in one command.

``plan`` reads the sweep profile into rows (source × variant, weights matched by the names
the sources publish), ``row`` builds, evaluates and benchmarks one row, ``table`` writes the
zoo table (Markdown, CSV, JSON) and ``run`` orchestrates rows, resumably and within budget,
locally or through :mod:`workbench.engines`.
"""
