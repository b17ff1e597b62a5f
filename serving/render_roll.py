"""PNG: a piano roll drawn with Pillow (time on x, pitch on y, a colour per track, drums in a lane below)."""

from __future__ import annotations

import io
import math

from serving.render_read import Piece, PieceMeta, read_piece

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
BACKGROUND = (255, 255, 255)


def track_colours(n: int) -> list[tuple[int, int, int]]:
    """The colour of each of ``n`` tracks (in the order of the tracks that have notes), as the PNG draws them."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def render_png(midi: bytes, meta: PieceMeta | None = None, piece: Piece | None = None, *,
               max_width: int = 1600) -> bytes:
    """A piano roll: x = time (bar lines), y = pitch, a colour per track; drums in a lane below."""
    from PIL import Image, ImageDraw, ImageFont

    piece = piece or read_piece(midi, meta)
    tracks = [t for t in piece.tracks if t.notes]
    colours = track_colours(len(tracks))
    tpq = piece.tpq
    bar_ticks = tpq * 4 * piece.numerator / piece.denominator
    n_bars = max(1, math.ceil(piece.end_tick / bar_ticks)) if piece.end_tick else 1
    total = n_bars * bar_ticks
    pitched = sorted({n[2] for t in tracks if t.program >= 0 for n in t.notes})
    drum_rows = sorted({n[2] for t in tracks if t.program < 0 for n in t.notes})
    lo, hi = (pitched[0] - 2, pitched[-1] + 2) if pitched else (58, 70)
    n_rows = hi - lo + 1
    row = max(2, min(8, 360 // n_rows))
    drow = 5 if drum_rows else 0
    legend_h, left, right = 18, 36, 8
    width = int(min(max_width, max(480, 24 * total / tpq)) + left + right)
    plot_w = width - left - right
    pitched_h = n_rows * row
    gap = 6 if drum_rows else 0
    height = legend_h + pitched_h + gap + drow * len(drum_rows) + 4
    img = Image.new("RGB", (width, height), BACKGROUND)
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    top = legend_h

    def x_of(tick: float) -> float:
        return left + plot_w * tick / total

    for p in range(lo, hi + 1):  # black-key rows shaded, C rows labelled
        y = top + (hi - p) * row
        if p % 12 in (1, 3, 6, 8, 10):
            d.rectangle([left, y, left + plot_w, y + row - 1], fill=(244, 244, 246))
        if p % 12 == 0 and row * 12 >= 24:
            d.text((2, y - 4), f"C{p // 12 - 1}", fill=(120, 120, 120), font=font)
    drum_top = top + pitched_h + gap
    if drum_rows:
        d.rectangle([left, drum_top, left + plot_w, drum_top + drow * len(drum_rows) - 1], fill=(240, 240, 240))
    beat_ticks = tpq * 4 / piece.denominator
    n_beats = int(round(total / beat_ticks))
    for bt in range(n_beats + 1):
        x = x_of(bt * beat_ticks)
        is_bar = bt % piece.numerator == 0
        d.line([x, top, x, height - 4], fill=(150, 150, 150) if is_bar else (225, 225, 225), width=1)
    drum_index = {p: i for i, p in enumerate(drum_rows)}
    for t, colour in zip(tracks, colours):
        for start, dur, pitch, vel in t.notes:
            x0 = x_of(start)
            if t.program < 0:
                y0 = drum_top + drum_index[pitch] * drow
                d.rectangle([x0, y0, max(x0 + 1, x_of(start + min(dur, tpq / 4)) - 1), y0 + drow - 2], fill=colour)
            else:
                y0 = top + (hi - pitch) * row
                x1 = max(x0 + 1, x_of(start + dur) - 1)
                d.rectangle([x0, y0, x1, y0 + row - 1], fill=colour, outline=tuple(int(c * 0.6) for c in colour))
    x = left
    for t, colour in zip(tracks, colours):  # legend
        d.rectangle([x, 5, x + 9, 14], fill=colour)
        label = t.name[:28]
        d.text((x + 13, 4), label, fill=(40, 40, 40), font=font)
        x += 13 + int(d.textlength(label, font=font)) + 14
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- render
