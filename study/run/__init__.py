"""Running: cells, executors (local, Ray, Slurm), shipping, the run folder and the cost model.
"""
