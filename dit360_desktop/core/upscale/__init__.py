"""Seam-exact upscaling of panoramas: a spandrel SR model run in tiles padded around the seam and
across the poles (``tiling.py``), passes and the final size (``pipeline.py``), loading (``model.py``)."""
