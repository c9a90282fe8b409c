"""Regenerate the bundled demo dataset in ``assets/`` (ImageNet val layout).

Eight images are drawn here, procedurally, by this project. Five are public-domain / CC0
sample photos that ship inside the scikit-image wheel on PyPI (see assets/README.md);
pass ``--skimage-data`` pointing at an unpacked ``skimage/data`` folder to include them.

    python assets/make_assets.py --skimage-data /tmp/skimage/data
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

W, H = 500, 375


def _canvas(color=(235, 235, 230)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (W, H), color)
    return img, ImageDraw.Draw(img)


def crossword(rng: random.Random) -> Image.Image:
    img, d = _canvas((250, 250, 245))
    n, cell = 13, 25
    x0, y0 = (W - n * cell) // 2, (H - n * cell) // 2
    for i in range(n):
        for j in range(n):
            black = rng.random() < 0.18 and (i + j) % 2 == 0
            box = [x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell, y0 + (i + 1) * cell]
            d.rectangle(box, fill=(15, 15, 15) if black else (255, 255, 255), outline=(20, 20, 20))
            if not black and rng.random() < 0.2:
                d.text((box[0] + 2, box[1] + 1), str(rng.randint(1, 60)), fill=(30, 30, 30))
    return img


def maze(rng: random.Random) -> Image.Image:
    img, d = _canvas((245, 240, 225))
    cols, rows, cell = 22, 16, 20
    x0, y0 = (W - cols * cell) // 2, (H - rows * cell) // 2
    seen = {(0, 0)}
    stack = [(0, 0)]
    walls = {(c, r, s) for c in range(cols) for r in range(rows) for s in "NESW"}
    while stack:
        c, r = stack[-1]
        nbrs = [(c + dc, r + dr, s, o) for dc, dr, s, o in ((0, -1, "N", "S"), (1, 0, "E", "W"), (0, 1, "S", "N"), (-1, 0, "W", "E"))
                if 0 <= c + dc < cols and 0 <= r + dr < rows and (c + dc, r + dr) not in seen]
        if not nbrs:
            stack.pop()
            continue
        nc, nr, s, o = rng.choice(nbrs)
        walls.discard((c, r, s))
        walls.discard((nc, nr, o))
        seen.add((nc, nr))
        stack.append((nc, nr))
    for c, r, s in walls:
        x, y = x0 + c * cell, y0 + r * cell
        seg = {"N": (x, y, x + cell, y), "S": (x, y + cell, x + cell, y + cell),
               "W": (x, y, x, y + cell), "E": (x + cell, y, x + cell, y + cell)}[s]
        d.line(seg, fill=(40, 30, 20), width=3)
    return img


def honeycomb(rng: random.Random) -> Image.Image:
    img, d = _canvas((120, 80, 10))
    r = 22
    for row in range(-1, H // int(r * 1.5) + 2):
        for col in range(-1, W // int(r * math.sqrt(3)) + 2):
            cx = col * r * math.sqrt(3) + (row % 2) * r * math.sqrt(3) / 2
            cy = row * r * 1.5
            pts = [(cx + (r - 3) * math.cos(math.radians(60 * k + 30)), cy + (r - 3) * math.sin(math.radians(60 * k + 30))) for k in range(6)]
            shade = rng.randint(170, 235)
            d.polygon(pts, fill=(shade, int(shade * 0.72), 20), outline=(90, 55, 5))
    return img.filter(ImageFilter.GaussianBlur(0.8))


_SEGS = {"0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc", "5": "afgcd",
         "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcdfg"}


def digital_clock(rng: random.Random) -> Image.Image:
    img, d = _canvas((30, 30, 35))
    d.rounded_rectangle([40, 90, 460, 285], radius=18, fill=(10, 10, 12), outline=(90, 90, 95), width=4)
    text = f"{rng.randint(10, 12)}:{rng.randint(10, 59)}"
    x = 70
    for ch in text:
        if ch == ":":
            d.ellipse([x + 5, 150, x + 17, 162], fill=(255, 40, 30))
            d.ellipse([x + 5, 210, x + 17, 222], fill=(255, 40, 30))
            x += 30
            continue
        w, h, t = 70, 130, 12
        y = 120
        seg = {"a": [x + t, y, x + w - t, y + t], "b": [x + w - t, y + t, x + w, y + h // 2],
               "c": [x + w - t, y + h // 2, x + w, y + h - t], "d": [x + t, y + h - t, x + w - t, y + h],
               "e": [x, y + h // 2, x + t, y + h - t], "f": [x, y + t, x + t, y + h // 2],
               "g": [x + t, y + h // 2 - t // 2, x + w - t, y + h // 2 + t // 2]}
        for s in _SEGS[ch]:
            d.rectangle(seg[s], fill=(255, 40, 30))
        x += w + 22
    return img


def traffic_light(rng: random.Random) -> Image.Image:
    img, d = _canvas((140, 180, 225))
    d.rectangle([0, 300, W, H], fill=(90, 90, 85))
    d.rectangle([240, 230, 258, H], fill=(60, 60, 60))
    d.rounded_rectangle([205, 25, 295, 240], radius=12, fill=(25, 25, 25))
    lit = rng.randint(0, 2)
    for k, col in enumerate([(230, 30, 20), (240, 180, 10), (30, 200, 60)]):
        c = col if k == lit else tuple(v // 4 for v in col)
        d.ellipse([222, 38 + k * 66, 278, 94 + k * 66], fill=c)
    return img


def spider_web(rng: random.Random) -> Image.Image:
    img, d = _canvas((25, 35, 30))
    cx, cy = W // 2 + rng.randint(-20, 20), H // 2
    spokes = 16
    angles = [2 * math.pi * k / spokes + rng.uniform(-0.05, 0.05) for k in range(spokes)]
    for a in angles:
        d.line([cx, cy, cx + 400 * math.cos(a), cy + 400 * math.sin(a)], fill=(220, 220, 215), width=1)
    for ring in range(1, 22):
        rad = ring * 11
        pts = [(cx + rad * math.cos(a), cy + rad * math.sin(a)) for a in angles]
        d.line(pts + [pts[0]], fill=(200, 200, 195), width=1)
    return img.filter(ImageFilter.GaussianBlur(0.5))


def pinwheel(rng: random.Random) -> Image.Image:
    img, d = _canvas((170, 210, 240))
    d.rectangle([245, 190, 255, H], fill=(120, 90, 60))
    cx, cy, r = 250, 180, 130
    colors = [(230, 40, 60), (250, 200, 30), (40, 160, 230), (60, 190, 80)]
    for k in range(4):
        a = math.radians(90 * k + rng.uniform(0, 10))
        tip = (cx + r * math.cos(a), cy + r * math.sin(a))
        side = (cx + r * 0.7 * math.cos(a + math.radians(60)), cy + r * 0.7 * math.sin(a + math.radians(60)))
        d.polygon([(cx, cy), tip, side], fill=colors[k], outline=(40, 40, 40))
    d.ellipse([cx - 8, cy - 8, cx + 8, cy + 8], fill=(240, 240, 240))
    return img


def envelope(rng: random.Random) -> Image.Image:
    img, d = _canvas((90, 110, 120))
    box = [60, 70, 440, 305]
    d.rectangle(box, fill=(245, 240, 225), outline=(150, 140, 120), width=2)
    d.line([box[0], box[1], 250, 200, box[2], box[1]], fill=(150, 140, 120), width=3)
    d.rectangle([370, 85, 420, 140], fill=(200, 60, 60), outline=(120, 30, 30))
    for k in range(3):
        d.line([150, 225 + k * 18, 330 - k * 25, 225 + k * 18], fill=(40, 40, 80), width=3)
    return img


DRAWN = [("crossword", crossword, 918), ("maze", maze, 646), ("honeycomb", honeycomb, 599),
         ("digital_clock", digital_clock, 530), ("traffic_light", traffic_light, 920),
         ("spider_web", spider_web, 815), ("pinwheel", pinwheel, 723), ("envelope", envelope, 549)]
# scikit-image sample file -> ImageNet class index (licences in assets/README.md)
PHOTOS = [("chelsea.png", 281), ("coffee.png", 967), ("rocket.jpg", 657),
          ("clock_motion.png", 409), ("camera.png", 759)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).parent))
    ap.add_argument("--skimage-data", default="", help="unpacked skimage/data folder")
    args = ap.parse_args()
    out = Path(args.out)
    (out / "val").mkdir(parents=True, exist_ok=True)
    rng = random.Random(2026)
    items: list[tuple[Image.Image, int, str]] = [(fn(rng), idx, name) for name, fn, idx in DRAWN]
    if args.skimage_data:
        for fname, idx in PHOTOS:
            im = Image.open(Path(args.skimage_data) / fname)
            im = im.convert("L" if im.mode in ("L", "I;16") else "RGB")
            im.thumbnail((W, W))
            items.append((im, idx, fname))
    lines, credits = [], []
    for k, (im, idx, origin) in enumerate(items, start=1):
        name = f"ILSVRC2012_val_{k:08d}.JPEG"
        im.save(out / "val" / name, quality=90)
        lines.append(f"{name} {idx}")
        credits.append(f"{name}\t{idx}\t{origin}")
    (out / "val_label.txt").write_text("\n".join(lines) + "\n")
    (out / "SOURCES.tsv").write_text("file\tclass_index\torigin\n" + "\n".join(credits) + "\n")


if __name__ == "__main__":
    main()
