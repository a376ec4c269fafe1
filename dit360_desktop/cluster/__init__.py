"""Studio scale-out: a generation queue run on a Ray cluster, results saved by the driver's library.

``jobs``, ``events``, ``wire`` and ``errors`` are plain data and import neither Ray nor torch, so the app
can use them at start-up; ``driver`` imports Ray, and ``worker`` imports the engine only inside the Ray
worker process. See docs/cluster.md.
"""
