"""The bottom layer: torch-free panorama data (requests, results, events, errors), image files and
their metadata, equirect projections, and the safetensors header check. Imports nothing from the rest
of the package, so the CLI, the library and the UI can use it without loading torch."""
