"""The report as a reader gets it: the HTML in headless Chromium, the PDF as page images.

Chromium: a probe script injected at the top of a copy of report.html records
script errors, console.error calls and image load failures, opens a
configuration's drill-down by its link, and writes what it saw into the DOM,
which ``--dump-dom`` prints. pdftoppm (poppler-utils) renders the PDF pages.
Each test is skipped, with the reason, when its tool is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
PDFTOPPM = shutil.which("pdftoppm")

PROBE = """<script>
window.__seen = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__seen.push(t && t.tagName ? "failed to load " + t.tagName : "script error: " + e.message);
}, true);
var __consoleError = console.error;
console.error = function () { window.__seen.push("console.error: " + Array.prototype.join.call(arguments, " "));
                              __consoleError.apply(console, arguments); };
window.addEventListener("load", function () {
  var broken = [];
  Array.prototype.forEach.call(document.images, function (img, i) {
    if (!img.complete || img.naturalWidth === 0) { broken.push(i); }
  });
  var link = document.querySelector('table.configurations a[href^="#cfg-"]');
  link.click();
  setTimeout(function () {
    var target = document.getElementById(link.getAttribute("href").slice(1));
    var out = document.createElement("pre");
    out.id = "probe-result";
    out.textContent = JSON.stringify({seen: window.__seen, images: document.images.length, broken: broken,
      opened: target.open && document.getElementById("appendix-configurations").open});
    document.body.appendChild(out);
  }, 200);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_in_chromium_no_errors_every_image_loads(built: Path, tmp_path: Path) -> None:
    html = (built / "report.html").read_text(encoding="utf-8")
    page = tmp_path / "probed.html"
    page.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.S)
    assert found, f"the probe did not report; chromium stderr:\n{result.stderr[-2000:]}"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["seen"] == [] and probe["broken"] == []
    assert probe["images"] == html.count("<img ") and probe["images"] > 10
    assert probe["opened"], "clicking a configuration opens its drill-down"
    assert "Uncaught" not in result.stderr


@pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm is not installed (apt-get install poppler-utils)")
def test_pdf_pages_render_and_fit_a_quick_run(built: Path, tmp_path: Path) -> None:
    subprocess.run([PDFTOPPM, "-r", "20", "-png", str(built / "report.pdf"), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 3 <= len(pages) <= 12
    with Image.open(pages[0]) as first:
        grey = first.convert("L")
        width, height = grey.size
        lower = grey.crop((0, height // 3, width, height - height // 10))
        assert lower.getextrema()[0] < 200, "page 1 carries the answer figure below the abstract"
