"""SVG: the MusicXML engraved by verovio, every page stacked into one SVG document."""

from __future__ import annotations

import os
import re
import threading

from serving.render_read import Piece, PieceMeta, RenderError
from serving.render_score import render_musicxml

SVG_PAGE_HEIGHT = 29700  # verovio units (A4 width 2100 = 840 px at scale 40): about 12000 px a page
_verovio = threading.local()
_SVG_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)px"[^>]*?\bheight="([\d.]+)px"')


def _toolkit():
    tk = getattr(_verovio, "tk", None)
    if tk is None:
        import verovio

        verovio.enableLog(verovio.LOG_OFF)
        tk = verovio.toolkit()
        # Only the thread that imported verovio finds its fonts by default; every other thread's toolkit
        # looks in the wheel's build-time path and cannot load any MusicXML. Point each one at the package.
        tk.setResourcePath(os.path.join(os.path.dirname(verovio.__file__), "data"))
        _verovio.tk = tk
    return tk


def render_svg(midi: bytes, meta: PieceMeta | None = None, piece: Piece | None = None,
               musicxml: bytes | None = None) -> bytes:
    """The score engraved by verovio: one SVG document (pages stacked top to bottom)."""
    xml = musicxml if musicxml is not None else render_musicxml(midi, meta, piece)
    tk = _toolkit()
    tk.resetOptions()
    tk.setOptions({"pageWidth": 2100, "pageHeight": SVG_PAGE_HEIGHT, "adjustPageHeight": True, "scale": 40,
                   "pageMarginTop": 50, "pageMarginBottom": 50, "pageMarginLeft": 50, "pageMarginRight": 50,
                   "breaks": "auto", "footer": "none", "header": "auto", "svgViewBox": False})
    if not tk.loadData(xml.decode("utf-8") if isinstance(xml, bytes) else xml):
        raise RenderError("verovio could not read the MusicXML")
    pages = [tk.renderToSVG(p) for p in range(1, tk.getPageCount() + 1)]
    if not pages:
        raise RenderError("verovio rendered no page")
    if len(pages) == 1:
        return pages[0].encode("utf-8")
    body, width, y = [], 0.0, 0.0
    for svg in pages:
        svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg)
        m = _SVG_SIZE.search(svg)
        w, h = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
        body.append(svg.replace("<svg", f'<svg x="0" y="{y:g}"', 1))
        width, y = max(width, w), y + h
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
            f'width="{width:g}px" height="{y:g}px">' + "".join(body) + "</svg>").encode("utf-8")
