"""The engine: plan a run into blocks, simulate and reduce each block, fold the statistics.

Results depend only on the plan (scenario, seed, sims, sampler, block size); the executors
(``execute`` on Dask, ``inprocess`` in this process) run the same blocks and the same fold.
"""
