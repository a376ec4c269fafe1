"""The XMP packet: Google's GPano properties that mark a file as a 360° panorama, plus our metadata.

Written as attributes of one rdf:Description, the form Google's own cameras use; read back in both the
attribute and the element form, since other tools write either.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

__all__ = ["DIT360_NS", "GPANO_NS", "MAX_XMP_BYTES", "gpano_xmp", "metadata_xmp", "parse_xmp"]

GPANO_NS = "http://ns.google.com/photos/1.0/panorama/"
# Our own namespace for the metadata JSON inside XMP (JPEG has no other place for arbitrary text).
DIT360_NS = "urn:x-dit360-desktop:metadata:1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X_NS = "adobe:ns:meta/"
# Larger packets are refused on reading: ours are a few kilobytes, and expat should not chew on gigabytes.
MAX_XMP_BYTES = 8 * 1024 * 1024


def gpano_xmp(
    width: int,
    height: int,
    *,
    pose_heading_degrees: float | None = None,
    initial_view_heading_degrees: float | None = None,
    initial_view_pitch_degrees: float | None = None,
    initial_horizontal_fov_degrees: float | None = None,
    metadata_json: str | None = None,
) -> str:
    """Return an XMP packet that marks a ``width``×``height`` image as a full equirectangular panorama.

    Field types follow Google's Photo Sphere XMP reference
    (developers.google.com/streetview/spherical-metadata): the pixel fields and the initial view
    heading/pitch are integers, pose heading and FOV are reals.
    ``metadata_json`` adds our own metadata as a property in our namespace (used for JPEG).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"panorama size must be positive (got {width}×{height})")
    meta, desc = _skeleton()
    fields: list[tuple[str, str]] = [
        ("ProjectionType", "equirectangular"),
        ("UsePanoramaViewer", "True"),
        ("FullPanoWidthPixels", str(int(width))),
        ("FullPanoHeightPixels", str(int(height))),
        ("CroppedAreaImageWidthPixels", str(int(width))),
        ("CroppedAreaImageHeightPixels", str(int(height))),
        ("CroppedAreaLeftPixels", "0"),
        ("CroppedAreaTopPixels", "0"),
    ]
    if pose_heading_degrees is not None:
        fields.append(("PoseHeadingDegrees", _real(pose_heading_degrees % 360.0)))
    if initial_view_heading_degrees is not None:
        fields.append(("InitialViewHeadingDegrees", str(round(initial_view_heading_degrees) % 360)))
    if initial_view_pitch_degrees is not None:
        pitch = max(-90, min(90, round(initial_view_pitch_degrees)))
        fields.append(("InitialViewPitchDegrees", str(pitch)))
    if initial_horizontal_fov_degrees is not None:
        fields.append(("InitialHorizontalFOVDegrees", _real(initial_horizontal_fov_degrees)))
    for name, value in fields:
        desc.set(f"{{{GPANO_NS}}}{name}", value)
    if metadata_json is not None:
        ET.SubElement(desc, f"{{{DIT360_NS}}}metadata").text = metadata_json
    return _xmp_packet(meta)


def metadata_xmp(metadata_json: str) -> str:
    """An XMP packet that carries only our metadata JSON (a JPEG saved without the GPano marker)."""
    meta, desc = _skeleton()
    ET.SubElement(desc, f"{{{DIT360_NS}}}metadata").text = metadata_json
    return _xmp_packet(meta)


def _skeleton() -> tuple[ET.Element, ET.Element]:
    # register_namespace makes the output use the conventional prefixes (x:, rdf:, GPano:), which some
    # naive readers match literally.
    for prefix, uri in (("x", X_NS), ("rdf", RDF_NS), ("GPano", GPANO_NS), ("dit360", DIT360_NS)):
        ET.register_namespace(prefix, uri)
    meta = ET.Element(f"{{{X_NS}}}xmpmeta")
    rdf = ET.SubElement(meta, f"{{{RDF_NS}}}RDF")
    desc = ET.SubElement(rdf, f"{{{RDF_NS}}}Description", {f"{{{RDF_NS}}}about": ""})
    return meta, desc


def _xmp_packet(meta: ET.Element) -> str:
    body = ET.tostring(meta, encoding="unicode")
    # The xpacket wrapper lets XMP scanners find the packet in any file (XMP spec part 1, 7.3).
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>'


def _real(value: float) -> str:
    return f"{float(value):.6g}"


def parse_xmp(xmp: str | bytes) -> tuple[dict[str, str], str | None]:
    """Return the GPano properties and our metadata JSON from an XMP packet (attribute or element form)."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if len(xmp) > MAX_XMP_BYTES:
        raise ValueError("the XMP packet is implausibly large")
    # Some writers pad with NULs or trailing junk after the packet; keep the xmpmeta element only.
    xmp = xmp.rstrip(b"\x00 \t\r\n")
    start = xmp.find(b"<x:xmpmeta")
    end = xmp.rfind(b"</x:xmpmeta>")
    if start >= 0 and end > start:
        xmp = xmp[start : end + len(b"</x:xmpmeta>")]
    root = ET.fromstring(xmp)
    gpano: dict[str, str] = {}
    ours: str | None = None
    prefix = f"{{{GPANO_NS}}}"
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        for key, value in desc.attrib.items():
            if key.startswith(prefix):
                gpano[key[len(prefix) :]] = value
        for child in desc:
            if child.tag.startswith(prefix):
                gpano[child.tag[len(prefix) :]] = (child.text or "").strip()
            elif child.tag == f"{{{DIT360_NS}}}metadata":
                ours = child.text or ""
    return gpano, ours
