"""Panorama editing in the app: the mask brush on the sphere, the edit panel, photo placement."""
