"""Sending the queue to a Ray cluster from the window (``ClusterFeature``)."""
