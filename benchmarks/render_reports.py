"""Render every report of configs/ as GitHub shows it: headless Chromium, mermaid 11, a 1,012 px column.

    apt-get install chromium          # Debian's package
    python benchmarks/render_reports.py [--screenshots DIR] [--keep DIR]

mermaid comes from the npm registry (``npm install mermaid@11`` into .cache/render/, once). For each spec
in configs/ (and one report of four nets together) the script writes the report with `convcost report`
(the defaults: the same size check as users get), turns its markdown into HTML (markdown-it, GitHub's
1,012 px column), renders every mermaid block in Chromium, and reads back what each block became: an SVG
or an error, and its size. It fails (exit 1) when a block does not render, a report is over 65,536
characters, or a diagram is taller than --max-height px. Chromium runs with --headless --no-sandbox
--disable-gpu, no network features and an empty profile. Nothing here runs in the normal test suite
(tests/test_report.py checks the size limit there); this is the real-browser check.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from markdown_it import MarkdownIt  # noqa: E402  (rich's dependency)

from convcost.api import analyze_file  # noqa: E402
from convcost.render.report import PR_COMMENT_LIMIT, ReportOptions, fitted_report  # noqa: E402

COLUMN_PX = 1012  # GitHub's markdown column at a desktop width
CACHE = ROOT / ".cache" / "render"
MERMAID = CACHE / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=30000",
    "--run-all-compositor-stages-before-draw",
]
GROUPS = {"four_nets": ["resnet50.yaml", "resnet18.yaml", "mobilenet_v2.yaml", "googlenet.yaml"]}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ margin: 0; font: 16px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }}
.markdown-body {{ box-sizing: border-box; width: {width}px; padding: 32px; }}
table {{ border-collapse: collapse; display: block; max-width: 100%; overflow: auto; }}
td, th {{ border: 1px solid #d0d7de; padding: 6px 13px; }}
pre.mermaid {{ background: none; }}
</style>
<script src="{mermaid}"></script></head><body><article class="markdown-body">{body}</article>
<pre id="convcost-result">pending</pre>
<script>
mermaid.initialize({{ startOnLoad: false, securityLevel: "strict" }});
(async () => {{
  const out = [];
  for (const [k, el] of [...document.querySelectorAll("pre.mermaid")].entries()) {{
    const text = el.textContent;
    try {{
      const {{ svg }} = await mermaid.render("d" + k, text);
      el.innerHTML = svg;
      const box = el.querySelector("svg").getBoundingClientRect();
      out.push({{ index: k, kind: text.trim().split(/\\s/)[0], ok: true, width: Math.round(box.width),
                  height: Math.round(box.height) }});
    }} catch (e) {{
      out.push({{ index: k, kind: text.trim().split(/\\s/)[0], ok: false, error: String(e && e.message || e) }});
    }}
  }}
  const page = document.querySelector(".markdown-body").getBoundingClientRect();
  document.getElementById("convcost-result").textContent = JSON.stringify({{ diagrams: out,
      page_height: Math.round(page.height) }});
}})();
</script></body></html>
"""


def ensure_mermaid() -> Path:
    if not MERMAID.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), "mermaid@11"], check=True)
    return MERMAID


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install chromium")


def to_html(markdown: str, title: str) -> str:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    default = md.renderer.rules.get("fence")

    def fence(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]
        token = tokens[idx]
        if token.info.strip() == "mermaid":
            return f'<pre class="mermaid">{html.escape(token.content)}</pre>\n'
        return default(tokens, idx, options, env)  # type: ignore[misc]

    md.add_render_rule("fence", fence)
    return PAGE.format(title=html.escape(title), width=COLUMN_PX, mermaid=MERMAID.as_uri(), body=md.render(markdown))


def render(browser: str, page: Path, screenshot: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={COLUMN_PX + 40},1200"]
        run = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    if screenshot is not None:  # the whole page: as tall as the rendered article
        m = re.search(r'"page_height":\s*(\d+)', html.unescape(run.stdout))
        height = min(int(m.group(1)) + 100, 16_000) if m else 1200
        with tempfile.TemporaryDirectory() as profile:
            flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={COLUMN_PX + 40},{height}"]
            subprocess.run([browser, *flags, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=180)
    m = re.search(r'<pre id="convcost-result">(.*?)</pre>', run.stdout, re.S)
    if not m:
        raise RuntimeError(f"Chromium gave no result for {page.name} (exit {run.returncode}): {run.stderr[-2000:]}")
    text = html.unescape(m.group(1))
    if text == "pending":
        raise RuntimeError(f"mermaid did not finish within the time budget for {page.name}")
    return json.loads(text)


def reports() -> list[tuple[str, str]]:
    os.chdir(ROOT)
    out = []
    for spec in sorted((ROOT / "configs").glob("*.yaml")):
        text, _ = fitted_report(analyze_file(f"configs/{spec.name}"), ReportOptions())
        out.append((spec.stem, text))
    for name, specs in GROUPS.items():
        analyses = [a for s in specs for a in analyze_file(f"configs/{s}")]
        out.append((name, fitted_report(analyses, ReportOptions())[0]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", type=Path, help="also save a PNG of each page here")
    parser.add_argument("--keep", type=Path, help="keep the HTML pages here")
    parser.add_argument("--max-height", type=int, default=1600, help="tallest diagram allowed, in px (default 1600)")
    parser.add_argument("only", nargs="*", help="only these reports (config stems, or four_nets)")
    args = parser.parse_args()
    ensure_mermaid()
    browser = chromium()
    pages = args.keep or Path(tempfile.mkdtemp(prefix="convcost-render-"))
    pages.mkdir(parents=True, exist_ok=True)
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    failures = 0
    print(f"{'report':<32} {'chars':>7} {'diagrams':>8} {'widest':>7} {'tallest':>8} {'page':>7}  result")
    for name, text in reports():
        if args.only and name not in args.only:
            continue
        page = pages / f"{name}.html"
        page.write_text(to_html(text, name), encoding="utf-8")
        shot = args.screenshots / f"{name}.png" if args.screenshots else None
        result = render(browser, page, shot)
        diagrams = result["diagrams"]
        bad = [d for d in diagrams if not d["ok"]]
        widest = max((d["width"] for d in diagrams if d["ok"]), default=0)
        tallest = max((d["height"] for d in diagrams if d["ok"]), default=0)
        problems = [f"{d['kind']} #{d['index']}: {d['error']}" for d in bad]
        if len(text) > PR_COMMENT_LIMIT:
            problems.append(f"{len(text):,} characters > {PR_COMMENT_LIMIT:,}")
        if tallest > args.max_height:
            problems.append(f"a diagram {tallest} px tall > {args.max_height}")
        failures += bool(problems)
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        page_px = result["page_height"]
        print(f"{name:<32} {len(text):>7,} {len(diagrams):>8} {widest:>5}px {tallest:>6}px {page_px:>5}px  {status}")
    print(f"{failures} reports failed" if failures else "every report renders")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
