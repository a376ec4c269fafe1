"""Seam-exact depth of panoramas: perspective views over the sphere (``views.py``), a depth source per view
(``model.py``: Depth Anything V2 through transformers), alignment and blending on the sphere (``merge.py``,
``estimate.py``)."""
