"""Depth & 3D in the app: a panorama's distance map as a job on the generation worker, shown on the sphere in
false colour, and the 3D and stereo exports (docs/depth-3d.md, "In the app")."""
