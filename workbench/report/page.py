"""The report as one HTML page: no network (no CDN, no web fonts, images inline), readable
with scripts off; a few lines of inline script sort and filter the tables."""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Sequence
from html import escape
from typing import Any

from workbench.report.gather import Entry, Pair, ReportData
from workbench.report.plots import Plot
from workbench.tables import format_figure, format_percent

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1400px;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}
h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0;font-size:12.5px}th,td{border:1px solid #d0d4da;padding:.2rem .45rem;vertical-align:top}
th{background:#eef1f5;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
th[data-sort]{cursor:pointer}.note{background:#fff6dd;border-left:4px solid #e0a800;padding:.4rem .7rem;margin:.4rem 0}
.missing{background:#fdecec;border-left:4px solid #c62828;padding:.4rem .7rem;margin:.4rem 0}
pre{background:#f4f6f8;padding:.4rem .6rem;overflow-x:auto;margin:.2rem 0;font-size:12px}
.flips{display:flex;flex-wrap:wrap;gap:.6rem}.flip{border:1px solid #d0d4da;padding:.4rem;width:330px;font-size:12px}
.flip img{float:left;margin:0 .5rem .3rem 0;border:1px solid #ccc}.flip ol{margin:.1rem 0 .1rem 1.2rem;padding:0}
.right{color:#1b7f2a;font-weight:600}svg.plot{max-width:100%;height:auto;display:block}
.muted{color:#667}
"""

# Sort on a header click (numbers by data-v), filter by a text box; the page is whole without it.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(t){
 var f=document.createElement('input');f.type='search';f.placeholder='filter rows…';f.className='filter';
 f.addEventListener('input',function(){var q=f.value.toLowerCase();t.tBodies[0].querySelectorAll('tr').forEach(function(r){r.hidden=q&&r.textContent.toLowerCase().indexOf(q)<0;});});
 t.parentNode.insertBefore(f,t);
 t.querySelectorAll('th[data-sort]').forEach(function(th,i){th.title='click to sort';th.addEventListener('click',function(){
  var rows=Array.from(t.tBodies[0].rows),k=th.cellIndex,d=th.dataset.dir==='a'?-1:1;th.dataset.dir=d>0?'a':'d';
  function v(r){var c=r.cells[k],x=c.dataset.v;return x===undefined?c.textContent:(x===''?null:parseFloat(x));}
  rows.sort(function(a,b){var x=v(a),y=v(b);if(x===null)return 1;if(y===null)return -1;return (x<y?-1:x>y?1:0)*d;});
  rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});
});
"""


def _td(text: str, value: Any = "", numeric: bool = False) -> str:
    if not numeric:
        return f"<td>{escape(text)}</td>"
    v = "" if value is None or value == "" else f"{float(value):g}"
    return f'<td class="n" data-v="{v}">{escape(text)}</td>'


def _table(head: Sequence[str], rows: Sequence[str], tid: str = "", sortable: bool = True) -> str:
    ths = "".join(f'<th data-sort="1">{escape(h)}</th>' if sortable else f"<th>{escape(h)}</th>"
                  for h in head)
    attrs = (f' id="{tid}"' if tid else "") + (' class="sortable"' if sortable else "")
    return f"<table{attrs}><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _data(e: Entry) -> str:
    r = e.row
    if r.get("top1") is None:
        return "no eval"
    if not (r.data_layout or r.data_root):
        return "data not recorded"
    text = f"{r.data_layout} {r.data_root}".strip()
    if r.data_hash:
        text += f" ({r.data_hash[:12]})"
    if r.get("eval_limit"):
        text += f", --limit {r.get('eval_limit')}"
    return text


ZOO_HEAD = ("source", "variant", "recipe", "backend", "ran in", "params (M)", "GFLOPs*", "top-1 %",
            "top-5 %", "images", "data", "published top-1 %", "Δ top-1", "int8 agreement %",
            "bs1 p50 ms", "best img/s", "machine", "weights")


def zoo_table(entries: Sequence[Entry]) -> str:
    rows = []
    for e in entries:
        r = e.row
        aid = r.artifact
        recipe = f"{r.dtype}{'-' + r.calibration if r.calibration else ''} {r.input_size}" if aid else r.build
        ran = r.precision or r.eval_precision or r.dtype
        cells = [_td(r.source or "–"), _td(r.variant or "–"), _td(recipe), _td(r.backend or "–"),
                 _td(ran or "–"), _td(e.params_m or "–", e.params_m or None, True),
                 _td(e.cost or "–", e.cost or None, True),
                 _td(format_percent(r.get("top1")), r.get("top1"), True), _td(format_percent(r.get("top5")), r.get("top5"), True),
                 _td(format_figure(r.get("images"), "{:d}"), r.get("images"), True), _td(_data(e)),
                 _td(format_percent(r.get("published_top1")), r.get("published_top1"), True),
                 _td(format_percent(r.get("delta_top1"), "{:+.2f}"), r.get("delta_top1"), True),
                 _td(format_percent(e.agreement), e.agreement, True),
                 _td(format_figure(e.bs1_p50, "{:.1f}"), e.bs1_p50, True),
                 _td(format_figure(r.get("throughput"), "{:.1f}"), r.get("throughput"), True),
                 _td(r.fingerprint or "unrecorded"), _td(r.weights or "–")]
        rows.append(f'<tr data-key="{escape(r.artifact_key or r.build)}">{"".join(cells)}</tr>')
    units = sorted({e.cost_unit for e in entries if e.cost_unit})
    foot = ("<p class=muted>* GFLOPs in each source's own convention at the row's input size: "
            + escape("; ".join(units) or "none counted") + ". Accuracy in percent; "
            "'ran in' is the precision the runtime reported, not the one asked for.</p>")
    return _table(ZOO_HEAD, rows, "zoo") + foot


def _grid_rows(entries: Sequence[Entry]) -> str:
    rows = []
    for e in entries:
        for p in e.grid:
            rows.append("<tr>" + "".join([
                _td(e.label), _td(str(p["batch"]), p["batch"], True),
                _td(str(p["streams"]), p["streams"], True), _td(str(p["threads"]), p["threads"], True),
                *(_td(format_figure(p.get(k), "{:.2f}"), p.get(k), True)
                  for k in ("p50_ms", "p90_ms", "p99_ms", "throughput")),
                _td(format_figure(p.get("vs_roofline"), "{:.2f}"), p.get("vs_roofline"), True),
                _td(e.row.fingerprint or "unrecorded")]) + "</tr>")
    return _table(("build", "batch", "streams", "threads", "p50 ms", "p90 ms", "p99 ms", "img/s",
                   "×limit", "machine"), rows, "latency")


def _limit_rows(entries: Sequence[Entry]) -> str:
    rows = []
    for e in entries:
        lim = e.get("limit_img_s")
        if lim is None and e.get("vs_roofline") is None:
            continue
        bench = e.settings.get("bench", {})
        prec = bench.get("limit_precision") or e.row.precision or e.row.dtype
        rows.append("<tr>" + "".join([
            _td(e.label), _td(str(prec or "–")),
            _td(format_figure(lim, "{:.1f}"), lim, True),
            _td(format_figure(e.get("throughput"), "{:.1f}"), e.get("throughput"), True),
            _td(format_figure(e.get("vs_roofline"), "{:.2f}"), e.get("vs_roofline"), True),
            _td(e.row.fingerprint or "unrecorded")]) + "</tr>")
    if not rows:
        return "<p class=missing>No img/s limit is recorded for these rows (bench measures it per precision).</p>"
    return _table(("build", "limit precision", "limit img/s", "best img/s", "×limit", "machine"), rows, "limits")


def _name(names: dict[int, str], i: int | None) -> str:
    if i is None:
        return "unknown"
    return f"{i} {names[i].split(',')[0]}" if i in names else str(i)


def _top5(top: Sequence[int], prob: Sequence[float], gt: int | None, names: dict[int, str]) -> str:
    items = []
    for k, c in enumerate(top):
        p = f" ({prob[k]:.2f})" if k < len(prob) else ""
        cls = ' class="right"' if c == gt else ""
        items.append(f"<li{cls}>{escape(_name(names, c))}{p}</li>")
    return f"<ol>{''.join(items)}</ol>"


def flips_section(pairs: Sequence[Pair], cap: int) -> str:
    if not pairs:
        return ("<p class=missing>No int8 eval has an fp32 eval of the same model and data beside it "
                "(both results.jsonl).</p>")
    out = []
    for p in pairs:
        pv = "–" if p.mcnemar_p is None else f"{p.mcnemar_p:.3g}"
        runs = f"run {p.run_id}" if p.ref_run == p.run_id else f"runs {p.run_id} and {p.ref_run}"
        out.append(f"<h3>{runs}: {escape(p.int8)} vs {escape(p.fp32)}</h3>"
                   f"<p>{p.images} images paired, top-1 agreement {format_percent(p.agreement)} %, "
                   f"{p.flips_total} flipped, McNemar p = {pv}")
        if p.table:
            t = p.table
            out.append(f" (fp32 right / int8 wrong: {t['a_right_b_wrong']}, fp32 wrong / int8 right: "
                       f"{t['a_wrong_b_right']}, both right: {t['both_right']}, both wrong: {t['both_wrong']})")
        shown = len(p.flips)
        out.append(f". Showing {shown} of {p.flips_total} (cap {cap}).</p><div class=flips>")
        names = p.names
        for f in p.flips:
            img = (f'<img alt="{escape(f.id)}" src="data:image/jpeg;base64,{f.thumbnail}">'
                   if f.thumbnail else f"<p class=missing>{escape(f.missing)}</p>")
            out.append(f"<div class=flip>{img}<b>{escape(f.id)}</b><br>ground truth: "
                       f"{escape(_name(names, f.gt))}<br><span class=muted>fp32 top-5</span>"
                       f"{_top5(f.fp32_top5, f.fp32_prob5, f.gt, names)}<span class=muted>int8 top-5</span>"
                       f"{_top5(f.int8_top5, f.int8_prob5, f.gt, names)}</div>")
        out.append("</div>")
    return "".join(out)


def machines_section(data: ReportData) -> str:
    out = []
    for m in data.machines:
        cpu = m.cpu
        out.append(f"<h3>{escape(m.fingerprint)}</h3><p>{escape(str(cpu.get('summary') or cpu.get('model') or 'no CPU recorded'))}"
                   f"<br>ISA kind: {escape(str(cpu.get('kind', '–')))}; runs {', '.join(map(str, m.runs))}</p>")
    rows = []
    for e in data.entries:
        for stage, s in sorted(e.settings.items()):
            extra = {k: v for k, v in s.items() if k not in (
                "runtime", "version", "compute_precision", "threads", "streams", "hint", "fingerprint")}
            rows.append("<tr>" + "".join([
                _td(e.label), _td(stage), _td(f"{s.get('runtime', '')} {s.get('version', '')}".strip() or "–"),
                _td(str(s.get("compute_precision") or "–")), _td(str(s.get("threads", "–"))),
                _td(str(s.get("streams", "–"))), _td(str(s.get("hint") or "–")),
                _td(", ".join(f"{k}={v}" for k, v in sorted(extra.items())) or "–"),
                _td(e.row.fingerprint or "unrecorded")]) + "</tr>")
    out.append(_table(("build", "stage", "runtime", "ran in", "threads", "streams", "hint", "other settings",
                       "machine"), rows, "settings") if rows else
               "<p class=missing>No effective runtime settings are recorded for these rows.</p>")
    return "".join(out)


def commands_section(entries: Sequence[Entry]) -> str:
    out, shown = [], set()
    for e in entries:
        out.append(f"<h3>{escape(e.label)}</h3><pre>{escape(e.command)}</pre>")
        for rid, toml in sorted(e.profiles.items()):
            if rid not in shown:  # one copy per run; later rows name the same file
                shown.add(rid)
                out.append(f"<details><summary>run-{rid}.toml</summary><pre>{escape(toml)}</pre></details>")
    return "".join(out)


def render(data: ReportData, scatter: Sequence[Plot], latency: Sequence[Plot], *, title: str,
           selection: str, cap: int, version: str) -> str:
    """The whole page."""
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    notes = "".join(f"<p class=missing>Missing: {escape(m)}.</p>" for m in data.missing)
    if any(e.row.weights == "random-init" for e in data.entries):
        notes += ("<p class=note>Rows with random-init weights have no checkpoint: their accuracy "
                  "is near zero and says nothing about the model.</p>")
    speed_fps = sorted({e.row.fingerprint for e in data.entries if e.get("throughput") is not None})
    if len(speed_fps) > 1:
        notes += (f"<p class=note>Speed comes from {len(speed_fps)} machines; compare img/s and "
                  "latency only between rows of one machine (one plot each).</p>")

    def plots(ps: Sequence[Plot], none: str) -> str:
        return "".join(f"<figure>{p.svg}</figure>" for p in ps) or f"<p class=missing>{none}</p>"

    sections = [
        ("zoo", "1. The zoo table", zoo_table(data.entries) if data.entries else
         "<p class=missing>No rows: the store holds no figures for this selection.</p>"),
        ("scatter", "2. Accuracy vs throughput", plots(scatter, "No row has both accuracy and speed.")),
        ("latency", "3. Latency by batch and the img/s limit",
         plots(latency, "No latency grid is recorded.") + (_grid_rows(data.entries) if any(
             e.grid for e in data.entries) else "") + "<h3>×limit per precision</h3>" + _limit_rows(data.entries)),
        ("flips", "4. Where int8 and fp32 disagree", flips_section(data.pairs, cap)),
        ("machines", "5. Machines and software", machines_section(data)),
        ("commands", "6. Commands to reproduce each row", commands_section(data.entries) or
         "<p class=missing>No rows, no commands.</p>"),
    ]
    toc = " · ".join(f'<a href="#{sid}">{escape(h)}</a>' for sid, h, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{escape(h)}</h2>{html}</section>' for sid, h, html in sections)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=muted>{len(data.entries)} rows from store "
            f"{escape(data.home)} ({escape(selection)}), written {when} by hrnet-wb {escape(version)} "
            f"on Python {platform.python_version()}.</p>{notes}<nav>{toc}</nav>{body}"
            f"<script>{SCRIPT}</script></body></html>")
