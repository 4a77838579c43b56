"""gridshield benchmarks: one module per area (``bench_<area>.py`` with a ``main()``).

Run them all with ``.venv/bin/python -m benchmarks`` or one with
``.venv/bin/python -m benchmarks.bench_pf``. Peers (pandapower, lightsim2grid, PyPSA) are
benchmark dependencies only (``pip install gridshield[bench]``).
"""
