"""The 3D export task: a textured GLB mesh, a point PLY and a Gaussian-splat PLY of a panorama and its
distance map (``panorama/mesh3d.py``, ``panorama/pointcloud.py``), written into the request's work folder.
Needs no model; the Result's image is the panorama and its metadata lists what was written."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from PIL import Image

from dit360_desktop.core.tasks.base import Models
from dit360_desktop.panorama.depth_requests import EXPORT_3D_FILES, Export3DRequest
from dit360_desktop.panorama.depthmap import read_distance
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.mesh3d import write_glb
from dit360_desktop.panorama.pointcloud import write_point_ply, write_splat_ply
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.userimage import load_user_image


class Export3DTask:
    needs: ClassVar[tuple[str, ...]] = ()

    def run(
        self, models: Models, request: Export3DRequest, emit: EventCallback, cancel: CancelToken
    ) -> Result:
        image = load_user_image(request.source)
        pixels = np.asarray(image)
        height, width = pixels.shape[:2]
        if width != 2 * height:
            raise RequestError(
                "image", f"{request.source.name} is {width}×{height}; a panorama is twice as wide as high"
            )
        distance = read_distance(request.distance_exr)
        request.work_dir.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        record: dict = {"metric": request.metric, "stride": request.stride}
        for name in request.outputs:
            cancel.raise_if_cancelled()
            emit(StageEvent(Stage.PREPARING, f"writing the {name}"))
            path = request.work_dir / EXPORT_3D_FILES[name]
            if name == "glb":
                summary = write_glb(
                    path,
                    pixels,
                    distance,
                    metric=request.metric,
                    stride=request.stride,
                    max_faces=request.max_faces,
                    cut_edges=request.cut_edges,
                )
                record["mesh"] = {
                    "cells": [summary.columns, summary.rows],
                    "faces": summary.faces,
                    "cut_faces": summary.cut_faces,
                }
            elif name == "ply":
                write_point_ply(path, pixels, distance, metric=request.metric, stride=request.stride)
            else:
                write_splat_ply(path, pixels, distance, metric=request.metric, stride=request.stride)
            written[name] = str(path)
        record["files"] = written
        return Result(
            image=Image.fromarray(pixels[..., :3]), request=request.template, metadata={"export_3d": record}
        )
